//! The public pages: home, dataset, organizations, 404s, escaping and drafts.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Page, TestApp, bundled_record};

#[tokio::test]
async fn home_shows_search_counts_and_recent_datasets() {
    let app = TestApp::with_catalog().await;
    let imaging_archives: i64 =
        sqlx::query_scalar("select count(*) from datasets where source_kind = 'imaging_archive'")
            .fetch_one(&app.db)
            .await
            .unwrap();

    let page = app.page("/").await;

    assert_eq!(
        page.attrs("form[role=search] input[name=q]", "name").len(),
        2,
        "header and hero search"
    );
    assert!(page.text(".lead").starts_with("320 imaging datasets"));
    let kind_rows = page.texts(".overview .bars a");
    assert!(
        kind_rows.contains(&format!("Imaging archive {imaging_archives}")),
        "{kind_rows:?}"
    );
    assert_eq!(page.texts(".cards .card").len(), 6);
}

#[tokio::test]
async fn dataset_page_shows_every_stated_fact_and_how_to_get_access() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets/lidc-idri").await;

    assert_eq!(page.text("h1"), "LIDC-IDRI");
    assert_eq!(
        page.text(".dataset-header .card-meta a"),
        "The Cancer Imaging Archive (TCIA)"
    );
    let facts = page.texts(".facts dd").join(" | ");
    for expected in [
        "CT (Computed tomography), CR (Computed radiography), DX (Digital radiography)",
        "chest",
        "Lung Cancer",
        "SEG, SR",
        "1,010",
        "lidc_idri",
        "2012-03-21",
    ] {
        assert!(facts.contains(expected), "{expected} missing from {facts}");
    }
    assert!(page.text(".count_notes, .note").contains("LUNA16"));
    assert!(page.text(".access-panel").contains("Anyone may download"));
    let doi = "10.7937/K9/TCIA.2015.LO9QL9SX";
    assert!(page.texts(".dataset-side dd a").contains(&doi.to_owned()));
    assert!(
        page.attrs(".dataset-side dd a", "href")
            .contains(&format!("https://doi.org/{doi}"))
    );
    assert!(
        page.attrs("a", "href")
            .contains(&"https://luna16.grand-challenge.org/data/".to_owned())
    );
    // Every page a fact was read from is linked, and the sources read as names, not references.
    let links = page.attrs(".sources a", "href");
    for source in bundled_record("lidc-idri")["source_of_fact"]
        .as_array()
        .unwrap()
    {
        let source = source.as_str().unwrap();
        if let Some((_, url)) = source
            .split_once(": ")
            .filter(|(_, url)| url.starts_with("http"))
        {
            assert!(
                links.contains(&url.to_owned()),
                "{url} is linked: {links:?}"
            );
        }
    }
    for source in page.texts(".sources li") {
        assert!(
            !source.contains('@') && !source.starts_with("summary:"),
            "{source}"
        );
    }
}

#[tokio::test]
async fn dataset_with_unstated_access_says_so() {
    let app = TestApp::with_catalog().await;
    let unstated = crate::helpers::bundled_records()
        .iter()
        .find(|r| r["access"].is_null() && r["license"].is_null())
        .expect("a dataset with neither access nor licence stated");

    let page = app
        .page(&format!("/datasets/{}", unstated["id"].as_str().unwrap()))
        .await;

    assert_eq!(page.text(".access-panel .badge"), "Access not stated");
    assert!(
        page.text(".access-panel")
            .contains("do not say how access works")
    );
    assert!(
        page.text("#licence-heading + p")
            .contains("do not state a licence")
    );
}

#[tokio::test]
async fn credentialed_dataset_explains_credentialing() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets/mimic-cxr-database").await;

    assert_eq!(page.text(".access-panel .badge"), "Credentialed");
    assert!(page.text(".access-panel").contains("credentialing"));
    assert!(
        page.text(".dataset-header .card-meta")
            .contains("PhysioNet")
    );
}

#[tokio::test]
async fn unknown_dataset_and_unknown_path_are_real_404_pages() {
    let app = TestApp::with_catalog().await;

    for path in [
        "/datasets/no-such-dataset",
        "/no/such/page",
        "/organizations/nobody",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let page = Page::new(&response.text().await.unwrap());
        assert_eq!(page.text("h1"), "Page not found", "{path}");
        assert_eq!(
            page.attrs("#error-q", "name"),
            vec!["q"],
            "{path} offers a search"
        );
    }
}

