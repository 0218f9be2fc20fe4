//! Registration, e-mail confirmation and password reset with mail received on a real SMTP server,
//! throttling, sign out everywhere, changing the password, the profile.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use crate::helpers::{PASSWORD, Page, TestApp, new_client, snapshot};

const NEW_PASSWORD: &str = "violet tundra ferry 42";

async fn post(
    app: &TestApp,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

async fn register(
    app: &TestApp,
    client: &Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    post(
        app,
        client,
        "/register",
        &[
            ("name", "Grace Hopper"),
            ("email", email),
            ("institution", "Example University Hospital"),
            ("orcid", "https://orcid.org/0000-0002-1825-0097"),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

async fn body(response: reqwest::Response) -> Page {
    Page::new(&response.text().await.unwrap())
}

#[tokio::test]
async fn a_researcher_registers_confirms_the_address_by_mail_and_signs_in() {
    let app = TestApp::with_mail().await;
    let client = new_client();

    let response = register(&app, &client, "grace@example.org", NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await.text("h1"), "Check your inbox");

    // Before confirming: the right password is told to confirm first, with a way to get a new link.
    let refused = app
        .sign_in_with(&client, "grace@example.org", NEW_PASSWORD)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = body(refused).await;
    assert!(
        page.text(".form-error")
            .contains("confirm your e-mail address")
    );
    assert_eq!(
        page.attrs("form[action='/verify-email/resend']", "method"),
        ["post"]
    );

    let message = app
        .mail_to("grace@example.org", "Confirm your e-mail")
        .await;
    assert!(message.from.contains("no-reply@radportal.local"));
    snapshot::assert_mail!("verification_mail", message);
    let link = message.link("/verify-email");
    // Opening the link shows a button; it does not use the token up by itself.
    let confirm = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    let token = body(confirm)
        .await
        .attrs("input[name=token]", "value")
        .remove(0);
    let confirmed = post(&app, &client, "/verify-email", &[("token", &token)]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(confirmed.headers()["location"], "/sign-in?notice=verified");
    // The link works once.
    let again = post(&app, &client, "/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let signed_in = app
        .sign_in_with(&client, "grace@example.org", NEW_PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let account = Page::new(
        &client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(account.text("#account-name"), "Grace Hopper");
    assert_eq!(account.text("#account-orcid"), "0000-0002-1825-0097");
    assert_eq!(
        account.text("#account-institution"),
        "Example University Hospital"
    );
    assert_eq!(
        account.text("#nav-account"),
        "Grace Hopper",
        "the header shows who is signed in"
    );
}

#[tokio::test]
async fn registration_explains_each_mistake_next_to_its_field_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;

    let response = post(
        &app,
        &app.client,
        "/register",
        &[
            ("name", "  "),
            ("email", "grace@"),
            ("institution", "Example University Hospital"),
            ("orcid", "0000-0002-1825-0098"),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body(response).await;
    assert!(page.text("#name-error").contains("full name"));
    assert!(page.text("#email-error").contains("e-mail address"));
    assert!(page.text("#orcid-error").contains("check digit"));
    assert!(page.text("#password-error").contains("at least 12"));
    assert_eq!(
        page.attrs("#email", "aria-describedby"),
        ["email-error email-hint"]
    );
    assert_eq!(
        page.attrs("#institution", "value"),
        ["Example University Hospital"]
    );
    assert_eq!(page.attrs("#orcid", "value"), ["0000-0002-1825-0098"]);
    assert_eq!(
        page.attrs("#password", "value"),
        [""],
        "passwords are never echoed"
    );
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 0);

    // Mismatched confirmation and a password built from the name are explained too.
    let response = post(
        &app,
        &app.client,
        "/register",
        &[
            ("name", "Grace Hopper"),
            ("email", "grace@example.org"),
            ("password", "hopper-hopper-hopper"),
            ("password_confirm", "x"),
        ],
    )
    .await;
    assert!(
        body(response)
            .await
            .text("#password-error")
            .contains("name or e-mail")
    );
    let response = post(
        &app,
        &app.client,
        "/register",
        &[
            ("name", "Grace Hopper"),
            ("email", "grace@example.org"),
            ("password", NEW_PASSWORD),
            ("password_confirm", "violet tundra ferry 43"),
        ],
    )
    .await;
    assert!(
        body(response)
            .await
            .text("#password_confirm-error")
            .contains("differ")
    );
    // A form with fields missing altogether gets messages, not an error page.
    let response = app
        .client
        .post(app.url("/register"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn registering_a_known_address_looks_the_same_and_mails_the_owner_instead() {
    let app = TestApp::with_mail().await;
    app.add_user("taken@example.org", "Tess Taken").await;

    let known = register(&app, &new_client(), "Taken@example.org", NEW_PASSWORD).await;
    let fresh = register(&app, &new_client(), "fresh@example.org", NEW_PASSWORD).await;

    assert_eq!(known.status(), fresh.status());
    let (known, fresh) = (body(known).await, body(fresh).await);
    assert_eq!(known.text("h1"), fresh.text("h1"));
    let notice = app.mail_to("Taken@example.org", "already have").await;
    assert!(notice.body.contains("/forgot-password"));
    snapshot::assert_mail!("already_registered_mail", notice);
    app.mail_to("fresh@example.org", "Confirm").await;
    // The existing account keeps its password.
    let signed_in = app
        .sign_in_with(&new_client(), "taken@example.org", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_once_by_mailed_link_and_old_sessions_end() {
    let app = TestApp::with_mail().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let old_session = app.signed_in("rhea@example.org").await;

    let unknown = post(
        &app,
        &new_client(),
        "/forgot-password",
        &[("email", "nobody@example.org")],
    )
    .await;
    let known = post(
        &app,
        &new_client(),
        "/forgot-password",
        &[("email", "rhea@example.org")],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(known.status(), StatusCode::OK);
    let (unknown, known) = (body(unknown).await, body(known).await);
    assert_eq!(unknown.text("h1"), known.text("h1"));

    let message = app
        .mail_to("rhea@example.org", "Reset your radportal password")
        .await;
    snapshot::assert_mail!("reset_password_mail", message);
    let link = message.link("/reset-password");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(app.get(&link).await.status(), StatusCode::OK);

    // A weak password is refused with a message, and the token still works afterwards.
    let weak = post(
        &app,
        &new_client(),
        "/reset-password",
        &[
            ("token", &token),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body(weak)
            .await
            .text("#password-error")
            .contains("at least 12")
    );

    let reset = post(
        &app,
        &new_client(),
        "/reset-password",
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        reset.headers()["location"],
        "/sign-in?notice=password_reset"
    );

    // The token cannot be used twice; the old session is over; the new password works.
    let reused = post(
        &app,
        &new_client(),
        "/reset-password",
        &[
            ("token", &token),
            ("password", "another fine passphrase"),
            ("password_confirm", "another fine passphrase"),
        ],
    )
    .await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&link).await.status(), StatusCode::BAD_REQUEST);
    let old = old_session.get(app.url("/account")).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let changed = app
        .mail_to("rhea@example.org", "password was changed")
        .await;
    snapshot::assert_mail!("password_changed_by_reset_mail", changed);
    // Nothing was ever sent to the unknown address, and only a hash of the token is stored.
    assert!(
        app.deliver_mail()
            .await
            .iter()
            .all(|m| !m.to.contains(&"nobody@example.org".to_owned()))
    );
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from email_tokens where encode(token_hash, 'hex') = $1",
    )
    .bind(&token)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_expired_reset_link_is_refused() {
    let app = TestApp::with_mail().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    post(
        &app,
        &new_client(),
        "/forgot-password",
        &[("email", "rhea@example.org")],
    )
    .await;
    let link = app
        .mail_to("rhea@example.org", "Reset")
        .await
        .link("/reset-password");
    let token = link.split("token=").nth(1).unwrap().to_owned();

    sqlx::query("update email_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();

    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(body(page).await.text("main").contains("expired"));
    let reset = post(
        &app,
        &new_client(),
        "/reset-password",
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(reset.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_newer_reset_link_replaces_the_older_one() {
    let app = TestApp::with_mail().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    post(
        &app,
        &new_client(),
        "/forgot-password",
        &[("email", "rhea@example.org")],
    )
    .await;
    let first = app
        .mail_to("rhea@example.org", "Reset")
        .await
        .link("/reset-password");
    post(
        &app,
        &new_client(),
        "/forgot-password",
        &[("email", "rhea@example.org")],
    )
    .await;
    let resets = app.mails_to("rhea@example.org", "Reset").await;
    assert_eq!(resets.len(), 2);
    let second = resets[1].link("/reset-password");

    assert_eq!(app.get(&first).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&second).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled_per_account_whether_or_not_it_exists() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    for email in ["rhea@example.org", "ghost@example.org"] {
        for _ in 0..5 {
            let response = app
                .sign_in_with(&new_client(), email, "wrong password here")
                .await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        // Now even the right password is held back, with a clear message, for both addresses alike.
        let held = app.sign_in_with(&new_client(), email, PASSWORD).await;
        assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(
            body(held)
                .await
                .text(".form-error")
                .contains("Too many unsuccessful sign-in attempts")
        );
    }
    // Another account from the same address is not affected yet.
    app.add_user("other@example.org", "Otto Other").await;
    assert_eq!(
        app.sign_in_with(&new_client(), "other@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // When the window has passed, the account may sign in again.
    sqlx::query("update auth_attempts set attempted_at = now() - interval '16 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn many_failed_sign_ins_from_one_address_are_throttled_across_accounts() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    for n in 0..30 {
        let email = format!("guess{n}@example.org");
        let response = app
            .sign_in_with(&new_client(), &email, "wrong password here")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let held = app
        .sign_in_with(&new_client(), "rhea@example.org", PASSWORD)
        .await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn reset_requests_are_throttled_alike_for_known_and_unknown_addresses() {
    let app = TestApp::with_mail().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    for email in ["rhea@example.org", "ghost@example.org"] {
        for _ in 0..3 {
            let response = post(&app, &new_client(), "/forgot-password", &[("email", email)]).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let held = post(&app, &new_client(), "/forgot-password", &[("email", email)]).await;
        assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(
            body(held)
                .await
                .text(".form-error")
                .contains("Too many links")
        );
    }
    let sent = app
        .deliver_mail()
        .await
        .iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    assert_eq!(sent, 3, "the held-back request sent nothing");
}

#[tokio::test]
async fn unknown_and_known_addresses_take_similar_time_to_refuse() {
    let app = TestApp::spawn().await;
    for n in 0..4 {
        app.add_user(&format!("known{n}@example.org"), "Kim Known")
            .await;
    }
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for n in 0..4 {
        let started = Instant::now();
        app.sign_in_with(
            &new_client(),
            &format!("known{n}@example.org"),
            "wrong password here",
        )
        .await;
        known.push(started.elapsed());
        let started = Instant::now();
        app.sign_in_with(
            &new_client(),
            &format!("unknown{n}@example.org"),
            "wrong password here",
        )
        .await;
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[1], unknown[1]);
    // Both verify an argon2 hash; without the stand-in hash an unknown address would answer many
    // times faster.
    assert!(
        unknown * 2 > known && known * 2 > unknown,
        "known {known:?} vs unknown {unknown:?}"
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let app = TestApp::spawn().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let laptop = app.signed_in("rhea@example.org").await;
    let phone = app.signed_in("rhea@example.org").await;
    let account = Page::new(
        &laptop
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(account.text("#session-count"), "2");

    let response = post(&app, &laptop, "/account/sign-out-everywhere", &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for client in [&laptop, &phone] {
        let page = client.get(app.url("/account")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = TestApp::with_mail().await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;
    let laptop = app.signed_in("rhea@example.org").await;
    let phone = app.signed_in("rhea@example.org").await;

    let wrong = post(
        &app,
        &laptop,
        "/account/password",
        &[
            ("current_password", "not it at all"),
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body(wrong)
            .await
            .text("#current_password-error")
            .contains("not your current password")
    );

    let changed = post(
        &app,
        &laptop,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        laptop
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        phone
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.sign_in_with(&new_client(), "rhea@example.org", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let told = app
        .mail_to("rhea@example.org", "password was changed")
        .await;
    snapshot::assert_mail!("password_changed_on_the_account_page_mail", told);
}

#[tokio::test]
async fn the_profile_is_edited_with_checked_orcid_and_the_change_is_audited() {
    let app = TestApp::spawn().await;
    let id = app.add_user("rhea@example.org", "Rhea Searcher").await;
    let client = app.signed_in("rhea@example.org").await;

    let bad = post(
        &app,
        &client,
        "/account/profile",
        &[
            ("name", "Rhea Searcher"),
            ("institution", "Radiology"),
            ("orcid", "0000-0002-1825-009"),
        ],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body(bad).await;
    assert!(page.text("#orcid-error").contains("0000-0002-1825-0097"));
    assert_eq!(page.attrs("#institution", "value"), ["Radiology"]);

    let good = post(
        &app,
        &client,
        "/account/profile",
        &[
            ("name", "Rhea Q. Searcher"),
            ("institution", "Radiology"),
            ("orcid", "0000-0001-5109-3700"),
        ],
    )
    .await;
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    assert_eq!(good.headers()["location"], "/account?notice=profile_saved");
    let account = Page::new(
        &client
            .get(app.url("/account?notice=profile_saved"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(account.text("#account-name"), "Rhea Q. Searcher");
    assert_eq!(account.text("#account-orcid"), "0000-0001-5109-3700");
    assert_eq!(account.text("#notice"), "Your profile was saved.");
    let details: serde_json::Value = sqlx::query_scalar(
        "select details from audit_log where action = 'account.profile_updated' and actor_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(details["before"]["name"], "Rhea Searcher");
    assert_eq!(details["after"]["name"], "Rhea Q. Searcher");
}

#[tokio::test]
async fn mail_that_cannot_be_delivered_stays_in_the_outbox_for_a_retry() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on `port` any more.
    let app = TestApp::spawn_configured(move |config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        config.outbox_poll = Duration::from_secs(24 * 60 * 60);
    })
    .await;

    register(&app, &new_client(), "grace@example.org", NEW_PASSWORD).await;
    app.send_due_mail().await;

    let (attempts, last_error, unsent, waits): (i32, Option<String>, bool, bool) = sqlx::query_as(
        "select attempts, last_error, sent_at is null, next_attempt_at > now() from outbox",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(attempts, 1, "one attempt, then it waits");
    assert!(last_error.unwrap().contains("SMTP"));
    assert!(unsent, "not marked sent");
    assert!(waits, "the next attempt waits");
}
