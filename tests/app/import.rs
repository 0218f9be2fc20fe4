//! Importing the exchange format: the bundled catalog, re-imports, rejections, organizations.

use serde_json::json;

use crate::helpers::{TestApp, bundled_record, bundled_records};

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn bundled_catalog_imports_every_record_under_its_own_slug() {
    let app = TestApp::spawn().await;

    let report = app.import_bundled().await;

    assert_eq!(report.created.len(), bundled_records().len());
    assert!(report.rejected.is_empty() && report.updated.is_empty());
    assert_eq!(scalar(&app, "select count(*) from datasets").await, 320);
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        320
    );
    let title: String = sqlx::query_scalar("select title from datasets where slug = 'lidc-idri'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(title, "LIDC-IDRI");
}

#[tokio::test]
async fn reimporting_the_same_file_changes_nothing() {
    let app = TestApp::with_catalog().await;
    let updated_before: String = sqlx::query_scalar("select max(updated_at)::text from datasets")
        .fetch_one(&app.db)
        .await
        .unwrap();

    let report = app.import_bundled().await;

    assert_eq!(report.unchanged.len(), 320);
    assert!(report.created.is_empty() && report.updated.is_empty() && report.rejected.is_empty());
    assert_eq!(scalar(&app, "select count(*) from datasets").await, 320);
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        320
    );
    let updated_after: String = sqlx::query_scalar("select max(updated_at)::text from datasets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(updated_before, updated_after);
}

#[tokio::test]
async fn reimport_updates_a_changed_record_and_records_a_revision() {
    let app = TestApp::spawn().await;
    let original = bundled_record("lidc-idri");
    app.import(serde_json::to_string(&[&original]).unwrap().as_bytes())
        .await;
    let mut changed = original.clone();
    changed["subjects_count"] = json!(1012);

    let report = app
        .import(serde_json::to_string(&[&changed]).unwrap().as_bytes())
        .await;

    assert_eq!(report.updated, vec!["lidc-idri"]);
    let (subjects, version): (i64, i32) =
        sqlx::query_as("select subject_count, version from datasets where slug = 'lidc-idri'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((subjects, version), (1012, 2));
    let changes: serde_json::Value = sqlx::query_scalar(
        "select changes from dataset_revisions r join datasets d on d.id = r.dataset_id
         where d.slug = 'lidc-idri' and r.version = 2",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        changes["subject_count"],
        json!({"before": 1010, "after": 1012})
    );
    let page = app.page("/datasets/lidc-idri").await;
    assert!(
        page.source.contains("1,012"),
        "the page shows the new count"
    );
}

#[tokio::test]
async fn a_rejected_record_is_reported_and_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let good = bundled_record("chexpert");
    let mut bad = bundled_record("lidc-idri");
    bad["modalities"] = json!(["CT", "XRAY"]);
    bad["publisher_host"] = json!("A Publisher Seen Nowhere Else");
    let mut not_a_count = bundled_record("mimic-cxr-database");
    not_a_count["subjects_count"] = json!("about sixty thousand");

    let report = app
        .import(
            serde_json::to_string(&[good, bad, not_a_count])
                .unwrap()
                .as_bytes(),
        )
        .await;

    assert_eq!(report.created, vec!["chexpert"]);
    assert_eq!(report.rejected.len(), 2);
    let modality = &report.rejected[0];
    assert_eq!(
        (modality.position, modality.id.as_deref()),
        (2, Some("lidc-idri"))
    );
    assert_eq!(modality.field, "modalities");
    assert!(modality.reason.contains("XRAY"), "{}", modality.reason);
    let count = &report.rejected[1];
    assert_eq!(
        (count.id.as_deref(), count.field.as_str()),
        (Some("mimic-cxr-database"), "subjects_count")
    );
    assert_eq!(scalar(&app, "select count(*) from datasets").await, 1);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from organizations where name = 'A Publisher Seen Nowhere Else'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn duplicate_ids_in_one_file_are_rejected_after_the_first() {
    let app = TestApp::spawn().await;
    let record = bundled_record("chexpert");

    let report = app
        .import(
            serde_json::to_string(&[&record, &record])
                .unwrap()
                .as_bytes(),
        )
        .await;

    assert_eq!(report.created, vec!["chexpert"]);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].position, 2);
    assert!(report.rejected[0].reason.contains("more than once"));
}

