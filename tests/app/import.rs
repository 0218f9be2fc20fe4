//! Importing the exchange format: the bundled catalog, re-imports, rejections, organizations.

use radportal::catalog::import::ImportReport;
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

/// A small valid record in the exchange format; files of thousands of them span several batches.
fn synthetic(n: usize) -> serde_json::Value {
    json!({
        "id": format!("bulk-{n}"),
        "name": format!("Bulk dataset {n}"),
        "record_type": "institutional",
        "publisher_host": format!("Bulk Publisher {}", n % 7),
        "url": format!("https://example.org/bulk/{n}"),
        "modalities": ["CT", "MR"],
        "body_parts": ["chest"],
        "subjects_count": 100 + n,
        "access": "open",
        "year": 2020,
    })
}

fn synthetic_file(numbers: std::ops::Range<usize>) -> Vec<u8> {
    serde_json::to_vec(&numbers.map(synthetic).collect::<Vec<_>>()).unwrap()
}

/// A file and the report importing it must give (rejections as position, id, field and a piece of
/// the reason).
#[derive(Default)]
struct Mixed {
    records: Vec<serde_json::Value>,
    created: Vec<String>,
    updated: Vec<String>,
    unchanged: Vec<String>,
    rejected: Vec<(usize, Option<String>, String, String)>,
}

impl Mixed {
    /// Records `base` (already imported) and `new`, interleaved so that every batch holds each
    /// kind: every `change_every`th base record changed, every 250th new one with a modality the
    /// catalog does not know, and, with `invalid`, one publisher name too long for the database and
    /// one id repeated.
    fn build(
        base: std::ops::Range<usize>,
        new: std::ops::Range<usize>,
        change_every: usize,
        invalid: bool,
    ) -> Self {
        let mut mixed = Self::default();
        let mut base = base.peekable();
        let mut new = new.peekable();
        let first_new = *new.peek().unwrap();
        while base.peek().is_some() || new.peek().is_some() {
            if let Some(n) = base.next() {
                let mut record = synthetic(n);
                if n % change_every == 0 {
                    record["subjects_count"] = json!(101 + n);
                    mixed.updated.push(format!("bulk-{n}"));
                } else {
                    mixed.unchanged.push(format!("bulk-{n}"));
                }
                mixed.records.push(record);
            }
            if let Some(n) = new.next() {
                let mut record = synthetic(n);
                let position = mixed.records.len() + 1;
                let id = Some(format!("bulk-{n}"));
                if invalid && n % 250 == 0 {
                    record["modalities"] = json!(["CT", "XRAY"]);
                    mixed
                        .rejected
                        .push((position, id, "modalities".into(), "XRAY".into()));
                } else if invalid && n == first_new + 501 {
                    record["publisher_host"] = json!("P".repeat(250));
                    mixed.rejected.push((
                        position,
                        id,
                        "organizations_name_length".into(),
                        "breaks the catalog rule organizations_name_length".into(),
                    ));
                } else if invalid && n == first_new + 903 {
                    record = synthetic(first_new + 1);
                    mixed.rejected.push((
                        position,
                        Some(format!("bulk-{}", first_new + 1)),
                        "id".into(),
                        "appears more than once".into(),
                    ));
                } else {
                    mixed.created.push(format!("bulk-{n}"));
                }
                mixed.records.push(record);
            }
        }
        mixed
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.records).unwrap()
    }

    /// Every valid record of the file, in the file's order.
    fn valid(&self) -> Vec<String> {
        let rejected: Vec<usize> = self.rejected.iter().map(|r| r.0).collect();
        self.records
            .iter()
            .enumerate()
            .filter(|(index, _)| !rejected.contains(&(index + 1)))
            .map(|(_, record)| record["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn assert_rejections(&self, report: &ImportReport) {
        assert_eq!(
            report.rejected.len(),
            self.rejected.len(),
            "{:?}",
            report.rejected
        );
        for (rejection, (position, id, field, reason)) in report.rejected.iter().zip(&self.rejected)
        {
            assert_eq!(
                (rejection.position, &rejection.id, &rejection.field),
                (*position, id, field),
                "{rejection:?}"
            );
            assert!(rejection.reason.contains(reason.as_str()), "{rejection:?}");
        }
    }
}

/// Everything an import could change: datasets with their versions and times, revisions,
/// organizations and the catalog version.
async fn catalog_fingerprint(app: &TestApp) -> (String, i64, i64, i64) {
    let datasets: String = sqlx::query_scalar(
        "select coalesce(md5(string_agg(slug || ':' || version || ':' || updated_at::text || ':'
                || organization_id || ':' || coalesce(subject_count, -1), ',' order by slug)), '')
         from datasets",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    (
        datasets,
        scalar(app, "select count(*) from dataset_revisions").await,
        scalar(app, "select count(*) from organizations").await,
        scalar(app, "select version from catalog_state").await,
    )
}

