//! Caching: pages rendered for a signed-in account, or carrying its session or token, are never
//! stored by browsers or proxies; public pages and the static files keep their caching.

use reqwest::{Client, Response, StatusCode};

use crate::helpers::{Page, TestApp, new_client};

fn cache_control(response: &Response) -> Option<String> {
    response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned())
}

async fn get(app: &TestApp, client: &Client, path: &str) -> Response {
    client.get(app.url(path)).send().await.unwrap()
}

#[tokio::test]
async fn signed_in_pages_are_not_stored_and_public_pages_keep_their_caching() {
    let app = TestApp::spawn().await;
    app.add_admin("ada@example.org").await;
    let static_path = format!(
        "/static/site.css?v={}",
        radportal::web::middleware::asset_version()
    );

    for path in ["/", "/datasets", "/organizations", "/sign-in"] {
        let response = get(&app, &app.client, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(cache_control(&response), None, "a visitor's {path}");
    }
    let public_static = get(&app, &app.client, &static_path).await;
    assert_eq!(
        cache_control(&public_static).as_deref(),
        Some("public, max-age=31536000, immutable")
    );

    // Signing in sets the session cookie: that answer is not stored either.
    let admin = new_client();
    let signed_in = app
        .sign_in_with(&admin, "ada@example.org", crate::helpers::PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(cache_control(&signed_in).as_deref(), Some("no-store"));

    for path in [
        "/",
        "/datasets",
        "/organizations",
        "/account",
        "/requests",
        "/admin",
        "/no-such-page",
    ] {
        let response = get(&app, &admin, path).await;
        assert_eq!(
            cache_control(&response).as_deref(),
            Some("no-store"),
            "signed in, {path} ({})",
            response.status()
        );
    }
    // Answers that already said more keep it.
    let export = get(&app, &admin, "/account/export.json").await;
    assert_eq!(cache_control(&export).as_deref(), Some("private, no-store"));
    // The static files are the same for everyone.
    let signed_in_static = get(&app, &admin, &static_path).await;
    assert_eq!(
        cache_control(&signed_in_static).as_deref(),
        Some("public, max-age=31536000, immutable")
    );

    let token_page = admin
        .post(app.url("/account/tokens"))
        .form(&[("name", "notebook"), ("scope", "read"), ("days", "30")])
        .send()
        .await
        .unwrap();
    let token = Page::new(&token_page.text().await.unwrap()).text("#new-token");
    let api = Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(cache_control(&api).as_deref(), Some("no-store"));

    let signed_out = admin.post(app.url("/sign-out")).send().await.unwrap();
    assert_eq!(cache_control(&signed_out).as_deref(), Some("no-store"));
    let after = get(&app, &admin, "/datasets").await;
    assert_eq!(cache_control(&after), None, "no session any more");
}
