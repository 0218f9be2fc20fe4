//! The edge of the portal: control characters and bad bytes refused before any handler, redirects that
//! stay on this site, cross-site requests refused (failing closed), security headers on every answer.

use reqwest::{Client, StatusCode};

use crate::helpers::{PASSWORD, Page, TestApp};

/// A client that says nothing about where its requests come from (as scripts and old browsers do).
fn bare_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn control_characters_in_paths_queries_and_forms_get_a_clear_400() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let researcher = app.signed_in("rhea@example.org").await;

    for path in ["/duas/%00", "/datasets/%00lidc", "/requests/%FF"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
        assert!(response.text().await.unwrap().contains("The address"));
    }
    for path in [
        "/datasets?q=%00",
        "/datasets?q=lung%1B",
        "/datasets?modality=C%00T",
        "/sign-in?next=%2F%0Ax",
        "/datasets?q=%FF%FE",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "GET {path}");
        let page = Page::new(&response.text().await.unwrap());
        assert!(
            page.text("main").contains("control character") || page.text("main").contains("UTF-8"),
            "GET {path} explains why"
        );
    }

    let sign_in = app
        .client
        .post(app.url("/sign-in"))
        .form(&[("email", "a\u{0}b@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::BAD_REQUEST);
    assert!(sign_in.text().await.unwrap().contains("“email”"));

    let profile = researcher
        .post(app.url("/account/profile"))
        .form(&[("name", "Rhea\u{0}"), ("institution", ""), ("orcid", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), StatusCode::BAD_REQUEST);
    assert!(profile.text().await.unwrap().contains("“name”"));
    let name: String =
        sqlx::query_scalar("select name from users where email = 'rhea@example.org'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(name, "Rhea Searcher", "nothing was stored");
}

#[tokio::test]
async fn multi_line_fields_keep_their_newlines_and_tabs() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let researcher = app.signed_in("rhea@example.org").await;

    let response = researcher
        .post(app.url("/projects"))
        .form(&[
            ("title", "Nodule detection"),
            (
                "research_use",
                "First line.\r\n\tIndented second line of the plan.",
            ),
            ("purpose", "HMB"),
        ])
        .send()
        .await
        .unwrap();

    assert_ne!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.status().is_success()
            || response.status().is_redirection()
            || response.status() == StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn json_strings_with_nul_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let response = bare_client()
        .patch(app.url("/api/v1/me"))
        .header("content-type", "application/json")
        .body(r#"{"name": "a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["parameter"], "name");
    assert_eq!(body["error"]["code"], "invalid_parameter");
}

#[tokio::test]
async fn sign_in_never_sends_anyone_off_the_site() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    for next in [
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "https://evil.example/",
        "/ /evil.example",
    ] {
        let client = crate::helpers::new_client();
        let response = client
            .post(app.url("/sign-in"))
            .form(&[
                ("email", "rhea@example.org"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={next:?}");
        assert_eq!(response.headers()["location"], "/account", "next={next:?}");
    }
}

#[tokio::test]
async fn a_signed_in_post_that_says_nothing_of_its_origin_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let signed_in = app.signed_in("rhea@example.org").await;
    let cookie = app
        .sign_in_with(&crate::helpers::new_client(), "rhea@example.org", PASSWORD)
        .await
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("radportal_session="))
        .map(|value| value.split(';').next().unwrap().to_owned())
        .unwrap();

    // Neither Origin nor Sec-Fetch-Site, with the session cookie: refused, with a page that says why.
    let refused = bare_client()
        .post(app.url("/account/sign-out-everywhere"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers()["x-frame-options"],
        "DENY",
        "the refusal carries the security headers"
    );
    assert!(
        Page::new(&refused.text().await.unwrap())
            .text("main")
            .contains("did not come from a page of this portal")
    );

    // Another site's Origin: refused; this site's Origin: accepted.
    let foreign = bare_client()
        .post(app.url("/account/sign-out-everywhere"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let own_origin = app.url("");
    let own = bare_client()
        .post(app.url("/account/sign-out-everywhere"))
        .header("cookie", &cookie)
        .header("origin", own_origin.trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);

    // Without a session cookie and without the headers (a script signing in), the form is handled.
    let anonymous = bare_client()
        .post(app.url("/sign-in"))
        .form(&[
            ("email", "rhea@example.org"),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    drop(signed_in);
}

#[tokio::test]
async fn security_headers_come_with_413_404_and_refusals_too() {
    let app = TestApp::spawn_configured(|config| config.max_body_bytes = 1024).await;
    let big = "x".repeat(4096);
    let too_large = app
        .client
        .post(app.url("/sign-in"))
        .form(&[("email", big.as_str()), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let refused = app.get("/datasets?q=%00").await;
    for response in [&too_large, &missing, &refused] {
        let headers = response.headers();
        assert!(
            headers.contains_key("content-security-policy"),
            "{}",
            response.status()
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
    }
}
