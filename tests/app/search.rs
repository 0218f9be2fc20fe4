//! The dataset list: text, filters, facets, sort, pagination and bad parameters.

use reqwest::StatusCode;

use crate::helpers::{Page, TestApp};

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

fn shown_total(page: &Page) -> String {
    page.text(".results-count")
}

#[tokio::test]
async fn lists_every_published_dataset_twenty_per_page() {
    let app = TestApp::with_catalog().await;

    let first = app.page("/datasets").await;
    let second = app.page("/datasets?page=2").await;

    assert_eq!(shown_total(&first), "1–20 of 320 datasets");
    assert_eq!(first.result_slugs().len(), 20);
    assert_eq!(shown_total(&second), "21–40 of 320 datasets");
    let overlap = first
        .result_slugs()
        .iter()
        .filter(|s| second.result_slugs().contains(s))
        .count();
    assert_eq!(overlap, 0);
    let titles = first.texts(".card-title");
    let mut sorted = titles.clone();
    sorted.sort_by_key(|title| title.to_lowercase());
    assert_eq!(titles, sorted, "without text the list is by title");
    assert_eq!(first.attrs("a[rel=next]", "href"), vec!["/datasets?page=2"]);
}

#[tokio::test]
async fn modality_and_access_filters_combine() {
    let app = TestApp::with_catalog().await;
    let expected = count(
        &app,
        "select count(*) from datasets where 'MR' = any(modalities) and access_level = 'open'",
    )
    .await;

    let page = app.page("/datasets?modality=MR&access=open").await;

    assert!(
        shown_total(&page).ends_with(&format!("of {expected} datasets")),
        "{}",
        shown_total(&page)
    );
    for card in page.texts(".card") {
        assert!(card.contains("MR") && card.contains("Open"), "{card}");
    }
    let chips = page.texts(".chips .chip");
    assert_eq!(chips.len(), 2, "{chips:?}");
}

#[tokio::test]
async fn values_of_one_facet_combine_with_or() {
    let app = TestApp::with_catalog().await;
    let expected = count(
        &app,
        "select count(*) from datasets where modalities && array['MG','US']",
    )
    .await;

    let page = app.page("/datasets?modality=MG&modality=US").await;

    assert!(shown_total(&page).ends_with(&format!("of {expected} datasets")));
}

#[tokio::test]
async fn facet_counts_are_live_for_the_current_filters() {
    let app = TestApp::with_catalog().await;
    let mr_in_tcia = count(
        &app,
        "select count(*) from datasets d join organizations o on o.id = d.organization_id
         where o.slug = 'tcia' and 'MR' = any(d.modalities)",
    )
    .await;

    let page = app.page("/datasets?org=tcia").await;

    let modality_facet = page
        .texts(".facet a")
        .into_iter()
        .find(|text| text.contains("MR — Magnetic resonance"))
        .expect("an MR facet value");
    assert!(
        modality_facet.ends_with(&format!(" {mr_in_tcia}")),
        "{modality_facet}"
    );
    let selected = page.texts(".facet a.selected");
    assert_eq!(selected.len(), 1);
    assert!(selected[0].contains("The Cancer Imaging Archive"));
}

#[tokio::test]
async fn unknown_access_is_a_filter_of_its_own() {
    let app = TestApp::with_catalog().await;
    let expected = count(
        &app,
        "select count(*) from datasets where access_level is null",
    )
    .await;

    let page = app.page("/datasets?access=unknown").await;

    assert!(shown_total(&page).ends_with(&format!("of {expected} datasets")));
    assert!(page.texts(".card .badge.access-unknown").len() == page.result_slugs().len());
}

#[tokio::test]
async fn source_kind_and_organization_filters() {
    let app = TestApp::with_catalog().await;
    let challenges = count(
        &app,
        "select count(*) from datasets where source_kind = 'challenge'",
    )
    .await;

    let page = app.page("/datasets?kind=challenge").await;
    assert!(shown_total(&page).ends_with(&format!("of {challenges} datasets")));

    let physionet = app.page("/datasets?org=physionet").await;
    for card in physionet.texts(".card-meta") {
        assert!(card.starts_with("PhysioNet"), "{card}");
    }
}

#[tokio::test]
async fn text_query_finds_the_named_dataset_first() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets?q=LIDC-IDRI").await;

    assert_eq!(
        page.result_slugs().first().map(String::as_str),
        Some("lidc-idri")
    );
    assert_eq!(page.attrs("#search-q", "value"), vec!["LIDC-IDRI"]);
}