#[tokio::test]
async fn a_mixed_file_of_thousands_gives_the_exact_report_and_one_revision_per_changed_record() {
    let app = TestApp::spawn().await;
    app.import(&synthetic_file(0..2500)).await;
    let mixed = Mixed::build(0..2500, 2500..4200, 5, true);

    let report = app.import(&mixed.bytes()).await;

    assert_eq!(report.created, mixed.created);
    assert_eq!(report.updated, mixed.updated);
    assert_eq!(report.unchanged, mixed.unchanged);
    mixed.assert_rejections(&report);
    assert_eq!(report.total(), mixed.records.len());
    let created = mixed.created.len() as i64;
    let updated = mixed.updated.len() as i64;
    assert_eq!(
        scalar(&app, "select count(*) from datasets").await,
        2500 + created
    );
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        2500 + created + updated
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from datasets d
             where (select count(*) from dataset_revisions r where r.dataset_id = d.id) <> d.version"
        )
        .await,
        0,
        "one revision per version"
    );
    assert_eq!(
        scalar(&app, "select count(*) from datasets where version = 2").await,
        updated
    );
    let (changes, snapshot): (serde_json::Value, serde_json::Value) = sqlx::query_as(
        "select changes, snapshot from dataset_revisions r join datasets d on d.id = r.dataset_id
         where d.slug = 'bulk-5' and r.version = 2",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        changes["subject_count"],
        json!({"before": 105, "after": 106})
    );
    assert_eq!(snapshot["subject_count"], 106);
    let new = radportal::catalog::db::find_dataset(&app.db, &mixed.created[0])
        .await
        .unwrap()
        .unwrap();
    let (changes, snapshot): (serde_json::Value, serde_json::Value) = sqlx::query_as(
        "select changes, snapshot from dataset_revisions where dataset_id = $1 and version = 1",
    )
    .bind(new.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        changes,
        serde_json::Value::Object(new.fields.changes_since(None)),
        "a new dataset's first revision has every field that has a value"
    );
    assert_eq!(snapshot, serde_json::to_value(&new.fields).unwrap());
    assert_eq!(
        scalar(&app, "select count(*) from organizations").await,
        7,
        "the organization of the refused record is not created"
    );
}

#[tokio::test]
async fn importing_a_mixed_file_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    app.import(&synthetic_file(0..2500)).await;
    let mixed = Mixed::build(0..2500, 2500..4200, 5, true);
    let first = app.import(&mixed.bytes()).await;
    let before = catalog_fingerprint(&app).await;

    let second = app.import(&mixed.bytes()).await;

    assert!(second.created.is_empty() && second.updated.is_empty());
    assert_eq!(second.unchanged, mixed.valid());
    assert_eq!(second.rejected, first.rejected);
    assert_eq!(catalog_fingerprint(&app).await, before);
}

