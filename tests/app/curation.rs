//! The dataset editor: a draft taken to published, edited twice, the per-field history, restoring the
//! first version, refusal of a stale save, messages by the fields, every step in the audit log, and
//! every field stored in its own column.

use radportal::catalog::curation::{self, Created, SavedOrganization, Updated};
use radportal::catalog::db;
use radportal::catalog::model::{AccessLevel, DatasetFields, OrganizationInput, SourceKind};
use reqwest::{Client, StatusCode};

use crate::helpers::{Page, TestApp};

async fn page(app: &TestApp, client: &Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    Page::new(&response.text().await.unwrap())
}

/// The editor's current values, ready to post back with some changed.
fn form_of(editor: &Page) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::new();
    let inputs =
        scraper::Selector::parse("form.editor input, form.editor textarea, form.editor select")
            .unwrap();
    let selected = scraper::Selector::parse("option[selected]").unwrap();
    for element in editor.html.select(&inputs) {
        let Some(name) = element.value().attr("name") else {
            continue;
        };
        let value = match element.value().name() {
            "textarea" => element.text().collect::<String>(),
            "select" => element
                .select(&selected)
                .next()
                .and_then(|o| o.value().attr("value"))
                .unwrap_or("")
                .to_owned(),
            _ if element.value().attr("type") == Some("checkbox") => {
                if element.value().attr("checked").is_some() {
                    "on".to_owned()
                } else {
                    continue;
                }
            }
            _ => element.value().attr("value").unwrap_or("").to_owned(),
        };
        form.push((name.to_owned(), value));
    }
    form
}

fn set(form: &mut Vec<(String, String)>, name: &str, value: &str) {
    form.retain(|(k, _)| k != name);
    form.push((name.to_owned(), value.to_owned()));
}