#[tokio::test]
async fn sorting_by_subjects_puts_the_largest_first() {
    let app = TestApp::with_catalog().await;
    let largest: String = sqlx::query_scalar(
        "select slug from datasets where subject_count is not null order by subject_count desc, lower(title) limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    let page = app.page("/datasets?sort=subjects").await;

    assert_eq!(page.result_slugs()[0], largest);
}

#[tokio::test]
async fn a_search_with_no_results_says_so_and_offers_a_way_out() {
    let app = TestApp::with_catalog().await;

    let page = app
        .page("/datasets?q=zebrafish+dentistry+sonar&modality=CT")
        .await;

    assert_eq!(shown_total(&page), "No datasets found");
    let help = page.text(".empty");
    assert!(help.contains("Remove a filter"));
    assert!(
        page.attrs(".empty a", "href")
            .contains(&"/datasets?modality=CT".to_owned())
    );
}

#[tokio::test]
async fn bad_parameters_get_a_clear_400() {
    let app = TestApp::with_catalog().await;

    for (query, parameter) in [
        ("page=0", "page"),
        ("page=lots", "page"),
        ("kind=spaceship", "kind"),
        ("access=free", "access"),
        ("sort=random", "sort"),
    ] {
        let response = app.get(&format!("/datasets?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let page = Page::new(&response.text().await.unwrap());
        assert!(
            page.text(".error-page")
                .contains(&format!("parameter '{parameter}'")),
            "{query}"
        );
    }
}

#[tokio::test]
async fn hostile_text_is_searched_safely() {
    let app = TestApp::with_catalog().await;

    for text in [
        "'; drop table datasets; --",
        "\" or 1=1",
        "<script>",
        "%%%",
        "a & | ! ( :*",
        "ü ✓ 😀",
    ] {
        let response = app
            .client
            .get(app.url("/datasets"))
            .query(&[("q", text)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{text}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("<script>"), "{text} is escaped");
    }
    assert_eq!(count(&app, "select count(*) from datasets").await, 320);
    let long = "x".repeat(201);
    assert_eq!(
        app.get(&format!("/datasets?q={long}")).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_page_past_the_end_shows_the_total() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets?page=99").await;

    assert!(page.result_slugs().is_empty());
    assert!(
        page.attrs(".pagination a", "href")
            .contains(&"/datasets?page=16".to_owned())
    );
}

#[tokio::test]
async fn recognised_concepts_show_as_chips_that_become_filters() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets?q=renal+glioma+PET%2FCT").await;

    let chips = page.texts(".understood .chip");
    assert!(
        chips.contains(&"Kidney · body part".to_owned()),
        "{chips:?}"
    );
    assert!(chips.iter().any(|c| c.ends_with("· finding")), "{chips:?}");
    // PET/CT is two modalities, each a chip of its own.
    let modalities = chips.iter().filter(|c| c.ends_with("· modality")).count();
    assert_eq!(modalities, 2, "{chips:?}");
    // The body-part chip is a link to the same search with the word turned into the filter.
    let hrefs = page.attrs(".understood a.chip", "href");
    let kidney = hrefs
        .iter()
        .find(|href| href.contains("body_part=kidney"))
        .expect("a link that filters by kidney");
    assert!(!kidney.contains("renal"), "{kidney}");
    let filtered = app.page(kidney).await;
    let active = filtered.text("ul.chips[aria-label='Active filters']");
    assert!(active.contains("Kidney"), "the filter is applied: {active}");
}

#[tokio::test]
async fn a_dataset_is_found_by_its_structured_facts_without_the_word() {
    let app = TestApp::with_catalog().await;
    // A dataset whose body part is the kidney but whose text never says "renal".
    let sparse: Vec<String> = sqlx::query_scalar(
        "select slug from datasets where status = 'published' and 'kidney' = any(body_parts)
           and (title || ' ' || summary || ' ' || description || ' ' || array_to_string(aliases, ' ')
                || ' ' || array_to_string(tasks, ' ') || ' ' || coalesce(array_to_string(conditions, ' '), ''))
               !~* 'renal'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!sparse.is_empty(), "the catalog has such a dataset");

    let found = app
        .page("/datasets?q=renal&per_page=100")
        .await
        .result_slugs();

    for slug in &sparse {
        assert!(
            found.contains(slug),
            "{slug} not found by \"renal\": {found:?}"
        );
    }
}

#[tokio::test]
async fn a_word_with_all_parts_ranks_above_partial_matches() {
    let app = TestApp::with_catalog().await;

    let page = app.page("/datasets?q=lung+nodule+CT").await;

    // LIDC-IDRI holds lung nodules on CT: it matches every part and comes first or second.
    let slugs = page.result_slugs();
    let position = slugs
        .iter()
        .position(|s| s == "lidc-idri")
        .expect("LIDC-IDRI found");
    assert!(position < 2, "{slugs:?}");
}

#[tokio::test]
async fn rare_words_outweigh_common_ones() {
    let app = TestApp::with_catalog().await;
    let adrenal: Vec<String> = sqlx::query_scalar(
        "select slug from datasets where status = 'published'
           and ('adrenal gland' = any(body_parts) or 'adrenal' = any(body_parts))",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!adrenal.is_empty());

    let slugs = app.page("/datasets?q=adrenal+tumour").await.result_slugs();

    assert!(
        adrenal.contains(&slugs[0]),
        "an adrenal dataset first, not one of the many tumour ones: {slugs:?}"
    );
}
