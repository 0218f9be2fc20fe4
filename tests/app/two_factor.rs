//! Two-factor sign-in, with every code computed by an independent implementation (PyOTP, in the tests'
//! Python): setup on the account page, the second step of signing in, a code used twice, clock skew,
//! ten sign-ins at once with one code, recovery codes, turning it off, the throttle, the operator's
//! requirement for administrators and committee members, and the audit trail.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};

use crate::helpers::{Page, TestApp, new_client, python, secret_key};

/// A portal with the key that two-factor sign-in needs.
async fn app() -> TestApp {
    TestApp::spawn_configured(|config| config.secret_key = Some(secret_key())).await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs `script` with `args` in the tests' Python and returns what it printed.
async fn run_python(script: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python runs (scripts/test installs pyotp into target/test-venv)");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The code PyOTP computes for the base32 `secret` at `unix` seconds.
async fn code_at(secret: &str, unix: i64) -> String {
    run_python(
        "import sys, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
        &[secret, &unix.to_string()],
    )
    .await
}

/// Waits, if need be, until at least `seconds` of the current 30-second step are left, so that codes
/// computed now are checked within the same step.
async fn with_time_left(seconds: i64) {
    let left = 30 - now().rem_euclid(30);
    if left < seconds {
        tokio::time::sleep(Duration::from_secs(u64::try_from(left).unwrap() + 1)).await;
    }
}

/// What setup showed once.
struct Enrolled {
    secret: String,
    recovery_codes: Vec<String>,
}

/// Sets up two-factor sign-in on the account pages of the signed-in `client`.
async fn enrol(app: &TestApp, client: &Client) -> Enrolled {
    let response = client
        .post(app.url("/account/two-factor/setup"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let page = Page::new(&response.text().await.unwrap());
    let secret = page.text("#two-factor-secret").replace(' ', "");
    assert_eq!(secret.len(), 32, "a 160-bit secret in base32: {secret}");
    let qr = page.attrs("img.qr-code", "src");
    assert!(qr[0].starts_with("data:image/svg+xml;base64,"), "{qr:?}");
    with_time_left(5).await;
    let code = code_at(&secret, now()).await;
    let response = client
        .post(app.url("/account/two-factor/confirm"))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = Page::new(&response.text().await.unwrap());
    assert!(page.source.contains("Two-factor sign-in is on."));
    let recovery_codes = page.texts("#recovery-codes code");
    assert_eq!(recovery_codes.len(), 10, "{recovery_codes:?}");
    Enrolled {
        secret,
        recovery_codes,
    }
}

/// An account with two-factor sign-in set up; its id and what setup showed.
async fn enrolled_user(app: &TestApp, email: &str) -> (i64, Enrolled) {
    let id = app.add_user(email, "Tess Totp").await;
    let client = app.signed_in(email).await;
    (id, enrol(app, &client).await)
}

/// As if setup had been five minutes ago: the steps since then are all newer than the last accepted.
async fn enrolled_a_while_ago(app: &TestApp, user_id: i64) {
    sqlx::query(
        "update totp_authenticators set last_used_step = last_used_step - 10 where user_id = $1",
    )
    .bind(user_id)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The password step in a new browser: it must wait for a code, without a session yet.
async fn password_step(app: &TestApp, email: &str) -> Client {
    let client = new_client();
    let response = app
        .sign_in_with(&client, email, crate::helpers::PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/sign-in/code");
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert!(
        cookies.iter().all(|c| !c.starts_with("radportal_session=")),
        "no session before the code: {cookies:?}"
    );
    client
}

async fn code_step(app: &TestApp, client: &Client, code: &str) -> Response {
    client
        .post(app.url("/sign-in/code"))
        .form(&[("code", code)])
        .send()
        .await
        .unwrap()
}

/// Asserts that the code was refused with a message containing `says`.
async fn assert_refused(response: Response, says: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = Page::new(&response.text().await.unwrap());
    assert!(
        page.text("#code-error").contains(says),
        "{}",
        page.text("#code-error")
    );
}

fn assert_signed_in(response: &Response, to: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
    assert_eq!(response.headers()["location"], to);
    assert!(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("radportal_session="))
    );
}

async fn audit_count(app: &TestApp, action: &str, user_id: i64) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_log where action = $1 and target_id = $2::bigint::text",
    )
    .bind(action)
    .bind(user_id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn setup_shows_the_secret_once_and_sign_in_then_asks_for_a_code() {
    let app = app().await;
    let id = app.add_user("tess@example.org", "Tess Totp").await;
    let client = app.signed_in("tess@example.org").await;
    let page = app_page(&app, &client, "/account/two-factor").await;
    assert!(page.text("#two-factor-status").contains("off"));

    let enrolled = enrol(&app, &client).await;
    // Stored sealed under the operator's key: the bytes PyOTP decodes from the secret are not in the
    // row, and open only with the key, for this account.
    let sealed: Vec<u8> =
        sqlx::query_scalar("select secret_sealed from totp_authenticators where user_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let raw = run_python(
        "import sys, base64; print(base64.b32decode(sys.argv[1]).hex())",
        &[&enrolled.secret],
    )
    .await;
    assert!(!hex::encode(&sealed).contains(&raw));
    let opened = radportal::auth::sealing::open(&secret_key(), &format!("totp:{id}"), &sealed)
        .expect("sealed under the configured key");
    assert_eq!(hex::encode(opened), raw);
    // Never shown again, never in the audit trail.
    let page = app_page(&app, &client, "/account/two-factor").await;
    assert!(page.text("#two-factor-status").contains("on"));
    assert!(!page.source.contains(&enrolled.secret[..16]));
    assert_eq!(
        page.text("#recovery-codes-left"),
        "10 of your recovery codes are left."
    );
    let details: Vec<String> = sqlx::query_scalar("select details::text from audit_log")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(details.iter().all(|d| !d.contains(&enrolled.secret)));
    assert_eq!(audit_count(&app, "account.two_factor_enabled", id).await, 1);

    // The password alone gives no session.
    let browser = password_step(&app, "tess@example.org").await;
    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert!(
        account.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in?next=")
    );
    let form = browser.get(app.url("/sign-in/code")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);

    with_time_left(5).await;
    assert_refused(code_step(&app, &browser, "000000").await, "not right").await;
    // The code that confirmed setup was taken then.
    let current = code_at(&enrolled.secret, now()).await;
    assert_refused(code_step(&app, &browser, &current).await, "already used").await;
    let next = code_at(&enrolled.secret, now() + 30).await;
    let response = code_step(&app, &browser, &next).await;
    assert_signed_in(&response, "/account");
    let page = app_page(&app, &browser, "/account").await;
    assert_eq!(page.text("#two-factor-chip"), "on");
    // The waiting sign-in is used up.
    let again = browser.get(app.url("/sign-in/code")).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/account");
    let other = new_client();
    let response = code_step(&app, &other, &next).await;
    assert_eq!(
        response.headers()["location"],
        "/sign-in?notice=sign_in_expired"
    );
}

/// A signed-in page, asserted 200.
async fn app_page(app: &TestApp, client: &Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    Page::new(&response.text().await.unwrap())
}

#[tokio::test]
async fn codes_of_the_previous_and_next_step_are_accepted_and_two_steps_away_refused() {
    let app = app().await;
    let (id, enrolled) = enrolled_user(&app, "skew@example.org").await;
    enrolled_a_while_ago(&app, id).await;
    with_time_left(12).await;
    let t = now();
    let secret = &enrolled.secret;

    let browser = password_step(&app, "skew@example.org").await;
    assert_refused(
        code_step(&app, &browser, &code_at(secret, t - 60).await).await,
        "not right",
    )
    .await;
    assert_refused(
        code_step(&app, &browser, &code_at(secret, t + 60).await).await,
        "not right",
    )
    .await;
    let previous = code_at(secret, t - 30).await;
    assert_signed_in(&code_step(&app, &browser, &previous).await, "/account");

    // The same code again, in another browser: refused, however right it is.
    let browser = password_step(&app, "skew@example.org").await;
    assert_refused(code_step(&app, &browser, &previous).await, "already used").await;
    let next = code_at(secret, t + 30).await;
    assert_signed_in(&code_step(&app, &browser, &next).await, "/account");

    // Once a later step was accepted, an earlier one is old.
    let browser = password_step(&app, "skew@example.org").await;
    assert_refused(
        code_step(&app, &browser, &code_at(secret, t).await).await,
        "already used",
    )
    .await;
}

#[tokio::test]
async fn ten_parallel_sign_ins_with_the_same_code_make_one_session() {
    let app = app().await;
    let (id, enrolled) = enrolled_user(&app, "race@example.org").await;
    enrolled_a_while_ago(&app, id).await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from sessions where user_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = sessions().await;
    let mut browsers = Vec::new();
    for _ in 0..10 {
        browsers.push(password_step(&app, "race@example.org").await);
    }
    with_time_left(10).await;
    let code = code_at(&enrolled.secret, now()).await;
    let answers = futures_util::future::join_all(
        browsers
            .iter()
            .map(|browser| code_step(&app, browser, &code)),
    )
    .await;
    let statuses: Vec<StatusCode> = answers.iter().map(Response::status).collect();
    let signed_in = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(signed_in, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::SEE_OTHER,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "{statuses:?}"
    );
    assert_eq!(sessions().await, before + 1);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_new_codes_replace_the_old() {
    let app = app().await;
    let (id, enrolled) = enrolled_user(&app, "lost@example.org").await;
    let codes = &enrolled.recovery_codes;

    let browser = password_step(&app, "lost@example.org").await;
    assert_signed_in(&code_step(&app, &browser, &codes[0]).await, "/account");
    let browser = password_step(&app, "lost@example.org").await;
    assert_refused(code_step(&app, &browser, &codes[0]).await, "already used").await;
    // Typed in capitals with spaces for dashes, it is still the code.
    let typed = codes[1].to_uppercase().replace('-', " ");
    assert_signed_in(&code_step(&app, &browser, &typed).await, "/account");
    assert_eq!(audit_count(&app, "account.recovery_code_used", id).await, 2);
    let page = app_page(&app, &browser, "/account/two-factor").await;
    assert_eq!(
        page.text("#recovery-codes-left"),
        "8 of your recovery codes are left."
    );

    // New codes, proved with an old one; the rest of the old ones stop working.
    let response = browser
        .post(app.url("/account/two-factor/recovery-codes"))
        .form(&[("regenerate_code", codes[2].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let fresh = Page::new(&response.text().await.unwrap()).texts("#recovery-codes code");
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|code| !codes.contains(code)));
    assert_eq!(
        audit_count(&app, "account.recovery_codes_regenerated", id).await,
        1
    );
    let browser = password_step(&app, "lost@example.org").await;
    assert_refused(code_step(&app, &browser, &codes[3]).await, "not right").await;
    assert_signed_in(&code_step(&app, &browser, &fresh[9]).await, "/account");
}

#[tokio::test]
async fn turning_it_off_asks_for_a_code() {
    let app = app().await;
    let (id, enrolled) = enrolled_user(&app, "off@example.org").await;
    enrolled_a_while_ago(&app, id).await;
    let browser = password_step(&app, "off@example.org").await;
    with_time_left(8).await;
    let code = code_at(&enrolled.secret, now()).await;
    assert_signed_in(&code_step(&app, &browser, &code).await, "/account");

    let response = browser
        .post(app.url("/account/two-factor/disable"))
        .form(&[("disable_code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Page::new(&response.text().await.unwrap());
    assert!(page.text("#disable_code-error").contains("not right"));
    assert!(page.text("#two-factor-status").contains("on"));
    let next = code_at(&enrolled.secret, now() + 30).await;
    let response = browser
        .post(app.url("/account/two-factor/disable"))
        .form(&[("disable_code", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        "/account/two-factor?notice=two_factor_disabled"
    );
    assert_eq!(
        audit_count(&app, "account.two_factor_disabled", id).await,
        1
    );
    let recovery_left: i64 =
        sqlx::query_scalar("select count(*) from recovery_codes where user_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(recovery_left, 0);
    // The password alone signs in again.
    let client = new_client();
    let response = app
        .sign_in_with(&client, "off@example.org", crate::helpers::PASSWORD)
        .await;
    assert_signed_in(&response, "/account");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let app = app().await;
    let (id, enrolled) = enrolled_user(&app, "guess@example.org").await;
    enrolled_a_while_ago(&app, id).await;
    let browser = password_step(&app, "guess@example.org").await;
    for guess in ["111111", "222222", "333333", "444444", "555555"] {
        assert_eq!(
            code_step(&app, &browser, guess).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    with_time_left(5).await;
    let right = code_at(&enrolled.secret, now()).await;
    let response = code_step(&app, &browser, &right).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = Page::new(&response.text().await.unwrap());
    assert!(page.text("#code-error").contains("Too many wrong codes"));
    // A sign-in waits for its code only so long.
    let browser = password_step(&app, "guess@example.org").await;
    sqlx::query("update sign_in_challenges set expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = code_step(&app, &browser, &right).await;
    assert_eq!(
        response.headers()["location"],
        "/sign-in?notice=sign_in_expired"
    );
}

#[tokio::test]
async fn the_operator_can_require_it_for_administrators_and_committee_members() {
    let app = TestApp::spawn_configured(|config| {
        config.secret_key = Some(secret_key());
        config.require_two_factor = true;
    })
    .await;
    app.add_admin("boss@example.org").await;
    let reviewer = app.add_user("dac@example.org", "Dana Committee").await;
    app.make_reviewer(reviewer).await;
    app.add_user("plain@example.org", "Pat Plain").await;

    let admin = app.signed_in("boss@example.org").await;
    for path in ["/admin/users", "/datasets", "/account", "/account/tokens"] {
        let response = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response.headers()["location"],
            "/account/two-factor",
            "{path}"
        );
    }
    let response = admin
        .post(app.url("/account/tokens"))
        .form(&[("name", "sneaky"), ("scope", "read"), ("days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/account/two-factor");
    let page = app_page(&app, &admin, "/account/two-factor").await;
    assert!(page.text("#two-factor-required").contains("requires"));

    let committee = app.signed_in("dac@example.org").await;
    let response = committee.get(app.url("/requests")).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/account/two-factor");
    // A researcher is not asked.
    let researcher = app.signed_in("plain@example.org").await;
    app_page(&app, &researcher, "/account").await;

    let enrolled = enrol(&app, &admin).await;
    app_page(&app, &admin, "/admin/users").await;
    // Required, so it cannot be turned off.
    with_time_left(5).await;
    let next = code_at(&enrolled.secret, now() + 30).await;
    let response = admin
        .post(app.url("/account/two-factor/disable"))
        .form(&[("disable_code", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = Page::new(&response.text().await.unwrap());
    assert!(
        page.text("#disable_code-error")
            .contains("requires two-factor sign-in")
    );
}
