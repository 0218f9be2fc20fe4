//! Journeys in real headless Chromium (Playwright with Debian's chromium) and axe-core accessibility
//! checks of every page type: `tests/browser/journeys.mjs`, run against this suite's server.

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn journeys_in_a_real_browser_pass_with_no_accessibility_violations() {
    let app = TestApp::with_catalog().await;
    assert!(
        radportal::access::example::seed_if_empty(&app.db)
            .await
            .unwrap()
    );
    app.add_admin("ada@example.org").await;
    let root = env!("CARGO_MANIFEST_DIR");
    let artifacts = format!("{root}/target/browser-artifacts");

    let output = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/journeys.mjs"))
        .current_dir(format!("{root}/tests/browser"))
        .env("BASE_URL", &app.address)
        .env("ADMIN_EMAIL", "ada@example.org")
        .env("ADMIN_PASSWORD", PASSWORD)
        .env(
            "EXAMPLE_PASSWORD",
            radportal::access::example::EXAMPLE_PASSWORD,
        )
        .env("ARTIFACTS", &artifacts)
        .output()
        .await
        .expect("node runs (scripts/test installs the browser test packages and chromium)");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("axe violations per page type"), "{stdout}");
}