#[tokio::test]
async fn a_record_a_curator_edited_keeps_the_curated_facts_when_it_changes_in_the_file() {
    use radportal::catalog::curation::{self, Updated};
    use radportal::catalog::db::{self, organizations};

    let app = TestApp::spawn().await;
    app.import(&synthetic_file(0..2100)).await;
    let admin = app.add_admin("ada@example.org").await;
    let current = db::find_dataset(&app.db, "bulk-2050")
        .await
        .unwrap()
        .unwrap();
    let mut curated = current.fields.clone();
    curated.description = "Curated description.".to_owned();
    curated.access_instructions = "Ask the curator.".to_owned();
    curated.data_use_limitations = vec!["DUO:0000042".to_owned()];
    curated.contains_phi = true;
    let organization_id = organizations::id_by_slug(&app.db, &curated.organization_slug)
        .await
        .unwrap()
        .unwrap();
    let saved = curation::update_dataset(
        &app.db,
        admin,
        "bulk-2050",
        current.version,
        organization_id,
        &curated,
    )
    .await
    .unwrap();
    assert_eq!(saved, Updated::Saved { version: 2 });
    let mut records: Vec<serde_json::Value> = (0..2100).map(synthetic).collect();
    records[2050]["subjects_count"] = json!(9999);
    records[2050]["description"] = json!("The file's description.");

    let report = app.import(&serde_json::to_vec(&records).unwrap()).await;

    assert_eq!(report.updated, vec!["bulk-2050"]);
    assert_eq!(report.unchanged.len(), 2099);
    let stored = db::find_dataset(&app.db, "bulk-2050")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.fields.subject_count, Some(9999));
    assert_eq!(stored.fields.description, "Curated description.");
    assert_eq!(stored.fields.access_instructions, "Ask the curator.");
    assert_eq!(stored.fields.data_use_limitations, ["DUO:0000042"]);
    assert!(stored.fields.contains_phi);
    let changes: serde_json::Value = sqlx::query_scalar(
        "select changes from dataset_revisions where dataset_id = $1 and version = 3",
    )
    .bind(stored.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        changes["subject_count"],
        json!({"before": 2150, "after": 9999})
    );
    for curated_field in ["description", "access_instructions", "data_use_limitations"] {
        assert!(changes.get(curated_field).is_none(), "{changes}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_imports_of_one_file_at_once_write_each_dataset_and_revision_once() {
    const PARALLEL: usize = 12;
    // Each import holds a connection from start to end (as twelve `radportal import` commands
    // would, each with a pool of its own); the server's own work needs a few more.
    let app = TestApp::spawn_configured(|config| {
        config.db_max_connections = PARALLEL as u32 + 8;
        config.db_acquire_timeout = std::time::Duration::from_secs(60);
    })
    .await;
    app.import(&synthetic_file(0..1000)).await;
    let mixed = Mixed::build(0..1000, 1000..3500, 4, false);
    let bytes = std::sync::Arc::new(mixed.bytes());

    let imports = (0..PARALLEL).map(|_| {
        let pool = app.db.clone();
        let bytes = bytes.clone();
        tokio::spawn(async move {
            radportal::catalog::import::import_json(
                &pool,
                &bytes,
                &radportal::catalog::import::NoProgress,
            )
            .await
        })
    });
    let reports: Vec<ImportReport> = futures_util::future::join_all(imports)
        .await
        .into_iter()
        .map(|report| report.unwrap().expect("every import runs to the end"))
        .collect();

    let mut created: Vec<&String> = reports.iter().flat_map(|r| &r.created).collect();
    let mut updated: Vec<&String> = reports.iter().flat_map(|r| &r.updated).collect();
    created.sort();
    updated.sort();
    let mut expected_created: Vec<&String> = mixed.created.iter().collect();
    let mut expected_updated: Vec<&String> = mixed.updated.iter().collect();
    expected_created.sort();
    expected_updated.sort();
    assert_eq!(created, expected_created, "each new dataset created once");
    assert_eq!(
        updated, expected_updated,
        "each changed dataset updated once"
    );
    for report in &reports {
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert_eq!(report.total(), mixed.records.len());
    }
    assert_eq!(scalar(&app, "select count(*) from datasets").await, 3500);
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        3500 + mixed.updated.len() as i64
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from datasets d
             where (select count(*) from dataset_revisions r where r.dataset_id = d.id) <> d.version"
        )
        .await,
        0
    );
    assert_eq!(scalar(&app, "select count(*) from organizations").await, 7);
}