#[tokio::test]
async fn draft_datasets_are_not_public_but_retired_ones_say_so() {
    let app = TestApp::with_catalog().await;
    sqlx::query("update datasets set status = 'draft' where slug = 'chexpert'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update datasets set status = 'retired' where slug = 'lidc-idri'")
        .execute(&app.db)
        .await
        .unwrap();

    assert_eq!(
        app.get("/datasets/chexpert").await.status(),
        StatusCode::NOT_FOUND
    );
    let retired = app.page("/datasets/lidc-idri").await;
    assert_eq!(retired.text(".badge.retired"), "Retired");
    let listing = app.page("/datasets?q=chexpert").await;
    assert!(!listing.result_slugs().contains(&"chexpert".to_owned()));
}

#[tokio::test]
async fn markup_in_catalog_text_is_shown_as_text_never_run() {
    let app = TestApp::spawn().await;
    let mut record = bundled_record("chexpert");
    record["name"] = json!("<script>alert('x')</script> CheXpert");
    record["notes"] = json!("<img src=x onerror=alert(1)>");
    app.import(serde_json::to_string(&[record]).unwrap().as_bytes())
        .await;

    let page = app.page("/datasets/chexpert").await;

    assert_eq!(
        page.text("h1"),
        "<script>alert('x')</script> CheXpert",
        "shown as text"
    );
    assert!(
        page.texts("script:not([type='application/ld+json'])")
            .is_empty(),
        "no script element in the page but the JSON-LD data"
    );
    assert!(
        page.attrs("img[onerror]", "src").is_empty(),
        "no injected image"
    );
    assert!(
        page.texts(".facts dd")
            .contains(&"<img src=x onerror=alert(1)>".to_owned())
    );
}

#[tokio::test]
async fn organizations_list_and_page() {
    let app = TestApp::with_catalog().await;
    let tcia_count: i64 = sqlx::query_scalar(
        "select count(*) from datasets d join organizations o on o.id = d.organization_id where o.slug = 'tcia'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    let list = app.page("/organizations").await;
    let first_row = list.texts("tbody tr").into_iter().next().unwrap();
    assert!(
        first_row.starts_with(&format!("The Cancer Imaging Archive (TCIA) {tcia_count}")),
        "{first_row}"
    );

    let page = app.page("/organizations/tcia").await;
    assert_eq!(page.text("h1"), "The Cancer Imaging Archive (TCIA)");
    assert_eq!(page.result_slugs().len(), 20);
    assert_eq!(page.attrs("a.button", "href"), vec!["/datasets?org=tcia"]);
}

#[tokio::test]
async fn static_files_are_cacheable_and_pages_carry_security_headers() {
    let app = TestApp::spawn().await;

    let css = app.get("/static/site.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );

    let page = app.get("/").await;
    let headers = page.headers();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    assert_eq!(
        headers["x-request-id"].to_str().unwrap().len(),
        36,
        "a request id is returned"
    );
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS over http"
    );
    assert_eq!(
        app.get("/static/nothing.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn responses_are_compressed_for_clients_that_ask() {
    let app = TestApp::with_catalog().await;

    let response = app
        .client
        .get(app.url("/datasets"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;

    // Any request: refused by its declared length, above the largest upload.
    let response = app
        .client
        .post(app.url("/datasets"))
        .body(vec![b'x'; 11 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A form that is not an upload: refused above the 2 MiB default.
    let response = app
        .client
        .post(app.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=a%40b.org&password={}",
            "x".repeat(3 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_viewed_dataset_page_follows_a_change_to_the_catalog() {
    let app = TestApp::with_catalog().await;
    assert_eq!(
        app.page("/datasets/lidc-idri").await.text("h1"),
        "LIDC-IDRI"
    );

    sqlx::query("update datasets set title = 'LIDC-IDRI (renamed)' where slug = 'lidc-idri'")
        .execute(&app.db)
        .await
        .unwrap();

    // Instances hear of the change by notification; it arrives within moments of the commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let title = app.page("/datasets/lidc-idri").await.text("h1");
        if title == "LIDC-IDRI (renamed)" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page still shows {title}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn nul_characters_in_paths_are_not_found_not_errors() {
    let app = TestApp::with_catalog().await;

    for path in [
        "/datasets/%00",
        "/organizations/%00",
        "/api/v1/datasets/a%00b",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // A parameter no record can have is a validation error, in CKAN's words.
    let ckan = app.get("/api/3/action/package_show?id=%00").await;
    assert_eq!(ckan.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = ckan.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["__type"], "Validation Error");
    assert!(
        body["error"]["id"][0]
            .as_str()
            .unwrap()
            .contains("control character")
    );
    assert_eq!(
        app.get("/api/3/action/organization_show?id=%00")
            .await
            .status(),
        StatusCode::CONFLICT
    );
}