#[tokio::test]
async fn spellings_of_a_publisher_share_one_organization() {
    let app = TestApp::with_catalog().await;

    let tcia_spellings: i64 = scalar(
        &app,
        "select count(distinct publisher_raw) from datasets d join organizations o on o.id = d.organization_id
         where o.slug = 'tcia'",
    )
    .await;
    let tcia_datasets = scalar(
        &app,
        "select count(*) from datasets d join organizations o on o.id = d.organization_id where o.slug = 'tcia'",
    )
    .await;

    assert_eq!(
        tcia_spellings, 2,
        "'TCIA' and 'TCIA (The Cancer Imaging Archive)'"
    );
    let expected = bundled_records()
        .iter()
        .filter(|r| {
            matches!(
                r["publisher_host"].as_str(),
                Some("TCIA") | Some("TCIA (The Cancer Imaging Archive)")
            )
        })
        .count() as i64;
    assert_eq!(tcia_datasets, expected);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from organizations where slug like 'tcia%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn unknown_access_stays_unknown() {
    let app = TestApp::with_catalog().await;

    let unknown_in_file = bundled_records()
        .iter()
        .filter(|r| r["access"].is_null() || r["access"] == "restricted/unknown")
        .count() as i64;

    assert_eq!(
        scalar(
            &app,
            "select count(*) from datasets where access_level is null"
        )
        .await,
        unknown_in_file
    );
    let unstated = bundled_records()
        .iter()
        .find(|r| r["access"].is_null() && r["access_raw"].is_null())
        .expect("a dataset without stated access");
    let (level, raw): (Option<String>, Option<String>) =
        sqlx::query_as("select access_level::text, access_raw from datasets where slug = $1")
            .bind(unstated["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((level, raw), (None, None));
}

#[tokio::test]
async fn a_file_that_is_not_an_array_is_refused_whole() {
    let app = TestApp::spawn().await;

    let error = radportal::catalog::import::import_json(
        &app.db,
        br#"{"id": "x"}"#,
        &radportal::catalog::import::NoProgress,
    )
    .await
    .unwrap_err();

    assert!(error.to_string().contains("JSON array"), "{error}");
    let error = radportal::catalog::import::import_json(
        &app.db,
        b"[{",
        &radportal::catalog::import::NoProgress,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("not valid JSON"), "{error}");
}

#[tokio::test]
async fn reimport_keeps_curated_facts_the_file_does_not_carry() {
    let app = TestApp::spawn().await;
    let record = bundled_record("lidc-idri");
    app.import(serde_json::to_string(&[&record]).unwrap().as_bytes())
        .await;
    sqlx::query(
        "update datasets set description = 'Curated notes.', contains_phi = true,
                data_use_limitations = array['DUO:0000042'], version = version + 1
         where slug = 'lidc-idri'",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let report = app
        .import(serde_json::to_string(&[&record]).unwrap().as_bytes())
        .await;

    assert_eq!(report.unchanged, vec!["lidc-idri"], "{:?}", report.rejected);
    let (description, phi, duo): (String, bool, Vec<String>) = sqlx::query_as(
        "select description, contains_phi, data_use_limitations from datasets where slug = 'lidc-idri'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (description.as_str(), phi, duo),
        ("Curated notes.", true, vec!["DUO:0000042".to_owned()])
    );
}

#[tokio::test]
async fn reimporting_unchanged_records_leaves_the_catalog_version_alone() {
    let app = TestApp::with_catalog().await;
    let before: i64 = scalar(&app, "select version from catalog_state").await;

    app.import_bundled().await;

    assert_eq!(
        scalar(&app, "select version from catalog_state").await,
        before
    );
}
