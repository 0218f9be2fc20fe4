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