#[tokio::test]
async fn the_dry_run_of_an_upload_reports_exactly_what_its_commit_does() {
    use crate::helpers::Page;
    use reqwest::StatusCode;

    let app = TestApp::spawn().await;
    app.import(&synthetic_file(0..1500)).await;
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
        admin.post(app.url("/admin/import")).multipart(form).send()
    };
    let before = catalog_fingerprint(&app).await;

    // A file with one record the database refuses: reported, nothing written.
    let refused = Mixed::build(0..1500, 1500..2600, 3, true);
    let page = Page::new(
        &upload("refused.json", refused.bytes())
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        page.text("#import-summary"),
        format!(
            "{} records: {} created, {} updated, {} unchanged, {} rejected — nothing has been written yet.",
            refused.records.len(),
            refused.created.len(),
            refused.updated.len(),
            refused.unchanged.len(),
            refused.rejected.len()
        )
    );
    assert!(
        page.text("#rejections")
            .contains("organizations_name_length")
    );
    assert_eq!(page.text("#to-update"), refused.updated.join(", "));
    assert_eq!(catalog_fingerprint(&app).await, before);

    let mixed = Mixed::build(0..1500, 1500..2600, 3, false);
    let dry = Page::new(
        &upload("mixed.json", mixed.bytes())
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let summary = format!(
        "{} records: {} created, {} updated, {} unchanged, 0 rejected",
        mixed.records.len(),
        mixed.created.len(),
        mixed.updated.len(),
        mixed.unchanged.len()
    );
    assert_eq!(
        dry.text("#import-summary"),
        format!("{summary} — nothing has been written yet.")
    );
    assert_eq!(dry.text("#to-create"), mixed.created.join(", "));
    assert_eq!(dry.text("#to-update"), mixed.updated.join(", "));
    assert_eq!(
        catalog_fingerprint(&app).await,
        before,
        "the dry run wrote nothing"
    );
    let action = dry.attrs("#import-report form", "action").remove(0);

    let committed = admin.post(app.url(&action)).send().await.unwrap();

    assert_eq!(committed.status(), StatusCode::OK);
    let committed = Page::new(&committed.text().await.unwrap());
    assert_eq!(committed.text("#import-summary"), format!("{summary}."));
    assert_eq!(committed.text("#to-create"), dry.text("#to-create"));
    assert_eq!(committed.text("#to-update"), dry.text("#to-update"));
    assert_eq!(scalar(&app, "select count(*) from datasets").await, 2600);
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        (2600 + mixed.updated.len()) as i64
    );
    assert_eq!(
        scalar(&app, "select count(*) from datasets where version = 2").await,
        mixed.updated.len() as i64
    );
}

#[tokio::test]
async fn reimporting_unchanged_records_does_not_wait_for_a_dataset_someone_holds() {
    let app = TestApp::spawn().await;
    let file = synthetic_file(0..2100);
    app.import(&file).await;
    let mut holder = app.db.begin().await.unwrap();
    sqlx::query("select id from datasets where slug = 'bulk-2050' for update")
        .execute(&mut *holder)
        .await
        .unwrap();

    let report = tokio::time::timeout(std::time::Duration::from_secs(30), app.import(&file))
        .await
        .expect("the import does not wait for the lock");

    assert_eq!(report.unchanged.len(), 2100);
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn a_batch_cancelled_by_a_deadlock_is_written_again() {
    let app = TestApp::spawn().await;
    app.import(&synthetic_file(1..2)).await;
    // The import's connection looks for deadlocks after 5 s of waiting, the other one only after a
    // minute, so PostgreSQL cancels the import's batch.
    sqlx::query(&format!(
        r#"alter database "{}" set deadlock_timeout = '5s'"#,
        app.database_name
    ))
    .execute(&app.db)
    .await
    .unwrap();
    let import_pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let mut other = app.db.begin().await.unwrap();
    sqlx::query("set local deadlock_timeout = '60s'")
        .execute(&mut *other)
        .await
        .unwrap();
    sqlx::query("select id from datasets where slug = 'bulk-1' for update")
        .execute(&mut *other)
        .await
        .unwrap();
    let mut changed = synthetic(1);
    changed["subjects_count"] = json!(5000);
    let file = serde_json::to_vec(&[synthetic(2), changed]).unwrap();

    // The import adds bulk-2, then waits for bulk-1.
    let import = tokio::spawn(async move {
        radportal::catalog::import::import_json(
            &import_pool,
            &file,
            &radportal::catalog::import::NoProgress,
        )
        .await
    });
    let mut waiting = false;
    for _ in 0..200 {
        waiting = scalar(
            &app,
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .await
            == 1;
        if waiting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting, "the import waits for bulk-1");
    // Adding bulk-2 here waits for the import, which waits for this transaction.
    let added = sqlx::query(
        "insert into datasets (organization_id, slug, title, source_kind)
         select organization_id, 'bulk-2', 'Added meanwhile', source_kind from datasets
         where slug = 'bulk-1'",
    )
    .execute(&mut *other)
    .await;
    assert!(added.is_ok(), "the import's batch was cancelled: {added:?}");
    other.rollback().await.unwrap();

    let report = import.await.unwrap().expect("the import runs to the end");

    assert_eq!(report.created, vec!["bulk-2"]);
    assert_eq!(report.updated, vec!["bulk-1"]);
    assert!(report.rejected.is_empty());
    assert_eq!(
        scalar(&app, "select count(*) from dataset_revisions").await,
        3
    );
}