#[tokio::test]
async fn a_draft_is_published_edited_twice_and_its_first_version_restored() {
    let app = TestApp::spawn().await;
    app.import(&serde_json::to_vec(&vec![crate::helpers::bundled_record("lidc-idri")]).unwrap())
        .await;
    let organization: String = sqlx::query_scalar("select slug from organizations limit 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;

    // Mistakes are named by their fields, and what was typed is kept.
    let bad = admin
        .post(app.url("/admin/datasets"))
        .form(&[
            ("slug", "Knee MRI!"),
            ("title", ""),
            ("organization_slug", organization.as_str()),
            ("source_kind", "institutional"),
            ("year", "12th"),
            ("landing_url", "not a url"),
            ("description", "**bold**"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = Page::new(&bad.text().await.unwrap());
    for field in ["slug", "title", "year", "landing_url"] {
        assert!(
            !bad.texts(&format!("#{field}-error")).is_empty(),
            "{field} has a message"
        );
    }
    assert_eq!(bad.text("#description"), "**bold**");

    // Preview renders the Markdown without saving.
    let preview = admin
        .post(app.url("/admin/datasets"))
        .form(&[
            ("slug", "knee-mri-study"),
            ("title", "Knee MRI study"),
            ("organization_slug", organization.as_str()),
            ("source_kind", "institutional"),
            ("description", "A **knee** study."),
            ("intent", "preview"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    assert!(
        Page::new(&preview.text().await.unwrap())
            .source
            .contains("<strong>knee</strong>")
    );
    assert_eq!(
        app.get("/datasets/knee-mri-study").await.status(),
        StatusCode::NOT_FOUND
    );

    let created = admin
        .post(app.url("/admin/datasets"))
        .form(&[
            ("slug", "knee-mri-study"),
            ("title", "Knee MRI study"),
            ("summary", "Knee MRI."),
            ("organization_slug", organization.as_str()),
            ("source_kind", "institutional"),
            ("access_level", "controlled"),
            ("modalities", "MR"),
            ("body_parts", "knee"),
            ("intent", "save"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/datasets/knee-mri-study").await.status(),
        StatusCode::NOT_FOUND,
        "a draft is not public"
    );
    let published = admin
        .post(app.url("/admin/datasets/knee-mri-study/status"))
        .form(&[("status", "published")])
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.page("/datasets/knee-mri-study").await.text("h1"),
        "Knee MRI study"
    );

    // Two edits.
    let mut form = form_of(&page(&app, &admin, "/admin/datasets/knee-mri-study/edit").await);
    set(&mut form, "title", "Knee MRI study (3 T)");
    set(&mut form, "intent", "save");
    let first = admin
        .post(app.url("/admin/datasets/knee-mri-study"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let mut form = form_of(&page(&app, &admin, "/admin/datasets/knee-mri-study/edit").await);
    set(&mut form, "subject_count", "412");
    set(&mut form, "intent", "save");
    let second = admin
        .post(app.url("/admin/datasets/knee-mri-study"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.page("/datasets/knee-mri-study").await.text("h1"),
        "Knee MRI study (3 T)"
    );

    // The history shows each version's changed fields; restoring version 1 is a new version.
    let history = page(&app, &admin, "/admin/datasets/knee-mri-study/history").await;
    assert!(
        history
            .text("#version-2")
            .contains("title : Knee MRI study → Knee MRI study (3 T)"),
        "{}",
        history.text("#version-2")
    );
    assert!(
        history
            .text("#version-3")
            .contains("subject_count : — → 412"),
        "{}",
        history.text("#version-3")
    );
    let restored = admin
        .post(app.url("/admin/datasets/knee-mri-study/restore"))
        .form(&[("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let history = page(&app, &admin, "/admin/datasets/knee-mri-study/history").await;
    assert!(history.text("#version-4").contains("restore"));
    assert_eq!(
        app.page("/datasets/knee-mri-study").await.text("h1"),
        "Knee MRI study"
    );
    let count: Option<i64> =
        sqlx::query_scalar("select subject_count from datasets where slug = 'knee-mri-study'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(count, None);

    // All of it in the audit log.
    let log = page(&app, &admin, "/admin/audit?action=dataset.").await;
    let rows = log.texts("#audit-table tbody tr");
    for action in [
        "dataset.created",
        "dataset.status_changed",
        "dataset.updated",
        "dataset.restored",
    ] {
        assert!(
            rows.iter().any(|r| r.contains(action)),
            "{action} in the audit log"
        );
    }
}

#[tokio::test]
async fn a_second_admin_saving_over_a_newer_version_is_refused_and_shown_what_changed() {
    let app = TestApp::spawn().await;
    app.import(&serde_json::to_vec(&vec![crate::helpers::bundled_record("lidc-idri")]).unwrap())
        .await;
    app.add_admin("ada@example.org").await;
    app.add_admin("bob@example.org").await;
    let (ada, bob) = (
        app.signed_in("ada@example.org").await,
        app.signed_in("bob@example.org").await,
    );
    let mut ada_form = form_of(&page(&app, &ada, "/admin/datasets/lidc-idri/edit").await);
    let mut bob_form = form_of(&page(&app, &bob, "/admin/datasets/lidc-idri/edit").await);

    set(&mut ada_form, "summary", "Ada's summary.");
    set(&mut ada_form, "intent", "save");
    assert_eq!(
        ada.post(app.url("/admin/datasets/lidc-idri"))
            .form(&ada_form)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    set(&mut bob_form, "year", "2011");
    set(&mut bob_form, "intent", "save");
    let refused = bob
        .post(app.url("/admin/datasets/lidc-idri"))
        .form(&bob_form)
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page_text = Page::new(&refused.text().await.unwrap());
    assert!(
        page_text.text("#conflict").contains("summary"),
        "{}",
        page_text.text("#conflict")
    );
    assert!(page_text.text("#conflict").contains("Ada's summary."));
    assert_eq!(
        page_text.attrs("#year", "value"),
        ["2011"],
        "Bob's typing is kept"
    );
    let summary: String =
        sqlx::query_scalar("select summary from datasets where slug = 'lidc-idri'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(summary, "Ada's summary.", "no silent overwrite");
}

#[tokio::test]
async fn catalog_health_lists_gaps_and_likely_duplicates_on_the_page_and_the_command_line() {
    let app = TestApp::with_catalog().await;
    // A copy of a real record under another id: same DOI, same URL, same title.
    let mut copy = crate::helpers::bundled_record("lidc-idri");
    copy["id"] = serde_json::json!("lidc-idri-copy");
    app.import(&serde_json::to_vec(&vec![copy]).unwrap()).await;
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;

    let health = page(&app, &admin, "/admin/health").await;
    let duplicates = health.text("#duplicates");
    assert!(
        duplicates.contains("lidc-idri and lidc-idri-copy"),
        "{duplicates}"
    );
    assert!(duplicates.contains("same DOI"), "{duplicates}");
    let missing = health.texts("#missing tbody tr");
    let without_licence: i64 = sqlx::query_scalar(
        "select count(*) from datasets where status = 'published' and license is null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        without_licence > 0 && missing.len() as i64 >= without_licence,
        "{} rows for {without_licence}",
        missing.len()
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_radportal"))
        .args(["health", "--json"])
        .env("DATABASE_URL", &app.database_url)
        .env("RADPORTAL_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(4),
        "duplicates make the command fail"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pairs = report["duplicates"].as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|d| d["first"] == "lidc-idri" && d["second"] == "lidc-idri-copy"),
        "{pairs:?}"
    );
    assert_eq!(pairs.len(), health.texts("#duplicates li").len());
    assert_eq!(
        report["missing_facts"].as_array().unwrap().len(),
        missing.len()
    );
}

async fn upload(
    app: &TestApp,
    admin: &Client,
    name: &'static str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
    );
    admin
        .post(app.url("/admin/import"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_json_import_is_checked_row_by_row_and_refused_whole_when_a_row_is_wrong() {
    let app = TestApp::spawn().await;
    app.import(&serde_json::to_vec(&vec![crate::helpers::bundled_record("lidc-idri")]).unwrap())
        .await;
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;
    let mut bad = crate::helpers::bundled_record("chexpert");
    bad["year"] = serde_json::json!(1066);
    let file = serde_json::to_vec(&vec![
        crate::helpers::bundled_record("lidc-idri"),
        crate::helpers::bundled_record("nih-chestx-ray14-chestx-ray8"),
        bad,
    ])
    .unwrap();

    let report = upload(&app, &admin, "batch.json", file).await;
    assert_eq!(report.status(), StatusCode::OK);
    let report = Page::new(&report.text().await.unwrap());
    assert_eq!(
        report.text("#import-summary"),
        "3 records: 1 created, 0 updated, 1 unchanged, 1 rejected — nothing has been written yet."
    );
    assert!(report.text("#rejections").contains("year"));
    assert!(
        report.texts("#import-report button").is_empty(),
        "no commit while a row is refused"
    );
    let count: i64 = sqlx::query_scalar("select count(*) from datasets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "the dry run wrote nothing");

    let not_json = upload(&app, &admin, "broken.json", b"[{".to_vec()).await;
    assert_eq!(not_json.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&not_json.text().await.unwrap())
            .text("#import-error")
            .contains("not valid JSON")
    );
}

#[tokio::test]
async fn a_csv_import_from_the_template_is_dry_run_then_committed_whole() {
    let app = TestApp::spawn().await;
    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;
    let template = admin
        .get(app.url("/admin/import/template.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csv = format!(
        "{template}second-knee-mri,Second knee MRI,knee two;KMRI,institutional,https://example.org/knee2,,,Example University Hospital,MR;CT,knee,classification,80,,,open,CC BY 4.0,2025,,Human,\n"
    );

    let dry = Page::new(
        &upload(&app, &admin, "knees.csv", csv.into_bytes())
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(dry.text("#to-create"), "example-knee-mri, second-knee-mri");
    let action = dry.attrs("#import-report form", "action").remove(0);
    assert_eq!(
        app.get("/datasets/second-knee-mri").await.status(),
        StatusCode::NOT_FOUND
    );

    let committed = admin.post(app.url(&action)).send().await.unwrap();
    assert_eq!(committed.status(), StatusCode::OK);
    assert!(
        Page::new(&committed.text().await.unwrap())
            .text("#report-heading")
            .starts_with("Imported")
    );
    let knee = app.page("/datasets/second-knee-mri").await;
    assert_eq!(knee.text("h1"), "Second knee MRI");
    let modalities: Vec<String> =
        sqlx::query_scalar("select modalities from datasets where slug = 'second-knee-mri'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(modalities, ["MR", "CT"]);
    let logged: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'catalog.imported'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(logged, 1);
    assert_eq!(
        admin.post(app.url(&action)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "a file is committed once"
    );

    let typo = upload(
        &app,
        &admin,
        "typo.csv",
        b"id,name,modality\nx,X,MR\n".to_vec(),
    )
    .await;
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Page::new(&typo.text().await.unwrap())
            .text("#import-error")
            .contains("unknown column 'modality'")
    );
}

#[tokio::test]
async fn the_link_check_finds_landing_pages_that_are_gone_or_unreachable() {
    use axum::routing::get;
    let app = TestApp::spawn().await;
    let records: Vec<serde_json::Value> = ["lidc-idri", "chexpert", "padchest"]
        .iter()
        .map(|id| crate::helpers::bundled_record(id))
        .collect();
    app.import(&serde_json::to_vec(&records).unwrap()).await;
    // A web server on loopback: one page answers, one is gone; and a port where nothing listens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/ok", get(|| async { "here" }))
        .route(
            "/gone",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "gone") }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (slug, url) in [
        ("lidc-idri", format!("{site}/ok")),
        ("chexpert", format!("{site}/gone")),
        ("padchest", format!("http://127.0.0.1:{closed}/")),
    ] {
        sqlx::query("update datasets set landing_url = $2 where slug = $1")
            .bind(slug)
            .bind(url)
            .execute(&app.db)
            .await
            .unwrap();
    }

    assert_eq!(
        radportal::catalog::links::check_due(&app.db, 24, 10)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        radportal::catalog::links::check_due(&app.db, 24, 10)
            .await
            .unwrap(),
        0,
        "checked ones wait for the interval"
    );

    app.add_admin("ada@example.org").await;
    let admin = app.signed_in("ada@example.org").await;
    let health = page(&app, &admin, "/admin/health").await;
    let broken = health.texts("#broken-links li");
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken
            .iter()
            .any(|b| b.contains("CheXpert") && b.contains("answered HTTP 404")),
        "{broken:?}"
    );
    assert!(
        broken.iter().any(|b| b.contains("could not be reached")),
        "{broken:?}"
    );
    assert!(health.text("#links-heading").contains("(2)"));
}

/// A record with a different value in every field, so that a field written to or read from another
/// field's column shows.
fn every_field_set(slug: &str, organization_slug: &str, variant: &str) -> DatasetFields {
    let text = |field: &str| format!("{field} {variant}");
    let list = |field: &str| {
        vec![
            format!("{field} {variant} 1"),
            format!("{field} {variant} 2"),
        ]
    };
    let n = i64::from(variant == "b");
    DatasetFields {
        slug: slug.to_owned(),
        title: text("title"),
        aliases: list("aliases"),
        summary: text("summary"),
        description: text("description"),
        organization_slug: organization_slug.to_owned(),
        publisher_raw: Some(text("publisher_raw")),
        landing_url: Some(format!("https://example.org/landing/{variant}")),
        alt_urls: vec![format!("https://example.org/alt/{variant}")],
        doi: Some(format!("10.5555/doi-{variant}")),
        citation: Some(text("citation")),
        source_kind: if n == 0 {
            SourceKind::Institutional
        } else {
            SourceKind::Challenge
        },
        record_type: Some(text("record_type")),
        access_level: Some(if n == 0 {
            AccessLevel::Controlled
        } else {
            AccessLevel::Open
        }),
        access_raw: Some(text("access_raw")),
        license: Some(text("license")),
        license_raw: Some(text("license_raw")),
        data_use_limitations: vec![if n == 0 { "DUO:0000042" } else { "DUO:0000006" }.to_owned()],
        access_instructions: text("access_instructions"),
        modalities: vec![if n == 0 { "CT" } else { "MR" }.to_owned()],
        modality_raw: Some(text("modality_raw")),
        body_parts: list("body_parts"),
        tasks: list("tasks"),
        annotation_objects: list("annotation_objects"),
        conditions: list("conditions"),
        formats: list("formats"),
        species: Some(text("species")),
        dimensionality: Some(text("dimensionality")),
        label_category_count: Some(3 + n as i32),
        challenge: Some(text("challenge")),
        supporting_data: list("supporting_data"),
        subject_count: Some(101 + n),
        study_count: Some(202 + n),
        image_count: Some(303 + n),
        case_count: Some(404 + n),
        size_bytes: Some(505 + n),
        count_notes: Some(text("count_notes")),
        deidentification: Some(text("deidentification")),
        contains_phi: n == 0,
        year: Some(2001 + n as i32),
        release_date_raw: Some(text("release_date_raw")),
        last_updated_upstream: Some(time::macros::date!(2020 - 01 - 02) + time::Duration::days(n)),
        upstream_status: Some(text("upstream_status")),
        idc_collection_id: Some(text("idc_collection_id")),
        idc_subject_count: Some(606 + n),
        idc_image_types: Some(text("idc_image_types")),
        idc_supporting_data: Some(text("idc_supporting_data")),
        idc_access: Some(text("idc_access")),
        idc_updated: Some(time::macros::date!(2021 - 03 - 04) + time::Duration::days(n)),
        notes: Some(text("notes")),
        sources: list("sources"),
    }
}

#[tokio::test]
async fn every_field_of_a_dataset_is_stored_in_its_own_column_and_read_back() {
    let app = TestApp::spawn().await;
    let admin = app.add_admin("ada@example.org").await;
    let organization = OrganizationInput {
        slug: "example-hospital".to_owned(),
        name: "Example Hospital".to_owned(),
        homepage: None,
        description: String::new(),
    };
    let SavedOrganization::Saved {
        id: organization_id,
    } = curation::create_organization(&app.db, admin, &organization)
        .await
        .unwrap()
    else {
        panic!("the organization is new");
    };

    let first = every_field_set("round-trip", &organization.slug, "a");
    let created = curation::create_dataset(&app.db, admin, organization_id, &first)
        .await
        .unwrap();
    assert!(matches!(created, Created::Created { .. }));
    let stored = db::find_dataset(&app.db, "round-trip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.fields, first);
    let title: String = sqlx::query_scalar("select title from datasets where slug = 'round-trip'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(title, "title a", "the title is in the title column");

    let second = every_field_set("round-trip", &organization.slug, "b");
    let updated = curation::update_dataset(
        &app.db,
        admin,
        "round-trip",
        stored.version,
        organization_id,
        &second,
    )
    .await
    .unwrap();
    assert_eq!(updated, Updated::Saved { version: 2 });
    let stored = db::find_dataset(&app.db, "round-trip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.fields, second);
    assert_eq!(
        db::revisions::snapshot(&app.db, stored.id, 2)
            .await
            .unwrap(),
        Some(second),
        "the revision holds the record as written"
    );
}
