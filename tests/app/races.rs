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

    let (app, _mail) = example_app().await;
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
