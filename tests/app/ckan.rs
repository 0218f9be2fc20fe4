//! The CKAN-compatible Action API, checked over HTTP and with the real `ckanapi` client library.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, python, snapshot};

#[tokio::test]
async fn ckan_client_library_reads_the_catalog() {
    let app = TestApp::with_catalog().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ckan/check_client.py");
    let address = app.address.clone();

    let output = tokio::process::Command::new(python())
        .args([script, &address])
        .output()
        .await
        .expect("python runs (scripts/test installs ckanapi into target/test-venv)");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "ckanapi check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ckanapi client check passed"));
}

#[tokio::test]
async fn envelope_and_errors_follow_ckan() {
    let app = TestApp::with_catalog().await;

    let ok: Value = app
        .get("/api/3/action/package_show?id=chexpert")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["success"], true);
    assert!(
        ok["help"]
            .as_str()
            .unwrap()
            .ends_with("help_show?name=package_show")
    );
    assert_eq!(ok["result"]["name"], "chexpert");
    snapshot::assert_json!("package_show_chexpert", ok);

    let missing = app.get("/api/3/action/package_show?id=nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(
        (
            missing["success"].clone(),
            missing["error"]["__type"].clone()
        ),
        (Value::Bool(false), "Not Found Error".into())
    );
    snapshot::assert_json!("package_show_not_found", missing);

    let invalid = app.get("/api/3/action/package_search?rows=many").await;
    assert_eq!(invalid.status(), StatusCode::CONFLICT);
    let invalid: Value = invalid.json().await.unwrap();
    assert_eq!(invalid["error"]["__type"], "Validation Error");
    assert_eq!(invalid["error"]["rows"][0], "Invalid integer");
    snapshot::assert_json!("package_search_validation_error", invalid);

    let unknown = app.get("/api/3/action/package_delete?id=chexpert").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("package_delete")
    );
    snapshot::assert_json!("unknown_action", body);
}

#[tokio::test]
async fn package_search_counts_and_facets_agree_with_the_database() {
    let app = TestApp::with_catalog().await;
    let expected: i64 = sqlx::query_scalar(
        "select count(*) from datasets where access_level = 'open' and 'CT' = any(modalities)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    let body: Value = app
        .client
        .post(app.url("/api/3/action/package_search"))
        .json(&serde_json::json!({"fq": "access_level:open tags:CT", "rows": 3, "facet.field": ["access_level"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(body["result"]["count"], expected);
    assert_eq!(body["result"]["results"].as_array().unwrap().len(), 3);
    assert_eq!(body["result"]["facets"]["access_level"]["open"], expected);
    snapshot::assert_json!("package_search_open_ct", body);
}

#[tokio::test]
async fn status_and_organization_list_answer_in_the_ckan_envelope() {
    let app = TestApp::with_catalog().await;

    let status: Value = app
        .get("/api/3/action/status_show")
        .await
        .json()
        .await
        .unwrap();
    let organizations: Value = app
        .get("/api/3/action/organization_list")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(status["success"], true);
    assert_eq!(status["result"]["site_title"], "radportal");
    snapshot::assert_json!("status_show", status);
    let names = organizations["result"].as_array().unwrap();
    let in_database: i64 = sqlx::query_scalar("select count(*) from organizations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(names.len() as i64, in_database);
    assert!(names.contains(&Value::from("tcia")));
    snapshot::assert_json!("organization_list", organizations);
}

#[tokio::test]
async fn harvester_queries_page_by_id_and_ask_for_recent_changes() {
    let app = TestApp::with_catalog().await;
    sqlx::query("update datasets set updated_at = now() - interval '3 days', version = version")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update datasets set title = title || ' (revised)', version = version + 1 where slug in ('lidc-idri', 'chexpert')")
        .execute(&app.db)
        .await
        .unwrap();
    let since = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let since = since.trim_end_matches('Z');

    let body: Value = app
        .client
        .get(app.url("/api/3/action/package_search"))
        .query(&[
            ("fq", format!("(organization:tcia OR organization:stanford-aimi) metadata_modified:[{since}Z TO *]")),
            ("sort", "id asc".to_owned()),
            ("rows", "100".to_owned()),
            ("start", "0".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(body["success"], true, "{body}");
    let names: Vec<&str> = body["result"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| package["name"].as_str().unwrap())
        .collect();
    assert_eq!(body["result"]["count"], 2, "{names:?}");
    assert!(names.contains(&"lidc-idri") && names.contains(&"chexpert"));
}
