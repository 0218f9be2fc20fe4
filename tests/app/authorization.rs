//! The authorization table: every route of the application × every role, with the answer expected.
//! A route added without a row here fails the test, so no route escapes the check.

use std::collections::BTreeSet;

use radportal::auth::admin::disable_user;
use radportal::auth::db as accounts;
use radportal::auth::model::TokenScope;
use radportal::auth::session;
use reqwest::{Client, Method, StatusCode};

use crate::helpers::{TestApp, bundled_record, secret_key};

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Visitor,
    Researcher,
    Reviewer,
    Admin,
    /// A researcher whose account an administrator disabled after they signed in.
    Disabled,
}

const ROLES: [Role; 5] = [
    Role::Visitor,
    Role::Researcher,
    Role::Reviewer,
    Role::Admin,
    Role::Disabled,
];

/// What a request sends.
enum Body {
    Empty,
    Form(&'static [(&'static str, &'static str)]),
    Json(&'static str),
}

/// One row: a route (method and path template), the URL actually requested (placeholders `{slug}`,
/// `{org}`, `{credential}`, `{token}`, `{user}` are filled per request), the body, and the answer
/// for visitor, researcher, reviewer, admin and disabled user, in that order:
/// a status code, or `in` for "sent to sign in".
struct Row {
    method: Method,
    path: &'static str,
    url: &'static str,
    body: Body,
    expect: &'static str,
}

fn row(
    method: Method,
    path: &'static str,
    url: &'static str,
    body: Body,
    expect: &'static str,
) -> Row {
    Row {
        method,
        path,
        url,
        body,
        expect,
    }
}

fn get(path: &'static str, url: &'static str, expect: &'static str) -> Row {
    row(Method::GET, path, url, Body::Empty, expect)
}

fn post(path: &'static str, url: &'static str, body: Body, expect: &'static str) -> Row {
    row(Method::POST, path, url, body, expect)
}

const PAGE: &str = "200 200 200 200 200";
const ACCOUNT: &str = "in 200 200 200 in";
const ADMIN: &str = "in 403 403 200 in";

fn table() -> Vec<Row> {
    use Body::{Empty, Form, Json};
    vec![
        // The public catalog and machine-readable metadata.
        get("/", "/", PAGE),
        get("/datasets", "/datasets?q=lung", PAGE),
        get("/datasets.csv", "/datasets.csv", PAGE),
        get("/catalog.jsonld", "/catalog.jsonld", PAGE),
        get("/datasets/{slug}", "/datasets/{slug}", PAGE),
        get("/organizations", "/organizations", PAGE),
        get("/organizations/{slug}", "/organizations/{org}", PAGE),
        get("/privacy", "/privacy", PAGE),
        get("/static/{file}", "/static/site.css", PAGE),
        get("/healthz", "/healthz", PAGE),
        get("/readyz", "/readyz", PAGE),
        // Off unless a metrics token is configured (and then only with the token, whoever asks).
        get("/metrics", "/metrics", "404 404 404 404 404"),
        // The JSON API: public reads; `/me` needs a live token.
        get("/api/v1", "/api/v1", PAGE),
        get("/api/v1/openapi.json", "/api/v1/openapi.json", PAGE),
        get("/api/v1/datasets", "/api/v1/datasets", PAGE),
        get("/api/v1/datasets/{slug}", "/api/v1/datasets/{slug}", PAGE),
        get("/api/v1/organizations", "/api/v1/organizations", PAGE),
        get("/api/v1/me", "/api/v1/me", "401 200 200 200 401"),
        row(
            Method::PATCH,
            "/api/v1/me",
            "/api/v1/me",
            Json("{}"),
            "401 200 200 200 401",
        ),
        get(
            "/api/v1/{*rest}",
            "/api/v1/nothing-here",
            "404 404 404 404 404",
        ),
        post(
            "/api/v1/{*rest}",
            "/api/v1/nothing-here",
            Empty,
            "404 404 404 404 404",
        ),
        get("/api/3/action/{action}", "/api/3/action/status_show", PAGE),
        post(
            "/api/3/action/{action}",
            "/api/3/action/status_show",
            Json("{}"),
            PAGE,
        ),
        get("/api/action/{action}", "/api/action/package_list", PAGE),
        post(
            "/api/action/{action}",
            "/api/action/package_list",
            Json("{}"),
            PAGE,
        ),
        // Signing in, registering and recovering: open to all; signed-in people are sent on.
        get("/sign-in", "/sign-in", "200 303 303 303 200"),
        post(
            "/sign-in",
            "/sign-in",
            Form(&[("email", "x@example.org"), ("password", "wrong")]),
            "401 401 401 401 401",
        ),
        // Signing in through an institution's provider: only configured providers exist.
        get(
            "/sign-in/oidc/{provider}",
            "/sign-in/oidc/nowhere?next=/account",
            "404 404 404 404 404",
        ),
        get(
            "/sign-in/oidc/{provider}/callback",
            "/sign-in/oidc/nowhere/callback?code=x&state=y",
            "404 404 404 404 404",
        ),
        // The second step of a sign-in: without a sign-in waiting for its code, back to the password.
        get("/sign-in/code", "/sign-in/code", "303 303 303 303 303"),
        post(
            "/sign-in/code",
            "/sign-in/code",
            Form(&[("code", "123456")]),
            "303 303 303 303 303",
        ),
        post("/sign-out", "/sign-out", Empty, "303 303 303 303 303"),
        get("/register", "/register", "200 303 303 303 200"),
        post("/register", "/register", Form(&[]), "422 422 422 422 422"),
        get(
            "/verify-email",
            "/verify-email?token=nope",
            "400 400 400 400 400",
        ),
        post(
            "/verify-email",
            "/verify-email",
            Form(&[("token", "nope")]),
            "400 400 400 400 400",
        ),
        get("/verify-email/resend", "/verify-email/resend", PAGE),
        post(
            "/verify-email/resend",
            "/verify-email/resend",
            Form(&[]),
            "422 422 422 422 422",
        ),
        get("/forgot-password", "/forgot-password", PAGE),
        post(
            "/forgot-password",
            "/forgot-password",
            Form(&[]),
            "422 422 422 422 422",
        ),
        get(
            "/reset-password",
            "/reset-password?token=nope",
            "400 400 400 400 400",
        ),
        post(
            "/reset-password",
            "/reset-password",
            Form(&[("token", "nope")]),
            "400 400 400 400 400",
        ),
        // The signed-in person's own account.
        get("/account", "/account", ACCOUNT),
        get("/account/profile", "/account/profile", ACCOUNT),
        post(
            "/account/profile",
            "/account/profile",
            Form(&[]),
            "in 422 422 422 in",
        ),
        get("/account/password", "/account/password", ACCOUNT),
        post(
            "/account/password",
            "/account/password",
            Form(&[]),
            "in 422 422 422 in",
        ),
        post(
            "/account/sign-out-everywhere",
            "/account/sign-out-everywhere",
            Empty,
            "in 303 303 303 in",
        ),
        get("/account/export.json", "/account/export.json", ACCOUNT),
        get("/account/close", "/account/close", ACCOUNT),
        post(
            "/account/close",
            "/account/close",
            Form(&[]),
            "in 422 422 422 in",
        ),
        get("/account/credentials", "/account/credentials", ACCOUNT),
        post(
            "/account/credentials",
            "/account/credentials",
            Empty,
            "in 400 400 400 in",
        ),
        // Another person's credential and token: not theirs to touch. Administrators, and reviewers on a
        // committee the person asked for access, may read the evidence.
        post(
            "/account/credentials/{id}/delete",
            "/account/credentials/{credential}/delete",
            Empty,
            "in 404 404 404 in",
        ),
        get(
            "/credentials/{id}/evidence",
            "/credentials/{credential}/evidence",
            "in 404 200 200 in",
        ),
        get("/account/tokens", "/account/tokens", ACCOUNT),
        post(
            "/account/tokens",
            "/account/tokens",
            Form(&[]),
            "in 422 422 422 in",
        ),
        post(
            "/account/tokens/{id}/revoke",
            "/account/tokens/{token}/revoke",
            Empty,
            "in 404 404 404 in",
        ),
        // Two-factor sign-in of one's own account; with nothing set up, confirming, turning off and
        // new recovery codes go back to the settings.
        get("/account/two-factor", "/account/two-factor", ACCOUNT),
        post(
            "/account/two-factor/setup",
            "/account/two-factor/setup",
            Empty,
            "in 200 200 200 in",
        ),
        post(
            "/account/two-factor/confirm",
            "/account/two-factor/confirm",
            Form(&[("code", "123456")]),
            "in 303 303 303 in",
        ),
        post(
            "/account/two-factor/disable",
            "/account/two-factor/disable",
            Form(&[("disable_code", "123456")]),
            "in 303 303 303 in",
        ),
        post(
            "/account/two-factor/recovery-codes",
            "/account/two-factor/recovery-codes",
            Form(&[("regenerate_code", "123456")]),
            "in 303 303 303 in",
        ),
        // Requesting access: the cart and projects belong to the signed-in person.
        get("/cart", "/cart", ACCOUNT),
        post(
            "/cart",
            "/cart",
            Form(&[("dataset", "lidc-idri")]),
            "in 303 303 303 in",
        ),
        post(
            "/cart/remove",
            "/cart/remove",
            Form(&[("dataset", "lidc-idri")]),
            "in 303 303 303 in",
        ),
        post(
            "/cart/submit",
            "/cart/submit",
            Form(&[]),
            "in 422 422 422 in",
        ),
        get("/projects", "/projects", ACCOUNT),
        get("/projects/new", "/projects/new", ACCOUNT),
        post("/projects", "/projects", Form(&[]), "in 422 422 422 in"),
        // Another person's project, request, attachment and grant: the reviewer sits on the
        // request's committee; administrators may read everything.
        get("/projects/{id}", "/projects/{project}", "in 404 404 200 in"),
        get(
            "/projects/{id}/edit",
            "/projects/{project}/edit",
            "in 404 404 404 in",
        ),
        post(
            "/projects/{id}",
            "/projects/{project}",
            Form(&[]),
            "in 404 404 404 in",
        ),
        post(
            "/projects/{id}/irb-letter",
            "/projects/{project}/irb-letter",
            Empty,
            "in 400 400 400 in",
        ),
        get("/requests", "/requests", ACCOUNT),
        get("/requests/{id}", "/requests/{request}", "in 404 200 200 in"),
        post(
            "/requests/{id}/review",
            "/requests/{request}/review",
            Form(&[
                ("version", "1"),
                ("action", "comment"),
                ("message", "table check"),
            ]),
            "in 404 303 303 in",
        ),
        post(
            "/requests/{id}/applicant",
            "/requests/{request}/applicant",
            Form(&[
                ("version", "1"),
                ("action", "comment"),
                ("message", "table check"),
            ]),
            "in 404 403 403 in",
        ),
        post(
            "/requests/{id}/attachments",
            "/requests/{request}/attachments",
            Empty,
            "in 400 400 400 in",
        ),
        get(
            "/attachments/{id}",
            "/attachments/{attachment}",
            "in 404 200 200 in",
        ),
        get("/review", "/review", "in 403 200 200 in"),
        get("/access", "/access", ACCOUNT),
        post(
            "/grants/{id}/revoke",
            "/grants/{grant}/revoke",
            Form(&[("reason", "table check")]),
            "in 403 303 303 in",
        ),
        post(
            "/grants/{id}/renew",
            "/grants/{grant}/renew",
            Empty,
            "in 404 404 404 in",
        ),
        post(
            "/grants/{id}/reaccept",
            "/grants/{grant}/reaccept",
            Form(&[("signature", "x")]),
            "in 404 404 404 in",
        ),
        get("/duas/{slug}", "/duas/table-dua", PAGE),
        get(
            "/duas/{slug}/diff",
            "/duas/table-dua/diff?from=1&to=1",
            PAGE,
        ),
        get("/notifications", "/notifications", ACCOUNT),
        // Another person's notification: not found.
        get(
            "/notifications/{id}",
            "/notifications/{notification}",
            "in 404 404 404 in",
        ),
        post(
            "/notifications/read",
            "/notifications/read",
            Empty,
            "in 303 303 303 in",
        ),
        get(
            "/api/v1/me/requests",
            "/api/v1/me/requests",
            "401 200 200 200 401",
        ),
        get(
            "/api/v1/me/grants",
            "/api/v1/me/grants",
            "401 200 200 200 401",
        ),
        get(
            "/api/v1/entitlements",
            "/api/v1/entitlements",
            "401 403 403 403 401",
        ),
        // Administration, behind the guard layer.
        get("/admin", "/admin", ADMIN),
        get("/admin/users", "/admin/users", ADMIN),
        get("/admin/users/{id}", "/admin/users/{user}", ADMIN),
        post(
            "/admin/users/{id}/disable",
            "/admin/users/{user}/disable",
            Form(&[("reason", "table check")]),
            "in 403 403 303 in",
        ),
        post(
            "/admin/users/{id}/enable",
            "/admin/users/{user}/enable",
            Empty,
            "in 403 403 303 in",
        ),
        post(
            "/admin/users/{id}/admin",
            "/admin/users/{user}/admin",
            Form(&[("admin", "true")]),
            "in 403 403 303 in",
        ),
        get("/admin/committees", "/admin/committees", ADMIN),
        post(
            "/admin/committees",
            "/admin/committees",
            Form(&[]),
            "in 403 403 422 in",
        ),
        get("/admin/committees/{id}", "/admin/committees/{dac}", ADMIN),
        post(
            "/admin/committees/{id}",
            "/admin/committees/{dac}",
            Form(&[]),
            "in 403 403 422 in",
        ),
        post(
            "/admin/committees/{id}/members",
            "/admin/committees/{dac}/members",
            Form(&[("email", "nobody@example.org")]),
            "in 403 403 303 in",
        ),
        post(
            "/admin/committees/{id}/members/{user}/remove",
            "/admin/committees/{dac}/members/{user}/remove",
            Empty,
            "in 403 403 404 in",
        ),
        post(
            "/admin/committees/{id}/datasets",
            "/admin/committees/{dac}/datasets",
            Form(&[]),
            "in 403 403 303 in",
        ),
        get("/admin/datasets", "/admin/datasets?q=lidc", ADMIN),
        get("/admin/datasets/new", "/admin/datasets/new", ADMIN),
        post(
            "/admin/datasets",
            "/admin/datasets",
            Form(&[]),
            "in 403 403 422 in",
        ),
        get(
            "/admin/datasets/{slug}/edit",
            "/admin/datasets/lidc-idri/edit",
            ADMIN,
        ),
        post(
            "/admin/datasets/{slug}",
            "/admin/datasets/lidc-idri",
            Form(&[]),
            "in 403 403 422 in",
        ),
        post(
            "/admin/datasets/{slug}/status",
            "/admin/datasets/lidc-idri/status",
            Form(&[("status", "published")]),
            "in 403 403 303 in",
        ),
        get(
            "/admin/datasets/{slug}/history",
            "/admin/datasets/lidc-idri/history",
            ADMIN,
        ),
        post(
            "/admin/datasets/{slug}/restore",
            "/admin/datasets/lidc-idri/restore",
            Form(&[("version", "1")]),
            "in 403 403 303 in",
        ),
        get("/admin/grants", "/admin/grants?q=otto&live=on", ADMIN),
        get("/admin/organizations", "/admin/organizations", ADMIN),
        post(
            "/admin/organizations",
            "/admin/organizations",
            Form(&[]),
            "in 403 403 422 in",
        ),
        get(
            "/admin/organizations/{slug}",
            "/admin/organizations/{org}",
            ADMIN,
        ),
        post(
            "/admin/organizations/{slug}",
            "/admin/organizations/{org}",
            Form(&[]),
            "in 403 403 422 in",
        ),
        get("/admin/health", "/admin/health", ADMIN),
        get("/admin/searches", "/admin/searches?days=7", ADMIN),
        get(
            "/admin/searches.csv",
            "/admin/searches.csv?days=90&list=no-results",
            ADMIN,
        ),
        get("/admin/import", "/admin/import", ADMIN),
        get(
            "/admin/import/template.csv",
            "/admin/import/template.csv",
            ADMIN,
        ),
        post("/admin/import", "/admin/import", Empty, "in 403 403 400 in"),
        post(
            "/admin/import/{id}/commit",
            "/admin/import/0/commit",
            Empty,
            "in 403 403 404 in",
        ),
        get("/admin/audit", "/admin/audit?action=request.", ADMIN),
        get("/admin/audit.csv", "/admin/audit.csv", ADMIN),
        get("/admin/agreements", "/admin/agreements", ADMIN),
        post(
            "/admin/agreements",
            "/admin/agreements",
            Form(&[]),
            "in 403 403 422 in",
        ),
        get("/admin/agreements/{id}", "/admin/agreements/{dua}", ADMIN),
        post(
            "/admin/agreements/{id}/versions",
            "/admin/agreements/{dua}/versions",
            Form(&[]),
            "in 403 403 422 in",
        ),
    ]
}

/// The person asking in one request, and another person whose things they may try to touch.
struct Fixture {
    cookie: Option<String>,
    token: Option<String>,
    other_user: i64,
    other_credential: i64,
    other_token: i64,
    /// The other person's project, request (to the reviewer's committee), attachment and grant.
    project: i64,
    request: i64,
    attachment: i64,
    grant: i64,
    notification: i64,
}

/// Governance for `lidc-idri`: the committee `imaging-dac` and the agreement `table-dua`.
async fn govern(app: &TestApp) {
    sqlx::query("update datasets set access_level = 'controlled' where slug = 'lidc-idri'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "with dac as (insert into dacs (slug, name) values ('imaging-dac', 'Imaging Data Access Committee') returning id),
              dua as (insert into duas (slug, title) values ('table-dua', 'Table DUA') returning id),
              v as (insert into dua_versions (dua_id, version, body, content_hash, effective_on)
                    select id, 1, 'Use it well.', sha256('Use it well.'), '2026-01-01' from dua)
         insert into dataset_governance (dataset_id, dac_id, dua_id)
         select d.id, dac.id, dua.id from datasets d, dac, dua where d.slug = 'lidc-idri'",
    )
    .execute(&app.db)
    .await
    .unwrap();
}

/// A project, a submitted request with an attachment, and a grant, all of `owner`.
async fn request_of(app: &TestApp, owner: i64) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "with p as (insert into projects (owner_id, title, research_use, purpose)
                    values ($1, 'Other project', 'Research on lung nodules for the table.', 'HMB') returning id),
              r as (insert into access_requests (project_id, applicant_id, dac_id, state, requested_days, submitted_at)
                    select p.id, $1, (select id from dacs where slug = 'imaging-dac'), 'submitted', 30, now() from p
                    returning id),
              rd as (insert into request_datasets (request_id, dataset_id, dua_version_id, accepted_name, dua_hash, grant_days)
                     select r.id, d.id, v.id, 'Otto Other', v.content_hash, 30
                     from r, datasets d, dua_versions v where d.slug = 'lidc-idri' returning request_id),
              a as (insert into attachments (request_id, uploaded_by, purpose, file_name, content_type, bytes)
                    select r.id, $1, 'supporting', 'letter.pdf', 'application/pdf', '%PDF-1.4 table'::bytea from r
                    returning id),
              g as (insert into grants (user_id, dataset_id, request_id, dua_version_id, expires_at)
                    select $1, d.id, r.id, v.id, now() + interval '30 days' from r, datasets d, dua_versions v
                    where d.slug = 'lidc-idri' returning id)
         select p.id, r.id, a.id, g.id from p, r, a, g",
    )
    .bind(owner)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn fixture(app: &TestApp, role: Role, n: usize) -> Fixture {
    let other_user = app
        .add_user(&format!("other{n}@example.org"), "Otto Other")
        .await;
    let other_credential = accounts::add_credential(
        &app.db,
        other_user,
        &accounts::NewCredential {
            kind: "PhysioNet credentialed user",
            issuer: "PhysioNet",
            identifier: "",
            issued_on: None,
            expires_on: None,
            evidence: Some(("cert.pdf", "application/pdf", b"%PDF-1.4 test")),
        },
    )
    .await
    .unwrap();
    let (other_token, _) =
        accounts::create_api_token(&app.db, other_user, "other", TokenScope::Read, 30)
            .await
            .unwrap();
    let (project, request, attachment, grant) = request_of(app, other_user).await;
    let notification: i64 = sqlx::query_scalar(
        "insert into notifications (user_id, text, link) values ($1, 'Table check', '/requests') returning id",
    )
    .bind(other_user)
    .fetch_one(&app.db)
    .await
    .unwrap();
    if role == Role::Visitor {
        return Fixture {
            cookie: None,
            token: None,
            other_user,
            other_credential,
            other_token,
            project,
            request,
            attachment,
            grant,
            notification,
        };
    }
    let email = format!("{role:?}{n}@example.org").to_lowercase();
    let id = match role {
        Role::Admin => app.add_admin(&email).await,
        _ => app.add_user(&email, "Rita Role").await,
    };
    if role == Role::Reviewer {
        app.make_reviewer(id).await;
    }
    let cookie = session::create(&app.db, id).await.unwrap();
    let (_, token) = accounts::create_api_token(&app.db, id, "table", TokenScope::ReadWrite, 30)
        .await
        .unwrap();
    if role == Role::Disabled {
        let admin = app.add_admin(&format!("disabler{n}@example.org")).await;
        disable_user(&app.db, admin, id, "Disabled for the authorization table.")
            .await
            .unwrap();
    }
    Fixture {
        cookie: Some(cookie),
        token: Some(token),
        other_user,
        other_credential,
        other_token,
        project,
        request,
        attachment,
        grant,
        notification,
    }
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let app = TestApp::spawn_configured(|config| config.secret_key = Some(secret_key())).await;
    let record = bundled_record("lidc-idri");
    let body = serde_json::to_vec(&vec![record]).unwrap();
    app.import(&body).await;
    govern(&app).await;
    let (dac, dua): (i64, i64) = sqlx::query_as("select dac_id, dua_id from dataset_governance")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let org: String = sqlx::query_scalar("select slug from organizations limit 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let table = table();

    // Every route has a row, and every row is a route.
    let routes: BTreeSet<(String, String)> = radportal::routes()
        .table()
        .into_iter()
        .map(|entry| (entry.method.to_string(), entry.path.to_owned()))
        .collect();
    let rows: BTreeSet<(String, String)> = table
        .iter()
        .map(|row| (row.method.to_string(), row.path.to_owned()))
        .collect();
    let missing: Vec<_> = routes.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );
    assert_eq!(rows.len(), table.len(), "one row per route");
    // Every administrators' route is behind the guard.
    for entry in radportal::routes().table() {
        assert_eq!(
            entry.admin_only,
            entry.path.starts_with("/admin"),
            "{entry:?}"
        );
    }

    // `AUTHORIZATION_TABLE=file.md` writes the table as Markdown, for documentation.
    if let Ok(path) = std::env::var("AUTHORIZATION_TABLE") {
        let mut markdown =
            "| route | visitor | researcher | reviewer | admin | disabled |\n|---|---|---|---|---|---|\n"
                .to_owned();
        for row in &table {
            let cells: Vec<&str> = row.expect.split_whitespace().collect();
            markdown.push_str(&format!(
                "| {} {} | {} |\n",
                row.method,
                row.path,
                cells.join(" | ")
            ));
        }
        std::fs::write(path, markdown).unwrap();
    }
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for row in &table {
        let expected: Vec<&str> = row.expect.split_whitespace().collect();
        assert_eq!(expected.len(), ROLES.len(), "{} {}", row.method, row.path);
        for (role, expected) in ROLES.iter().zip(expected) {
            n += 1;
            let fixture = fixture(&app, *role, n).await;
            let url = row
                .url
                .replace("{slug}", "lidc-idri")
                .replace("{org}", &org)
                .replace("{credential}", &fixture.other_credential.to_string())
                .replace("{token}", &fixture.other_token.to_string())
                .replace("{user}", &fixture.other_user.to_string())
                .replace("{project}", &fixture.project.to_string())
                .replace("{request}", &fixture.request.to_string())
                .replace("{attachment}", &fixture.attachment.to_string())
                .replace("{grant}", &fixture.grant.to_string())
                .replace("{notification}", &fixture.notification.to_string())
                .replace("{dac}", &dac.to_string())
                .replace("{dua}", &dua.to_string());
            let mut request = client
                .request(row.method.clone(), app.url(&url))
                .header("sec-fetch-site", "same-origin");
            if let Some(cookie) = &fixture.cookie {
                request = request.header("cookie", format!("{}={cookie}", session::COOKIE));
            }
            if let Some(token) = &fixture.token {
                request = request.bearer_auth(token);
            }
            request = match row.body {
                Body::Empty => request,
                Body::Form(form) => request.form(form),
                Body::Json(json) => request
                    .header("content-type", "application/json")
                    .body(json),
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("");
            let got = if status == StatusCode::SEE_OTHER && location.starts_with("/sign-in?next=") {
                "in".to_owned()
            } else {
                status.as_u16().to_string()
            };
            if got != expected {
                failures.push(format!(
                    "{} {url} as {role:?}: expected {expected}, got {got}",
                    row.method
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
