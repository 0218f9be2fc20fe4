//! The administrators' overview at `/admin`: requests waiting by committee and overdue, records
//! missing facts, e-mail that could not be sent, broken links and the latest changes.

use reqwest::StatusCode;

use crate::access::{CHEST, RESEARCHER, example_app, page, sign_in};
use crate::helpers::PASSWORD;

/// A request of the example researcher to the thoracic committee, submitted `days` ago.
async fn submitted_days_ago(app: &crate::helpers::TestApp, days: i32, state: &str) {
    sqlx::query(
        "with p as (insert into projects (owner_id, title, research_use, purpose)
                    select id, 'Waiting project', 'Research on waiting.', 'HMB' from users where email = $1
                    returning id, owner_id),
              r as (insert into access_requests (project_id, applicant_id, dac_id, state, requested_days, submitted_at)
                    select p.id, p.owner_id, d.id, $3::request_state, 30, now() - make_interval(days => $2)
                    from p, dacs d where d.slug = 'thoracic-imaging-dac' returning id)
         insert into request_datasets (request_id, dataset_id, dua_version_id, accepted_name, dua_hash, grant_days)
         select r.id, d.id, v.id, 'Riley Researcher', v.content_hash, 30
         from r, datasets d, dua_versions v where d.slug = $4",
    )
    .bind(RESEARCHER)
    .bind(days)
    .bind(state)
    .bind(CHEST)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_overview_shows_waiting_and_overdue_requests_failed_mail_gaps_and_changes() {
    let app = example_app().await;
    app.add_admin("ada@example.org").await;
    submitted_days_ago(&app, 20, "submitted").await;
    submitted_days_ago(&app, 30, "in_review").await;
    submitted_days_ago(&app, 2, "submitted").await;
    // Decided and draft requests wait for nobody.
    submitted_days_ago(&app, 40, "approved").await;
    sqlx::query(
        "insert into outbox (recipient, subject, body, attempts, last_error)
         values ('otto@example.org', 'Your request was approved', 'body', 8, 'connection refused'),
                ('sent@example.org', 'Sent fine', 'body', 1, null)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update datasets set license = null where slug = $1")
        .bind(CHEST)
        .execute(&app.db)
        .await
        .unwrap();
    let admin = app.signed_in_with("ada@example.org", PASSWORD).await;
    let otto = app.add_user("otto@example.org", "Otto Other").await;
    let disabled = crate::access::post(
        &app,
        &admin,
        &format!("/admin/users/{otto}/disable"),
        &[("reason", "Left the institution.")],
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);

    let overview = page(&app, &admin, "/admin").await;

    assert_eq!(overview.text("#waiting-total"), "3");
    assert_eq!(overview.text("#overdue-total"), "2");
    let committees = overview.texts("#waiting-by-committee li");
    assert!(
        committees[0].starts_with("Thoracic Imaging Data Access Committee")
            && committees[0].contains("3 waiting")
            && committees[0].contains("2 overdue"),
        "{committees:?}"
    );
    assert!(
        committees
            .iter()
            .any(|c| c.contains("Neuro") && c.contains("0 waiting"))
    );
    assert_eq!(
        overview.attrs("#overdue-link", "href"),
        ["/review?older_than=14"]
    );
    let mail = overview.text("#failed-mail");
    assert!(
        mail.contains("Your request was approved") && mail.contains("connection refused"),
        "{mail}"
    );
    assert!(
        mail.contains("given up") && !mail.contains("Sent fine"),
        "{mail}"
    );
    let gaps = overview.text("#gaps");
    assert!(gaps.contains("no licence"), "{gaps}");
    assert!(overview.text("#broken").contains("No landing URL failed"));
    let changes = overview.texts("#recent-changes li");
    assert!(
        changes.len() <= 10
            && changes[0].contains("Ada Admin")
            && changes[0].contains(&otto.to_string()),
        "{changes:?}"
    );

    // The overdue link shows exactly the overdue ones in the queue.
    let queue = page(&app, &admin, "/review?older_than=14").await;
    assert_eq!(queue.texts("#queue-table tbody tr").len(), 2);
    // Researchers and reviewers may not see it.
    let researcher = sign_in(&app, RESEARCHER).await;
    let refused = researcher.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
