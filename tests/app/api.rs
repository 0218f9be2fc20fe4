//! The JSON API: same results as the search page, errors as JSON, responses that match the OpenAPI document.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, snapshot};

/// Validates `instance` against a schema of the served OpenAPI document (`#/components/schemas/{name}`
/// or an inline schema), resolving references inside the document.
pub async fn assert_matches_schema(app: &TestApp, schema: Value, instance: &Value) {
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let mut root = schema;
    root["components"] = document["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("the OpenAPI schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "response does not match the OpenAPI document: {errors:#?}"
    );
}

pub fn reference(name: &str) -> Value {
    serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[tokio::test]
async fn dataset_search_matches_the_page_and_the_document() {
    let app = TestApp::with_catalog().await;

    let response = app
        .get("/api/v1/datasets?modality=MR&access=open&sort=subjects&per_page=5")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();

    assert_matches_schema(&app, reference("DatasetList"), &body).await;
    let page = app
        .page("/datasets?modality=MR&access=open&sort=subjects")
        .await;
    let html_total = page.text(".results-count");
    assert!(
        html_total.ends_with(&format!("of {} datasets", body["total"])),
        "{html_total} vs {}",
        body["total"]
    );
    let api_slugs: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        api_slugs,
        page.result_slugs()[..5]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(body["per_page"], 5);
    assert!(body["links"]["next"].as_str().unwrap().contains("page=2"));
    let modality_facet = body["facets"]["modality"].as_array().unwrap();
    assert!(
        modality_facet
            .iter()
            .any(|v| v["value"] == "MR" && v["label"] == "MR — Magnetic resonance")
    );
    snapshot::assert_json!("dataset_search_mr_open_by_subjects", body);
}

#[tokio::test]
async fn text_search_reports_how_it_matched() {
    let app = TestApp::with_catalog().await;

    let exact: Value = app
        .get("/api/v1/datasets?q=CheXpert")
        .await
        .json()
        .await
        .unwrap();
    let typo: Value = app
        .get("/api/v1/datasets?q=chexpret")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(exact["text_match"], "all");
    assert_eq!(exact["results"][0]["slug"], "chexpert");
    assert_eq!(typo["text_match"], "similar");
    assert_eq!(typo["results"][0]["slug"], "chexpert");
}

#[tokio::test]
async fn bad_parameters_get_a_json_400_naming_the_parameter() {
    let app = TestApp::with_catalog().await;

    for (query, parameter) in [
        ("page=0", "page"),
        ("per_page=101", "per_page"),
        ("kind=spaceship", "kind"),
        ("access=free", "access"),
        ("duo=NOPE", "duo"),
        ("sort=random", "sort"),
    ] {
        let response = app.get(&format!("/api/v1/datasets?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["parameter"], parameter, "{query}");
        assert_eq!(body["error"]["code"], "invalid_parameter");
        assert_matches_schema(&app, reference("Error"), &body).await;
        if parameter == "per_page" {
            snapshot::assert_json!("invalid_parameter_error", body);
        }
    }
}

#[tokio::test]
async fn a_dataset_record_has_every_fact_and_matches_the_document() {
    let app = TestApp::with_catalog().await;

    let body: Value = app
        .get("/api/v1/datasets/lidc-idri")
        .await
        .json()
        .await
        .unwrap();

    assert_matches_schema(&app, reference("DatasetRecord"), &body).await;
    assert_eq!(body["doi"], "10.7937/K9/TCIA.2015.LO9QL9SX");
    assert_eq!(body["subject_count"], 1010);
    assert_eq!(body["organization"]["slug"], "tcia");
    assert_eq!(body["last_updated_upstream"], "2012-03-21");
    let in_file = serde_json::from_str::<Vec<Value>>(include_str!("../../seed/datasets.json"))
        .unwrap()
        .into_iter()
        .find(|record| record["id"] == "lidc-idri")
        .unwrap();
    assert_eq!(body["sources"], in_file["source_of_fact"]);
    snapshot::assert_json!("dataset_record_lidc_idri", body);

    let missing = app.get("/api/v1/datasets/no-such-dataset").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert_matches_schema(&app, reference("Error"), &error).await;
    snapshot::assert_json!("dataset_not_found_error", error);
}

#[tokio::test]
async fn organizations_are_listed_with_counts() {
    let app = TestApp::with_catalog().await;

    let body: Value = app.get("/api/v1/organizations").await.json().await.unwrap();

    assert_matches_schema(
        &app,
        serde_json::json!({"type": "array", "items": reference("Organization")}),
        &body,
    )
    .await;
    let total: i64 = body
        .as_array()
        .unwrap()
        .iter()
        .map(|org| org["dataset_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 320);
    snapshot::assert_json!("organizations", body);
}

#[tokio::test]
async fn unknown_api_paths_answer_json_404() {
    let app = TestApp::spawn().await;

    let response = app.get("/api/v1/spaceships").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], 404);
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = TestApp::spawn().await;

    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    assert_eq!(document["openapi"], "3.1.0");
    // Every route under /api/v1 (but the JSON 404 for unknown paths) is in the document.
    for entry in radportal::routes().table() {
        if !entry.path.starts_with("/api/v1/") || entry.path.contains("{*rest}") {
            continue;
        }
        let method = entry.method.as_str().to_lowercase();
        if entry.path == "/api/v1/openapi.json" {
            continue;
        }
        assert!(
            document["paths"][entry.path][&method].is_object(),
            "{method} {} is documented",
            entry.path
        );
    }
    let parameters: Vec<&str> = document["paths"]["/api/v1/datasets"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for facet in radportal::catalog::search::Facet::ALL {
        assert!(
            parameters.contains(&facet.param()),
            "{} is documented",
            facet.param()
        );
    }
}

#[tokio::test]
async fn the_account_endpoint_answers_as_documented() {
    let app = TestApp::spawn().await;
    let id = app.add_user("rhea@example.org", "Rhea Searcher").await;
    let (_, token) = radportal::auth::db::create_api_token(
        &app.db,
        id,
        "docs",
        radportal::auth::model::TokenScope::ReadWrite,
        30,
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();

    let me: Value = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_matches_schema(&app, reference("Me"), &me).await;
    snapshot::assert_json!("me", me);

    let invalid = client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = invalid.json().await.unwrap();
    assert_matches_schema(&app, reference("Error"), &error).await;
    assert_eq!(error["error"]["fields"][0]["field"], "name");

    let unauthorized = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        unauthorized.headers()["www-authenticate"],
        "Bearer realm=\"radportal\""
    );
    let error: Value = unauthorized.json().await.unwrap();
    assert_matches_schema(&app, reference("Error"), &error).await;
}
