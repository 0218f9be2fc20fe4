//! The live search index: a catalog change is applied to the in-memory index with the changed rows
//! only, answers exactly as a full reload would, and reaches every instance on its own.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use radportal::AppState;
use radportal::catalog::index::CatalogIndex;
use radportal::catalog::search::{Extras, Ranking, SearchQuery, search_in};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::helpers::{TestApp, bundled_record, bundled_records};

/// Searches of every kind: text (words, concepts, phrases, typos, exclusions, a DOI), filters,
/// facets and every sort, paged.
const QUERIES: &[&str] = &[
    "",
    "sort=subjects",
    "sort=newest&page=2",
    "q=lung+nodule+CT",
    "q=renal+tumour",
    "q=zebrafinch",
    "q=quokka+cohort",
    "q=%22head+and+neck%22",
    "q=brain+-glioma",
    "q=mamography",
    "q=chest+x-ray&modality=DX&sort=subjects",
    "q=segmentation&access=open&page=2",
    "modality=CT&modality=MR",
    "q=prostate&org=tcia",
    "q=imaging&sort=newest",
    "q=liver+masses+ultrasound",
];

/// Everything a search answers, as text to compare.
fn described(results: &radportal::catalog::search::SearchResults) -> String {
    let mut out = String::new();
    writeln!(out, "total {}", results.pagination.total).unwrap();
    writeln!(out, "all words {}", results.all_words_total).unwrap();
    writeln!(out, "alike {:?}", results.alike_to).unwrap();
    for hit in &results.hits {
        writeln!(out, "hit {} {:?}", hit.dataset.slug, hit.snippet).unwrap();
    }
    for facet in &results.facets {
        for value in &facet.values {
            writeln!(
                out,
                "facet {:?} {} {:?} {}",
                facet.facet, value.value, value.label, value.count
            )
            .unwrap();
        }
    }
    out
}

async fn answers(app: &TestApp, index: &CatalogIndex) -> Vec<String> {
    let mut out = Vec::new();
    for raw in QUERIES {
        let query = SearchQuery::parse(Some(raw)).unwrap();
        let results = search_in(&app.db, index, &query, Extras::ALL, Ranking::FULL)
            .await
            .unwrap();
        out.push(format!("{raw}\n{}", described(&results)));
    }
    out
}

/// Fails with the first lines that differ.
fn assert_same(got: &str, expected: &str) {
    let differing: Vec<(&str, &str)> = got
        .lines()
        .zip(expected.lines())
        .filter(|(got, expected)| got != expected)
        .take(5)
        .collect();
    assert!(
        differing.is_empty() && got.lines().count() == expected.lines().count(),
        "search {:?}: updated index vs full reload: {differing:#?}",
        expected.lines().next()
    );
}

async fn execute(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.db).await.unwrap();
}

#[tokio::test]
async fn an_update_answers_every_search_as_a_full_reload_does() {
    let app = TestApp::with_catalog().await;
    let before = CatalogIndex::load(&app.db).await.unwrap();

    // A new word in a title and a summary, a dataset retired, an organization renamed (which
    // changes every one of its datasets), a new dataset imported, and one changed twice.
    execute(
        &app,
        "update datasets set title = title || ' Zebrafinch' where id = (select min(id) from datasets)",
    )
    .await;
    execute(
        &app,
        "update datasets set summary = summary || ' A quokka cohort.'
         where id = (select min(id) + 7 from datasets)",
    )
    .await;
    execute(
        &app,
        "update datasets set status = 'retired' where id = (select min(id) + 3 from datasets)",
    )
    .await;
    execute(
        &app,
        "update organizations set name = name || ' Archive'
         where id = (select organization_id from datasets group by 1 order by count(*) desc limit 1)",
    )
    .await;
    let mut record = bundled_records()[5].clone();
    record["id"] = Value::from("a-new-liver-masses-collection");
    record["name"] = Value::from("A New Liver Masses Collection");
    record["doi"] = Value::Null;
    app.import(serde_json::to_vec(&vec![record]).unwrap().as_slice())
        .await;
    execute(
        &app,
        "update datasets set subject_count = 123456 where id = (select min(id) from datasets)",
    )
    .await;

    let updated = before
        .updated(&app.db)
        .await
        .unwrap()
        .expect("the change log covers every change");
    let fresh = CatalogIndex::load(&app.db).await.unwrap();
    assert_eq!(updated.version(), fresh.version());
    assert_eq!(updated.len(), fresh.len());
    assert_eq!(updated.len(), before.len(), "one retired, one new");
    assert!(
        updated.dead_rows() > 2,
        "the changed rows were replaced, not the index: {} dead",
        updated.dead_rows()
    );
    let (expected, got) = (answers(&app, &fresh).await, answers(&app, &updated).await);
    for (expected, got) in expected.iter().zip(&got) {
        assert_same(got, expected);
    }
    assert!(expected[5].contains("hit "), "the new title word is found");
    assert!(
        expected[6].contains("hit "),
        "the new summary words are found"
    );

    // Updated again (now from an updated index): still the same answers.
    execute(
        &app,
        "update datasets set status = 'published' where status = 'retired'",
    )
    .await;
    let again = updated.updated(&app.db).await.unwrap().unwrap();
    let fresh = CatalogIndex::load(&app.db).await.unwrap();
    for (expected, got) in answers(&app, &fresh)
        .await
        .iter()
        .zip(&answers(&app, &again).await)
    {
        assert_same(got, expected);
    }
}

