//! Rules that say "once" or "at most", fired at once: many parallel attempts, then a count.

use futures_util::future::join_all;
use radportal::auth::bootstrap::create_first_admin;
use radportal::auth::model::Email;

use crate::helpers::{TestApp, password_hash};

/// How many attempts each race fires at once.
const PARALLEL: usize = 12;

#[tokio::test]
async fn instances_starting_together_create_exactly_one_first_administrator() {
    let app =
        TestApp::spawn_configured(|config| config.db_max_connections = PARALLEL as u32 + 2).await;
    let hash = password_hash().await;

    let attempts = (0..PARALLEL).map(|n| {
        let pool = app.db.clone();
        let hash = hash.clone();
        async move {
            let email = Email::parse(&format!("admin{n}@example.org")).unwrap();
            create_first_admin(&pool, &email, "Administrator", &hash)
                .await
                .unwrap()
        }
    });
    let created = join_all(attempts).await;

    assert_eq!(created.iter().filter(|created| **created).count(), 1);
    let admins: i64 = sqlx::query_scalar("select count(*) from users where is_admin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn a_cart_submitted_many_times_at_once_makes_one_request_per_committee() {
    use crate::access::{
        BRAIN, CHEST, RESEARCHER, add_to_cart, create_project, dataset_id, example_app, sign_in,
    };

    let app = example_app().await;
    let researcher = sign_in(&app, RESEARCHER).await;
    let project = create_project(&app, &researcher, &[]).await.to_string();
    add_to_cart(&app, &researcher, CHEST).await;
    add_to_cart(&app, &researcher, BRAIN).await;
    let mut form = vec![
        ("project".to_owned(), project),
        ("days".to_owned(), "180".to_owned()),
        ("acknowledge".to_owned(), "on".to_owned()),
    ];
    for slug in [CHEST, BRAIN] {
        form.push((
            format!("sign_{}", dataset_id(&app, slug).await),
            "Riley Researcher".to_owned(),
        ));
    }

    let submissions =
        (0..PARALLEL).map(|_| researcher.post(app.url("/cart/submit")).form(&form).send());
    let answers = join_all(submissions).await;

    for answer in &answers {
        let status = answer.as_ref().unwrap().status();
        assert!(
            status.is_redirection() || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{status}"
        );
    }
    let requests: i64 = sqlx::query_scalar("select count(*) from access_requests")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(requests, 2, "one request for each of the two committees");
    let accepted: i64 = sqlx::query_scalar("select count(*) from request_datasets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accepted, 2);
    let cart: i64 = sqlx::query_scalar("select count(*) from cart_items")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cart, 0);
}

#[tokio::test]
async fn agreement_versions_published_at_once_are_numbered_in_turn() {
    use radportal::access::governance::{NewVersion, publish_version};

    let app =
        TestApp::spawn_configured(|config| config.db_max_connections = PARALLEL as u32 + 2).await;
    assert!(
        radportal::access::example::seed_if_empty(&app.db)
            .await
            .unwrap()
    );
    let admin = app.add_admin("curator@example.org").await;
    let dua: i64 = sqlx::query_scalar("select id from duas order by id limit 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let before: i32 = sqlx::query_scalar("select max(version) from dua_versions where dua_id = $1")
        .bind(dua)
        .fetch_one(&app.db)
        .await
        .unwrap();

    let publications = (0..PARALLEL).map(|n| {
        let pool = app.db.clone();
        async move {
            let body = format!("# Terms, revision {n}\n\nThe data stay on the research cluster.");
            let version = NewVersion {
                body: &body,
                effective_on: time::macros::date!(2027 - 01 - 01),
            };
            publish_version(&pool, admin, dua, &version, 30).await
        }
    });
    let numbers = join_all(publications).await;

    let mut numbers: Vec<i32> = numbers.into_iter().map(Result::unwrap).collect();
    numbers.sort_unstable();
    let expected: Vec<i32> = (before + 1..=before + PARALLEL as i32).collect();
    assert_eq!(numbers, expected, "every publication got its own number");
}

#[tokio::test]
async fn parallel_wrong_passwords_meet_the_limit_of_five() {
    let app =
        TestApp::spawn_configured(|config| config.db_max_connections = PARALLEL as u32 + 2).await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    let guesses = (0..PARALLEL * 3).map(|n| {
        let app = &app;
        async move {
            app.sign_in_with(
                &crate::helpers::new_client(),
                "rhea@example.org",
                &format!("wrong password {n}"),
            )
            .await
            .status()
        }
    });
    let answers = join_all(guesses).await;

    let checked = answers
        .iter()
        .filter(|status| **status == reqwest::StatusCode::UNAUTHORIZED)
        .count();
    let held = answers
        .iter()
        .filter(|status| **status == reqwest::StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 5, "only five passwords were tried: {answers:?}");
    assert_eq!(held, PARALLEL * 3 - 5);
}

#[tokio::test]
async fn parallel_reset_requests_send_at_most_three_mails() {
    let app =
        TestApp::spawn_configured(|config| config.db_max_connections = PARALLEL as u32 + 2).await;
    app.add_user("rhea@example.org", "Rhea Searcher").await;

    let requests = (0..PARALLEL).map(|_| {
        crate::helpers::new_client()
            .post(app.url("/forgot-password"))
            .form(&[("email", "rhea@example.org")])
            .send()
    });
    for answer in join_all(requests).await {
        assert!(answer.unwrap().status().as_u16() < 500);
    }

    let mails: i64 =
        sqlx::query_scalar("select count(*) from outbox where recipient = 'rhea@example.org'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(mails, 3, "the limit is three links an hour");
}
