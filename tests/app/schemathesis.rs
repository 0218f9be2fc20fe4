//! Schemathesis (from PyPI, in the test venv) against the OpenAPI document: generated requests to every
//! operation of `/api/v1`, valid and invalid, each answer held against the document (status codes,
//! content types, headers, schemas) and checked for server errors. The run is bounded by examples per
//! operation and a fixed seed, so that it takes the same time and finds the same cases on every run.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{Page, TestApp, python};

/// Examples per operation and phase; with a fixed seed the run is the same every time.
const MAX_EXAMPLES: &str = "30";
/// `SCHEMATHESIS_SEED` overrides it, to explore further.
const SEED: &str = "20260101";

#[tokio::test]
async fn schemathesis_finds_no_failure_against_the_openapi_document() {
    let app = TestApp::with_catalog().await;
    app.add_user("sam@example.org", "Sam Schema").await;
    let client = app.signed_in("sam@example.org").await;
    let response = client
        .post(app.url("/account/tokens"))
        .form(&[
            ("name", "schemathesis"),
            ("scope", "read_write"),
            ("days", "7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let token = Page::new(&response.text().await.unwrap()).text("#new-token");

    let child = tokio::process::Command::new(python())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemathesis.toml"
        ))
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.address])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args([
            "--seed",
            &std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_owned()),
        ])
        .args(["--workers", "2"])
        .args(["--request-timeout", "30"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs (scripts/test installs schemathesis into target/test-venv)");
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("schemathesis finishes within 5 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
