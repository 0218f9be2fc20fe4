//! The administrators' governance screens: committees with members, policy and governed datasets;
//! agreements with new versions that require holders to accept them again.

use reqwest::{Client, StatusCode};

use crate::helpers::{Page, TestApp};

async fn page(app: &TestApp, client: &Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    Page::new(&response.text().await.unwrap())
}

#[tokio::test]
async fn an_administrator_sets_up_a_committee_an_agreement_and_a_governed_dataset() {
    let app = TestApp::spawn().await;
    let record = crate::helpers::bundled_record("lidc-idri");
    app.import(&serde_json::to_vec(&vec![record]).unwrap())
        .await;
    sqlx::query("update datasets set access_level = 'controlled'")
        .execute(&app.db)
        .await
        .unwrap();
    app.add_admin("ada@example.org").await;
    app.add_user("rowan@example.org", "Rowan Reviewer").await;
    let admin = app.signed_in("ada@example.org").await;
    let today = time::OffsetDateTime::now_utc().date().to_string();

    // Mistakes are explained next to their fields, and what was typed is kept.
    let bad = admin
        .post(app.url("/admin/committees"))
        .form(&[
            ("slug", "Bad Slug"),
            ("name", "Thoracic DAC"),
            ("policy", "votes"),
            ("required_votes", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = Page::new(&bad.text().await.unwrap());
    assert!(bad.text("#slug-error").contains("lower-case"));
    assert!(bad.text("#required_votes-error").contains("1 to 20"));
    assert_eq!(bad.attrs("#name", "value"), ["Thoracic DAC"]);

    let created = admin
        .post(app.url("/admin/committees"))
        .form(&[
            ("slug", "thoracic-dac"),
            ("name", "Thoracic DAC"),
            ("policy", "votes"),
            ("required_votes", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let committee = created.headers()["location"].to_str().unwrap().to_owned();
    let added = admin
        .post(app.url(&format!("{committee}/members")))
        .form(&[("email", "Rowan@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let unknown = admin
        .post(app.url(&format!("{committee}/members")))
        .form(&[("email", "ghost@example.org")])
        .send()
        .await
        .unwrap();
    let message = page(
        &app,
        &admin,
        unknown.headers()["location"].to_str().unwrap(),
    )
    .await
    .text("#committee-message");
    assert!(message.contains("must register first"), "{message}");
    // A link cannot make the page say anything of its own.
    let crafted = page(
        &app,
        &admin,
        &format!("{committee}?message=Your+session+expired%3A+sign+in+at+evil.example"),
    )
    .await;
    assert!(crafted.texts("#committee-message").is_empty());

    let agreement = admin
        .post(app.url("/admin/agreements"))
        .form(&[
            ("slug", "imaging-dua"),
            ("title", "Imaging DUA"),
            ("body", "# Imaging DUA\n\nUse the data well.\n"),
            ("effective_on", &today),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(agreement.status(), StatusCode::SEE_OTHER);
    let agreement = agreement.headers()["location"].to_str().unwrap().to_owned();
    let dua_id = agreement
        .trim_start_matches("/admin/agreements/")
        .to_owned();
    let governed = admin
        .post(app.url(&format!("{committee}/datasets")))
        .form(&[
            ("dataset", "lidc-idri"),
            ("dua", dua_id.as_str()),
            ("days", "180"),
            ("credentials", "CITI Human Subjects Research"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(governed.status(), StatusCode::SEE_OTHER);

    let shown = page(&app, &admin, &committee).await;
    assert!(shown.text("#members").contains("Rowan Reviewer"));
    assert!(shown.text("#governed").contains("LIDC-IDRI"));
    let dataset = page(&app, &app.client, "/datasets/lidc-idri").await;
    assert!(dataset.text("#request-access").contains("Thoracic DAC"));
    assert!(
        dataset
            .text("#request-access")
            .contains("CITI Human Subjects Research")
    );
    // The new member is now a reviewer: the review queue opens for them.
    let rowan = app.signed_in("rowan@example.org").await;
    assert_eq!(
        rowan.get(app.url("/review")).send().await.unwrap().status(),
        StatusCode::OK
    );

    // A new version must differ, take effect today or later, and is listed with a diff.
    let same = admin
        .post(app.url(&format!("{agreement}/versions")))
        .form(&[
            ("body", "# Imaging DUA\n\nUse the data well.\n"),
            ("effective_on", &today),
            ("grace_days", "14"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&same.text().await.unwrap())
            .text("#body-error")
            .contains("same as the newest")
    );
    let past = admin
        .post(app.url(&format!("{agreement}/versions")))
        .form(&[
            ("body", "changed"),
            ("effective_on", "2020-01-01"),
            ("grace_days", "14"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        Page::new(&past.text().await.unwrap())
            .text("#effective_on-error")
            .contains("today or later")
    );
    let published = admin
        .post(app.url(&format!("{agreement}/versions")))
        .form(&[
            (
                "body",
                "# Imaging DUA\n\nUse the data well and report publications.\n",
            ),
            ("effective_on", &today),
            ("grace_days", "14"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    let versions = page(&app, &admin, &agreement).await;
    assert_eq!(versions.texts("#versions li").len(), 2);
    let diff = page(&app, &app.client, "/duas/imaging-dua/diff?from=1&to=2").await;
    assert!(diff.text(".diff-added").contains("report publications"));

    // Every step is in the audit log.
    let actions: Vec<String> = sqlx::query_scalar("select action from audit_log order by id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    for action in [
        "dac.created",
        "dac.member_added",
        "dua.created",
        "dataset.governance_set",
        "dua.version_published",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_log_filters_exports_and_shows_the_chain_status() {
    let app = TestApp::spawn().await;
    let admin_id = app.add_admin("ada@example.org").await;
    let rhea = app.add_user("rhea@example.org", "Rhea Searcher").await;
    sqlx::query("update users set name = '=Ada Admin' where id = $1")
        .bind(admin_id)
        .execute(&app.db)
        .await
        .unwrap();
    let admin = app.signed_in("ada@example.org").await;
    admin
        .post(app.url(&format!("/admin/users/{rhea}/disable")))
        .form(&[("reason", "=HYPERLINK(\"evil\")")])
        .send()
        .await
        .unwrap();
    admin
        .post(app.url(&format!("/admin/users/{rhea}/enable")))
        .send()
        .await
        .unwrap();

    let log = page(&app, &admin, "/admin/audit?action=user.disabled").await;
    assert_eq!(log.texts("#audit-table tbody tr").len(), 1);
    assert!(log.text("#audit-table tbody tr").contains("=Ada Admin"));
    assert!(log.text("#chain-status").contains("intact"));
    let target = page(&app, &admin, &format!("/admin/audit?target=user:{rhea}")).await;
    assert_eq!(target.texts("#audit-table tbody tr").len(), 2);
    let nobody = page(&app, &admin, "/admin/audit?actor=nobody").await;
    assert!(nobody.text("#no-entries").contains("Nothing"));
    let tomorrow = (time::OffsetDateTime::now_utc().date() + time::Duration::days(1)).to_string();
    let future = page(&app, &admin, &format!("/admin/audit?from={tomorrow}")).await;
    assert!(future.texts("#audit-table").is_empty());
    let bad = admin
        .get(app.url("/admin/audit?from=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let csv = admin
        .get(app.url("/admin/audit.csv?action=user."))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("user.disabled") && text.contains("user.enabled"));
    // A cell that would start a spreadsheet formula (here the actor's name) is defused.
    assert!(text.contains(",'=Ada Admin,"), "{text}");
    let _ = admin_id;
}

#[tokio::test]
async fn organizations_are_created_and_edited_with_checked_fields() {
    let app = TestApp::spawn().await;
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;

    let bad = admin
        .post(app.url("/admin/organizations"))
        .form(&[
            ("slug", "Example Hospital"),
            ("name", "Example Hospital"),
            ("homepage", "javascript:alert(1)"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = Page::new(&bad.text().await.unwrap());
    assert!(bad.text("#slug-error").contains("lower-case"));
    assert!(bad.text("#homepage-error").contains("https://"));

    let created = admin
        .post(app.url("/admin/organizations"))
        .form(&[
            ("slug", "example-hospital"),
            ("name", "Example Hospital"),
            ("homepage", "https://example.org"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let edited = admin
        .post(app.url("/admin/organizations/example-hospital"))
        .form(&[
            ("name", "Example University Hospital"),
            ("homepage", "https://example.org/hospital"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    let list = page(&app, &admin, "/admin/organizations").await;
    assert!(
        list.text("#organizations-table")
            .contains("Example University Hospital")
    );
    let public = page(&app, &app.client, "/organizations/example-hospital").await;
    assert!(public.text("h1").contains("Example University Hospital"));
    let logged: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where target_type = 'organization' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(logged, ["organization.created", "organization.updated"]);
}
