//! Health and readiness, and what users see when the database is away.

use radportal::{AppState, Config};
use reqwest::StatusCode;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let app = TestApp::spawn().await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_database_readyz_and_pages_answer_503() {
    // A pool pointing at a port where nothing listens: the database is "down".
    let url = "postgres://postgres@127.0.0.1:9/radportal";
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy(url)
        .unwrap();
    let app = TestApp::spawn_with(
        AppState::new(pool.clone(), Config::for_database(url)),
        pool,
        "never_created_database".to_owned(),
        url.to_owned(),
    )
    .await;

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let page = app.get("/datasets").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = page.text().await.unwrap();
    assert!(body.contains("cannot reach its database"));
    assert!(!body.contains("127.0.0.1:9"), "no internal detail leaks");
}
