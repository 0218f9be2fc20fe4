//! Signing in and out: sessions in cookies, rotation, failures, disabled accounts, cross-site posts.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, Page, TestApp};

async fn add_user(app: &TestApp, email: &str, is_admin: bool) -> i64 {
    if is_admin {
        app.add_admin(email).await
    } else {
        app.add_user(email, "Rhea Searcher").await
    }
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/sign-in"))
        .form(&[
            ("email", email),
            ("password", password),
            ("next", "/account"),
        ])
        .send()
        .await
        .unwrap()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("radportal_session="))
        .map(str::to_owned)
}

#[tokio::test]
async fn signing_in_sets_a_protected_cookie_and_opens_the_account() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;

    let response = sign_in(&app, "Rhea@Example.org", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/account");
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let account = app.page("/account").await;
    assert_eq!(account.text("#account-email"), "rhea@example.org");
    assert_eq!(account.text("#account-role"), "Researcher");
}

#[tokio::test]
async fn wrong_password_and_unknown_address_get_the_same_answer() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;

    let wrong = sign_in(&app, "rhea@example.org", "not the password").await;
    let unknown = sign_in(&app, "nobody@example.org", PASSWORD).await;

    for response in [wrong, unknown] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(session_cookie(&response).is_none());
        let page = Page::new(&response.text().await.unwrap());
        assert_eq!(
            page.text(".form-error"),
            "The e-mail address or the password is not right."
        );
    }
    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_account_page_sends_visitors_to_sign_in_and_back() {
    let app = TestApp::spawn().await;

    let response = app.get("/account").await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/sign-in?next=%2Faccount");
}

#[tokio::test]
async fn a_token_planted_before_sign_in_is_worthless_after_it() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;
    let planted = "ab".repeat(32);

    let response = app
        .client
        .post(app.url("/sign-in"))
        .header("cookie", format!("radportal_session={planted}"))
        .form(&[("email", "rhea@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();

    let cookie = session_cookie(&response).unwrap();
    assert!(
        !cookie.contains(&planted),
        "the session id is new at sign-in"
    );
    let with_planted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/account"))
        .header("cookie", format!("radportal_session={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_planted.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;
    let cookie = session_cookie(&sign_in(&app, "rhea@example.org", PASSWORD).await).unwrap();
    let token = cookie.split(';').next().unwrap().to_owned();

    let response = app.client.post(app.url("/sign-out")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&response).unwrap().contains("Max-Age=0"));
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/account"))
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replayed.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_loses_its_session() {
    let app = TestApp::spawn().await;
    let id = add_user(&app, "rhea@example.org", false).await;
    sign_in(&app, "rhea@example.org", PASSWORD).await;
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);

    sqlx::query("update users set disabled_at = now() where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();

    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
    let refused = sign_in(&app, "rhea@example.org", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&refused).is_none());
    let page = Page::new(&refused.text().await.unwrap());
    assert!(page.text(".form-error").contains("disabled"));
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;

    let response = app
        .client
        .post(app.url("/sign-in"))
        .header("origin", "https://attacker.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "rhea@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&response).is_none());
}

#[tokio::test]
async fn sign_in_only_returns_to_pages_of_this_site() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;

    let response = app
        .client
        .post(app.url("/sign-in"))
        .form(&[
            ("email", "rhea@example.org"),
            ("password", PASSWORD),
            ("next", "//attacker.example/"),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["location"], "/account");
}

#[tokio::test]
async fn a_notice_in_the_link_shows_only_the_portals_own_text() {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;
    let signed_in = app.signed_in("rhea@example.org").await;

    let known = app.page("/sign-in?notice=verified").await;
    assert_eq!(
        known.text("#notice"),
        "Your e-mail address is confirmed. You can sign in now."
    );

    let crafted = [
        "%3Cscript%3Ealert(%22owned%22)%3C%2Fscript%3E",
        "Your+account+is+suspended.+Call+555-0100+to+restore+it.",
        "Access+revoked.",
        "profile",
        "profile_saved%20",
    ];
    for notice in crafted {
        for (path, client) in [
            ("/sign-in", &app.client),
            ("/account", &signed_in),
            ("/access", &signed_in),
        ] {
            let response = client
                .get(app.url(&format!("{path}?notice={notice}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path} {notice}");
            let page = Page::new(&response.text().await.unwrap());
            assert!(
                page.texts("#notice").is_empty(),
                "{path}?notice={notice} shows a notice"
            );
            for words in ["owned", "555-0100", "Access revoked"] {
                assert!(
                    !page.source.contains(words),
                    "{path}?notice={notice} shows {words}"
                );
            }
        }
    }
}

#[tokio::test]
async fn with_nowhere_to_return_to_reviewers_land_on_their_queue_and_administrators_on_the_overview()
 {
    let app = TestApp::spawn().await;
    add_user(&app, "rhea@example.org", false).await;
    let reviewer = add_user(&app, "rowan@example.org", false).await;
    app.make_reviewer(reviewer).await;
    add_user(&app, "ada@example.org", true).await;

    for (email, landing) in [
        ("rhea@example.org", "/account"),
        ("rowan@example.org", "/review"),
        ("ada@example.org", "/admin"),
    ] {
        let client = crate::helpers::new_client();
        let response = app.sign_in_with(&client, email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email}");
        assert_eq!(response.headers()["location"], landing, "{email}");
        // A page to return to wins over the landing page.
        let response = client
            .post(app.url("/sign-in"))
            .form(&[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/datasets?q=lung"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["location"],
            "/datasets?q=lung",
            "{email}"
        );
        // Someone signed in who opens the sign-in page is sent on to the same place.
        let again = client.get(app.url("/sign-in")).send().await.unwrap();
        assert_eq!(again.headers()["location"], landing, "{email}");
    }
}

#[tokio::test]
async fn the_sign_in_link_returns_to_the_page_of_this_site_it_was_followed_from() {
    let app = TestApp::spawn().await;
    add_user(&app, "ada@example.org", true).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let form_from = |referer: String| {
        let app = &app;
        async move {
            let response = crate::helpers::new_client()
                .get(app.url("/sign-in"))
                .header("referer", referer)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            Page::new(&response.text().await.unwrap()).attrs("input[name=next]", "value")
        }
    };

    let next = form_from(format!("http://{host}/datasets/lidc-idri?from=search")).await;
    assert_eq!(next, ["/datasets/lidc-idri?from=search"]);
    // Another site, or a page about signing in, is not returned to: the role decides.
    assert_eq!(
        form_from("https://elsewhere.example/datasets".to_owned()).await,
        [""]
    );
    assert_eq!(form_from(format!("http://{host}/register")).await, [""]);

    let response = app
        .client
        .post(app.url("/sign-in"))
        .form(&[
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("next", next[0].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        "/datasets/lidc-idri?from=search"
    );
}
