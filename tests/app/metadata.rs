//! Open metadata: schema.org JSON-LD, citation and related datasets on the page, CSV export, DCAT catalog.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Page, TestApp, bundled_record, snapshot};

fn json_ld(page: &Page) -> Value {
    let scripts = page.texts("script[type='application/ld+json']");
    assert_eq!(scripts.len(), 1);
    serde_json::from_str(&scripts[0]).expect("the JSON-LD parses")
}

#[tokio::test]
async fn dataset_page_embeds_schema_org_dataset() {
    let app = TestApp::with_catalog().await;

    let ld = json_ld(&app.page("/datasets/lidc-idri").await);

    assert_eq!(ld["@type"], "Dataset");
    assert_eq!(ld["name"], "LIDC-IDRI");
    assert_eq!(
        ld["sameAs"],
        "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX"
    );
    assert!(
        ld["identifier"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id["propertyID"] == "DOI")
    );
    assert_eq!(ld["publisher"]["name"], "The Cancer Imaging Archive (TCIA)");
    assert_eq!(
        ld["publisher"]["url"],
        "https://www.cancerimagingarchive.net"
    );
    assert_eq!(
        ld["measurementTechnique"],
        json!([
            "Computed tomography",
            "Computed radiography",
            "Digital radiography"
        ])
    );
    assert_eq!(ld["isAccessibleForFree"], true);
    assert!(
        ld["conditionsOfAccess"]
            .as_str()
            .unwrap()
            .contains("Anyone may download")
    );
    assert!(ld["keywords"].as_array().unwrap().contains(&json!("chest")));

    let licensed: Value = {
        let slug: String = sqlx::query_scalar(
            "select slug from datasets where license is not null order by slug limit 1",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        json_ld(&app.page(&format!("/datasets/{slug}")).await)
    };
    assert!(licensed["license"].is_string());
}

#[tokio::test]
async fn json_ld_cannot_break_out_of_its_script_element() {
    let app = TestApp::spawn().await;
    let mut record = bundled_record("chexpert");
    record["name"] = json!("CheXpert</script><script>alert(1)</script>");
    app.import(serde_json::to_string(&[record]).unwrap().as_bytes())
        .await;

    let page = app.page("/datasets/chexpert").await;

    assert_eq!(page.texts("script").len(), 1, "only the JSON-LD element");
    assert_eq!(
        json_ld(&page)["name"],
        "CheXpert</script><script>alert(1)</script>"
    );
}

#[tokio::test]
async fn dataset_page_offers_a_citation_and_related_datasets() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets/lidc-idri").await;

    // The publisher's requested citation, as the catalog file gives it.
    assert_eq!(
        page.text("#citation-text"),
        crate::helpers::bundled_record("lidc-idri")["citation"]
            .as_str()
            .unwrap()
    );
    let related = page.attrs(".related a", "href");
    assert!(!related.is_empty() && related.len() <= 5);
    assert!(!related.contains(&"/datasets/lidc-idri".to_owned()));
    for href in related {
        let slug = href.trim_start_matches("/datasets/");
        let shares: bool = sqlx::query_scalar(
            "select body_parts && array['chest'] and modalities && array['CT','CR','DX'] from datasets where slug = $1",
        )
        .bind(slug)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert!(shares, "{slug} shares anatomy and modality with LIDC-IDRI");
    }
}

#[tokio::test]
async fn csv_export_holds_every_result_of_the_search() {
    let app = TestApp::with_catalog().await;
    let expected: i64 =
        sqlx::query_scalar("select count(*) from datasets where 'CT' = any(modalities)")
            .fetch_one(&app.db)
            .await
            .unwrap();

    let response = app.get("/datasets.csv?modality=CT").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().next(), Some("slug"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as i64, expected);
    assert!(rows.iter().all(|row| row[5].split(';').any(|m| m == "CT")));
}

#[tokio::test]
async fn csv_cells_that_look_like_formulas_are_defused() {
    let app = TestApp::spawn().await;
    let mut record = bundled_record("chexpert");
    record["name"] = json!("=HYPERLINK(\"http://evil.example\",\"click\")");
    app.import(serde_json::to_string(&[record]).unwrap().as_bytes())
        .await;

    let body = app.get("/datasets.csv").await.text().await.unwrap();

    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert!(row[1].starts_with("'="), "{}", &row[1]);
}

#[tokio::test]
async fn dcat_catalog_lists_every_published_dataset() {
    let app = TestApp::with_catalog().await;

    let response = app.get("/catalog.jsonld").await;

    assert_eq!(response.headers()["content-type"], "application/ld+json");
    let catalog: Value = response.json().await.unwrap();
    assert_eq!(catalog["@type"], "dcat:Catalog");
    let datasets = catalog["dcat:dataset"].as_array().unwrap();
    assert_eq!(datasets.len(), 320);
    assert!(
        catalog["hydra:view"]["hydra:next"].is_null(),
        "one page holds all 320"
    );
    let lidc = datasets
        .iter()
        .find(|d| d["dct:title"] == "LIDC-IDRI")
        .unwrap();
    assert_eq!(
        lidc["dct:identifier"],
        "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX"
    );
    assert_eq!(
        lidc["dct:publisher"]["foaf:name"],
        "The Cancer Imaging Archive (TCIA)"
    );
    assert_eq!(
        lidc["dcat:landingPage"]["@id"],
        "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX"
    );
    assert!(
        lidc["dcat:keyword"]
            .as_array()
            .unwrap()
            .contains(&json!("CT"))
    );
    let with_license = datasets
        .iter()
        .filter(|d| d["dct:license"].is_string())
        .count();
    let licensed: i64 =
        sqlx::query_scalar("select count(*) from datasets where license is not null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(with_license as i64, licensed);
    assert_eq!(
        app.get("/catalog.jsonld?page=0").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_dcat_document_of_a_small_catalog_is_complete() {
    let app = TestApp::spawn().await;
    let records: Vec<Value> = ["lidc-idri", "chexpert", "msd-hippocampus"]
        .into_iter()
        .map(bundled_record)
        .collect();
    app.import(serde_json::to_string(&records).unwrap().as_bytes())
        .await;

    let catalog: Value = app.get("/catalog.jsonld").await.json().await.unwrap();

    assert_eq!(catalog["dcat:dataset"].as_array().unwrap().len(), 3);
    snapshot::assert_json!("dcat_catalog", catalog);
}
