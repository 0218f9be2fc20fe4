//! The researcher's own data: upstream credentials with evidence files, personal API tokens, the JSON
//! download, closing the account; administrators disabling accounts.

use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Page, TestApp, new_client};

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

fn credential_form(kind: &str, expires: &str, file: Option<(&str, Vec<u8>)>) -> Form {
    let mut form = Form::new()
        .text("kind", kind.to_owned())
        .text("issuer", "PhysioNet")
        .text("identifier", "PN-12345")
        .text("issued_on", "2025-01-15")
        .text("expires_on", expires.to_owned());
    if let Some((name, bytes)) = file {
        form = form.part("evidence", Part::bytes(bytes).file_name(name.to_owned()));
    }
    form
}

async fn add_credential(app: &TestApp, client: &Client, form: Form) -> reqwest::Response {
    client
        .post(app.url("/account/credentials"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, client: &Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    Page::new(&response.text().await.unwrap())
}

#[tokio::test]
async fn credentials_with_evidence_are_seen_by_their_owner_and_admins_only() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    app.add_user("otto@example.org", "Otto Other").await;
    app.add_admin("ada@example.org").await;
    let rhea = app.signed_in("rhea@example.org").await;

    let added = add_credential(
        &app,
        &rhea,
        credential_form(
            "PhysioNet credentialed user",
            "2027-01-15",
            Some(("my cert (1).pdf", PDF.to_vec())),
        ),
    )
    .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let account = page(&app, &rhea, "/account").await;
    assert!(
        account
            .text("#credential-list")
            .contains("PhysioNet credentialed user")
    );
    let href = account.attrs("#credential-list a", "href").remove(0);

    let download = rhea.get(app.url(&href)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"my_cert__1.pdf\""
    );
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert!(
        download.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);

    let admin = app.signed_in("ada@example.org").await;
    assert_eq!(
        admin.get(app.url(&href)).send().await.unwrap().status(),
        StatusCode::OK
    );
    let other = app.signed_in("otto@example.org").await;
    assert_eq!(
        other.get(app.url(&href)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&href).await.status(),
        StatusCode::SEE_OTHER,
        "visitors are sent to sign in"
    );
    // Nobody else can remove it either.
    let id = href.split('/').nth(2).unwrap();
    let removed = other
        .post(app.url(&format!("/account/credentials/{id}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NOT_FOUND);
    let removed = rhea
        .post(app.url(&format!("/account/credentials/{id}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        rhea.get(app.url(&href)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn evidence_must_really_be_a_pdf_png_or_jpeg_of_bounded_size() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let rhea = app.signed_in("rhea@example.org").await;

    let disguised = add_credential(
        &app,
        &rhea,
        credential_form(
            "CITI Human Subjects Research",
            "2027-01-15",
            Some(("cert.pdf", b"<html><script>alert(1)</script>".to_vec())),
        ),
    )
    .await;
    assert_eq!(disguised.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Page::new(&disguised.text().await.unwrap());
    assert_eq!(
        page.text("#evidence-error"),
        "Upload a PDF, PNG or JPEG file."
    );
    assert_eq!(
        page.attrs("#kind", "value"),
        ["CITI Human Subjects Research"],
        "what was typed is kept"
    );

    let mut big = PDF.to_vec();
    big.resize(10 * 1024 * 1024 + 1, b' ');
    let too_big = add_credential(
        &app,
        &rhea,
        credential_form("CITI", "2027-01-15", Some(("big.pdf", big))),
    )
    .await;
    assert_eq!(too_big.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&too_big.text().await.unwrap())
            .text("#evidence-error")
            .contains("10 MB")
    );

    let bad_dates = add_credential(&app, &rhea, credential_form("CITI", "2024-01-01", None)).await;
    assert_eq!(bad_dates.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&bad_dates.text().await.unwrap())
            .text("#expires_on-error")
            .contains("before the issue date")
    );
    let not_a_date = add_credential(&app, &rhea, credential_form("CITI", "next year", None)).await;
    assert!(
        Page::new(&not_a_date.text().await.unwrap())
            .text("#expires_on-error")
            .contains("YYYY-MM-DD")
    );

    let stored: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // A PNG without a file name extension is fine: the bytes decide.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let ok = add_credential(
        &app,
        &rhea,
        credential_form("CITI", "2027-01-15", Some(("scan", png))),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let kind: String = sqlx::query_scalar("select evidence_type from credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kind, "image/png");
}

async fn create_token(app: &TestApp, client: &Client, name: &str, scope: &str) -> String {
    let response = client
        .post(app.url("/account/tokens"))
        .form(&[("name", name), ("scope", scope), ("days", "30")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    Page::new(&response.text().await.unwrap()).text("#new-token")
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn personal_api_tokens_are_shown_once_scoped_and_revocable() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let rhea = app.signed_in("rhea@example.org").await;

    let read = create_token(&app, &rhea, "notebook", "read").await;
    let write = create_token(&app, &rhea, "sync script", "read_write").await;
    assert!(read.starts_with("rp_") && read.len() == 67, "{read}");
    let listed = page(&app, &rhea, "/account/tokens").await;
    assert!(
        listed.html.root_element().html().contains(&read[..11]),
        "the prefix is listed"
    );
    assert!(
        !listed.source.contains(&read),
        "the token itself is never shown again"
    );

    let (status, me) = api(&app, reqwest::Method::GET, "/api/v1/me", Some(&read), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "rhea@example.org");
    assert_eq!(me["role"], "researcher");
    assert_eq!(me["token_scope"], "read");

    let change =
        json!({"institution": "Example University Hospital", "orcid": "0000-0002-1825-0097"});
    let (status, error) = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(&read),
        Some(change.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"]["code"], "insufficient_scope");
    let (status, me) = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(&write),
        Some(change),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["institution"], "Example University Hospital");
    let (status, error) = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(&write),
        Some(json!({"orcid": "1234"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["fields"][0]["field"], "orcid");
    let (status, _) = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(&write),
        Some(json!({"is_admin": true})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );

    let (status, error) = api(&app, reqwest::Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "unauthorized");
    let (status, _) = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/me",
        Some("rp_0000"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoked: refused at once. Expired: refused too.
    let id: i64 = sqlx::query_scalar("select id from api_tokens where name = 'notebook'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let revoked = rhea
        .post(app.url(&format!("/account/tokens/{id}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/me", Some(&read), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    sqlx::query(
        "update api_tokens set expires_at = now() - interval '1 second' where name = 'sync script'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/me", Some(&write), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Someone else's token cannot be revoked by id.
    app.add_user("otto@example.org", "Otto Other").await;
    let otto = app.signed_in("otto@example.org").await;
    let otto_token = create_token(&app, &otto, "otto's", "read").await;
    let otto_id: i64 = sqlx::query_scalar("select id from api_tokens where name = 'otto''s'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let attempt = rhea
        .post(app.url(&format!("/account/tokens/{otto_id}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(attempt.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api(
            &app,
            reqwest::Method::GET,
            "/api/v1/me",
            Some(&otto_token),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_form_with_mistakes_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let rhea = app.signed_in("rhea@example.org").await;

    let response = rhea
        .post(app.url("/account/tokens"))
        .form(&[("name", ""), ("scope", "admin"), ("days", "9999")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Page::new(&response.text().await.unwrap());
    assert!(page.text("#name-error").contains("Name the token"));
    assert!(page.text("#scope-error").contains("read only"));
    assert!(page.text("#days-error").contains("365"));
    let tokens: i64 = sqlx::query_scalar("select count(*) from api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
}

#[tokio::test]
async fn a_researcher_downloads_their_data_and_closes_the_account() {
    let app = TestApp::spawn().await;
    let id = app.add_user("rhea@example.org", "Rhea Searcher").await;
    let rhea = app.signed_in("rhea@example.org").await;
    add_credential(
        &app,
        &rhea,
        credential_form(
            "PhysioNet credentialed user",
            "2027-01-15",
            Some(("cert.pdf", PDF.to_vec())),
        ),
    )
    .await;
    let token = create_token(&app, &rhea, "notebook", "read").await;

    let export = rhea
        .get(app.url("/account/export.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let data: Value = export.json().await.unwrap();
    assert_eq!(data["account"]["email"], "rhea@example.org");
    assert_eq!(
        data["credentials"][0]["kind"],
        "PhysioNet credentialed user"
    );
    assert_eq!(data["api_tokens"][0]["name"], "notebook");
    assert!(data["api_tokens"][0].get("token_hash").is_none());
    assert_eq!(data["sessions"].as_array().unwrap().len(), 1);
    let actions: Vec<&str> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"credential.added") && actions.contains(&"api_token.created"),
        "{actions:?}"
    );

    let wrong = rhea
        .post(app.url("/account/close"))
        .form(&[("password", "nope nope nope"), ("confirm", "close")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Page::new(&wrong.text().await.unwrap());
    assert!(
        page.text("#password-error")
            .contains("not your current password")
    );
    assert!(page.text("#confirm-error").contains("CLOSE"));

    let closed = rhea
        .post(app.url("/account/close"))
        .form(&[("password", PASSWORD), ("confirm", "CLOSE")])
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::SEE_OTHER);

    assert_eq!(
        rhea.get(app.url("/account")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (email, name, closed_at): (String, String, Option<time::OffsetDateTime>) =
        sqlx::query_as("select email::text, name, closed_at from users where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        !email.contains("rhea") && name.starts_with("Closed account"),
        "{email} {name}"
    );
    assert!(closed_at.is_some());
    let credentials: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(credentials, 0, "credentials and their files are deleted");
    // The audit record keeps the events, still pointing at the (now closed) account.
    let kept: i64 = sqlx::query_scalar("select count(*) from audit_log where actor_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(kept >= 3, "{kept}");
    // The address can register again as a new person.
    let fresh: Option<i64> =
        sqlx::query_scalar("select id from users where email = 'rhea@example.org'")
            .fetch_optional(&app.db)
            .await
            .unwrap();
    assert_eq!(fresh, None);
}

#[tokio::test]
async fn the_only_administrator_cannot_close_their_account() {
    let app = TestApp::spawn().await;
    app.add_admin("ada@example.org").await;
    let ada = app.signed_in("ada@example.org").await;

    let refused = ada
        .post(app.url("/account/close"))
        .form(&[("password", PASSWORD), ("confirm", "CLOSE")])
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("#confirm-error")
            .contains("only administrator")
    );
}

#[tokio::test]
async fn an_administrator_disables_a_user_whose_sessions_and_tokens_end_at_once() {
    let app = TestApp::spawn().await;
    let rhea_id = app.add_user("rhea@example.org", "Rhea Searcher").await;
    let admin_id = app.add_admin("ada@example.org").await;
    let rhea = app.signed_in("rhea@example.org").await;
    let token = create_token(&app, &rhea, "notebook", "read").await;
    let ada = app.signed_in("ada@example.org").await;

    let users = page(&app, &ada, "/admin/users?q=rhea").await;
    assert_eq!(users.text("#user-count"), "1 account matching “rhea”");
    let user_page = page(&app, &ada, &format!("/admin/users/{rhea_id}")).await;
    assert_eq!(user_page.text("#user-sessions"), "1");

    let no_reason = ada
        .post(app.url(&format!("/admin/users/{rhea_id}/disable")))
        .form(&[("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_reason.status(), StatusCode::BAD_REQUEST);
    let disabled = ada
        .post(app.url(&format!("/admin/users/{rhea_id}/disable")))
        .form(&[("reason", "left the institution")])
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);

    assert_eq!(
        rhea.get(app.url("/account")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let refused = app
        .sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        page(&app, &ada, &format!("/admin/users/{rhea_id}"))
            .await
            .text("#user-status")
            .starts_with("disabled since")
    );
    let reason: Value = sqlx::query_scalar(
        "select details from audit_log where action = 'user.disabled' and actor_id = $1",
    )
    .bind(admin_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reason["reason"], "left the institution");

    // Enabled again, the person signs in anew (the old token stays revoked).
    let enabled = ada
        .post(app.url(&format!("/admin/users/{rhea_id}/enable")))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // An administrator cannot disable themself or drop their own flag.
    let own = ada
        .post(app.url(&format!("/admin/users/{admin_id}/disable")))
        .form(&[("reason", "oops")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::BAD_REQUEST);
    let own = ada
        .post(app.url(&format!("/admin/users/{admin_id}/admin")))
        .form(&[("admin", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::BAD_REQUEST);
    // Making someone an administrator shows in their role.
    let promoted = ada
        .post(app.url(&format!("/admin/users/{rhea_id}/admin")))
        .form(&[("admin", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&app, &ada, &format!("/admin/users/{rhea_id}"))
            .await
            .text("#user-role"),
        "Administrator"
    );
}
