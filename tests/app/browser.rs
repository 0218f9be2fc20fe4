//! Journeys in real headless Chromium (Playwright with Debian's chromium) and axe-core accessibility
//! checks of every page type: `tests/browser/journeys.mjs`, run against this suite's server. The script
//! asks for mailed links on its standard output; this test delivers the mail, reads the link from the SMTP server and answers.
//! `tests/browser/sign_in.mjs` signs in through a real OpenID Connect provider and with a second
//! factor.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{PASSWORD, Template, TestApp};

#[tokio::test]
async fn journeys_in_a_real_browser_pass_with_no_accessibility_violations() {
    // The search analytics journey reads searches of the earlier journeys, written meanwhile.
    let app = TestApp::with_mail_from(Template::Catalog, |config| {
        config.search_log_flush = std::time::Duration::from_secs(1);
    })
    .await;
    assert!(
        radportal::access::example::seed_if_empty(&app.db)
            .await
            .unwrap()
    );
    app.add_admin("ada@example.org").await;
    let root = env!("CARGO_MANIFEST_DIR");

    let mut node = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/journeys.mjs"))
        .current_dir(format!("{root}/tests/browser"))
        .env("BASE_URL", &app.address)
        .env("ADMIN_EMAIL", "ada@example.org")
        .env("ADMIN_PASSWORD", PASSWORD)
        .env(
            "EXAMPLE_PASSWORD",
            radportal::access::example::EXAMPLE_PASSWORD,
        )
        .env("ARTIFACTS", format!("{root}/target/browser-artifacts"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/test installs the browser test packages and chromium)");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut output = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(email) = line.strip_prefix("MAIL_LINK_REQUEST ") {
            let message = app.mail_to(email.trim(), "Confirm your e-mail").await;
            let link = message.link("/verify-email");
            stdin
                .write_all(format!("{link}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
            continue;
        }
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
    }
    drop(stdin);
    let status = node.wait().await.unwrap();
    assert!(status.success(), "{output}");
    assert!(output.contains("axe violations per page type"), "{output}");
}

#[tokio::test]
async fn signing_in_through_an_institution_and_with_a_second_factor_in_a_real_browser() {
    let (listener, address) = TestApp::reserve().await;
    let accounts = serde_json::json!({"rosa": {
        "email": "rosa@uni.example", "email_verified": true, "name": "Rosa Radiologist",
        "organization": "University Hospital, Radiology",
    }});
    let provider = crate::oidc::RealProvider::start(&address, accounts).await;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_listening(listener, move |config| {
        config.oidc_providers = vec![crate::oidc::provider("uni", "University Hospital", &issuer)];
        config.secret_key = Some(crate::helpers::secret_key());
    })
    .await;
    app.add_user("tess@example.org", "Tess Totp").await;
    let root = env!("CARGO_MANIFEST_DIR");
    let output = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/sign_in.mjs"))
        .current_dir(format!("{root}/tests/browser"))
        .env("BASE_URL", &app.address)
        .env("PROVIDER_LOGIN", "rosa")
        .env("EMAIL", "tess@example.org")
        .env("PASSWORD", PASSWORD)
        .env("ARTIFACTS", format!("{root}/target/browser-artifacts"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (scripts/test installs the browser test packages and chromium)");
    let printed = String::from_utf8_lossy(&output.stdout);
    println!("{printed}");
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("axe violations per page type"),
        "{printed}"
    );
}