#[tokio::test]
async fn a_gap_the_change_log_does_not_cover_reads_the_whole_catalog() {
    let app = TestApp::with_catalog().await;
    let before = CatalogIndex::load(&app.db).await.unwrap();
    // As a restore does: the version moves without a logged change.
    execute(&app, "update catalog_state set version = version + 1").await;
    assert!(before.updated(&app.db).await.unwrap().is_none());
    // A truncation of the log's rows for a version (a pruned log) too.
    let after_restore = CatalogIndex::load(&app.db).await.unwrap();
    execute(
        &app,
        "update datasets set title = title || ' X' where id = (select min(id) from datasets)",
    )
    .await;
    execute(&app, "delete from catalog_changes").await;
    assert!(after_restore.updated(&app.db).await.unwrap().is_none());
}

#[tokio::test]
async fn a_statement_changing_many_rows_moves_the_version_once_and_logs_each_row() {
    let app = TestApp::with_catalog().await;
    let version = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select version from catalog_state")
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let start = version(&app).await;
    execute(
        &app,
        "update datasets set subject_count = coalesce(subject_count, 0) + 1",
    )
    .await;
    let all: i64 = sqlx::query_scalar("select count(*) from datasets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(version(&app).await, start + 1);
    let logged: i64 = sqlx::query_scalar("select count(*) from catalog_changes where version = $1")
        .bind(start + 1)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(logged, all);
    // A statement that changes nothing moves nothing.
    execute(&app, "update datasets set title = title").await;
    assert_eq!(version(&app).await, start + 1);
}

/// Polls a search (at least once) until every word of it matches or `within` passes; how long it
/// took.
async fn found_within(base: &str, word: &str, within: Duration) -> Option<Duration> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let body: Value = client
            .get(format!("{base}/api/v1/datasets?q={word}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["text_match"] == "all" && body["total"].as_i64().unwrap_or(0) > 0 {
            return Some(started.elapsed());
        }
        if started.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A second instance over the app's database: its state, its address, and what stops it.
async fn second_instance(app: &TestApp) -> (AppState, String, oneshot::Sender<()>) {
    let mut config = radportal::Config::for_database(&app.database_url);
    config.seed_catalog = false;
    config.db_max_connections = 5;
    let pool = radportal::db::connect_and_migrate(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let state = AppState::new(pool, config);
    tokio::spawn(radportal::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    (state, address, stop)
}

#[tokio::test]
async fn a_change_reaches_another_instance_on_its_own_within_a_second() {
    let first = TestApp::with_catalog().await;
    let (second, address, _stop) = second_instance(&first).await;
    // Both instances have read the catalog.
    found_within(&first.address, "lung", Duration::ZERO).await;
    found_within(&address, "lung", Duration::ZERO).await;
    let before = second.search_index.installed_version();

    execute(
        &first,
        "update datasets set title = title || ' Marmoset' where id = (select min(id) from datasets)",
    )
    .await;
    // Without any search on the second instance, its index follows the change.
    let started = Instant::now();
    while second.search_index.installed_version() == before
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let followed = started.elapsed();
    assert!(
        second.search_index.installed_version() > before,
        "the second instance followed the change"
    );
    assert!(
        followed < Duration::from_secs(1),
        "followed after {followed:?}"
    );
    assert!(
        found_within(&address, "marmoset", Duration::ZERO)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn searches_at_once_during_changes_see_every_small_change_and_never_fail() {
    let app = TestApp::with_catalog().await;
    app.get("/api/v1/datasets?q=lung").await;
    let ids: Vec<i64> = sqlx::query_scalar(
        "select id from datasets where status = 'published' order by id limit 12",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    // Twelve writers each rename a dataset with a word of its own, then search for it at once:
    // each search sees its own write.
    let writes = ids.iter().enumerate().map(|(n, id)| {
        let app = &app;
        async move {
            let word = format!("okapi{}", (b'a' + n as u8) as char);
            sqlx::query("update datasets set title = title || ' ' || $1 where id = $2")
                .bind(&word)
                .bind(id)
                .execute(&app.db)
                .await
                .unwrap();
            found_within(&app.address, &word, Duration::ZERO)
                .await
                .is_some()
        }
    });
    let seen = join_all(writes).await;
    assert!(
        seen.iter().all(|seen| *seen),
        "every search saw its write: {seen:?}"
    );
}

#[tokio::test]
async fn a_large_change_is_applied_in_the_background_and_then_found() {
    let app = TestApp::with_catalog().await;
    app.get("/api/v1/datasets?q=lung").await;
    // More datasets than a search waits for: the search answers from the previous snapshot or the
    // new one, never an error, and the change shows soon after.
    let mut records: Vec<Value> = Vec::new();
    for n in 0..300 {
        let mut record = bundled_record("lidc-idri");
        record["id"] = Value::from(format!("capybara-study-{n}"));
        record["name"] = Value::from(format!("Capybara Study {n}"));
        record["doi"] = Value::Null;
        records.push(record);
    }
    app.import(serde_json::to_vec(&records).unwrap().as_slice())
        .await;
    let took = found_within(&app.address, "capybara", Duration::from_secs(10))
        .await
        .expect("the import shows");
    assert!(took < Duration::from_secs(10));
}
