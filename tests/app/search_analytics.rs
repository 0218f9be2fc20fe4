//! Search analytics: searches on the page, the API and the CKAN API are held in memory and written by
//! the flush job (never during the request), with no trace of who searched; later pages are not
//! searches; retention 0 records nothing; pruning; the administrators' page and its refusals.

use std::sync::Arc;
use std::time::Duration;

use radportal::catalog::search::{self, SearchQuery};
use radportal::jobs::{self, JobContext};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Page, Template, TestApp, TestDatabase, new_client};

/// A portal with the bundled catalog whose own flush job never comes round during a test: the tests
/// flush themselves.
async fn portal() -> TestApp {
    TestApp::spawn_from(Template::Catalog, |config| {
        config.search_log_flush = Duration::from_secs(24 * 60 * 60);
    })
    .await
}

fn context(app: &TestApp, configure: impl FnOnce(&mut radportal::Config)) -> JobContext {
    let mut config = (*app.state.config).clone();
    configure(&mut config);
    JobContext::new(
        app.db.clone(),
        Arc::new(config),
        Arc::new(radportal::mail::Mailer::from_config(&app.state.config).unwrap()),
    )
    .with_search_log(app.state.search_log.clone())
}

/// Runs the flush job once, now; returns how many searches it wrote.
async fn flush(app: &TestApp) -> usize {
    let job = jobs::search_log::job(app.state.config.search_log_flush);
    jobs::run_now(&context(app, |_| {}), &job).await.unwrap()
}

/// Runs the prune job once, now, with the retention set to `days`.
async fn prune(app: &TestApp, days: u32) {
    let context = context(app, |config| config.search_log_days = days);
    jobs::run_now(&context, &jobs::prune::job()).await.unwrap();
}

/// A logged search as the tests compare it.
#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Logged {
    query_text: String,
    normalized_text: String,
    filters: Value,
    result_count: i64,
    matched_count: i64,
}

async fn logged(app: &TestApp) -> Vec<Logged> {
    sqlx::query_as(
        "select query_text, normalized_text, filters, result_count, matched_count
         from search_log order by query_text, filters::text",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from search_log")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn get_ok(app: &TestApp, path: &str) -> reqwest::Response {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response
}

/// How many datasets the search `raw` finds, asked of the search itself (which records nothing).
async fn total_of(app: &TestApp, raw: &str) -> i64 {
    let query = SearchQuery::parse(Some(raw)).unwrap();
    search::search(&app.db, &app.state.search_index, &query)
        .await
        .unwrap()
        .pagination
        .total
}

#[tokio::test]
async fn searches_on_the_page_and_the_apis_are_written_by_the_flush_job_and_not_before() {
    let app = portal().await;
    get_ok(
        &app,
        "/datasets?q=%20Lung%20%20Nodule%20&modality=CT&sort=title&per_page=50",
    )
    .await;
    let api: Value = get_ok(
        &app,
        "/api/v1/datasets?q=kidney&body_part=Kidney&access=open",
    )
    .await
    .json()
    .await
    .unwrap();
    let ckan: Value = get_ok(&app, "/api/3/action/package_search?q=liver&rows=5")
        .await
        .json()
        .await
        .unwrap();
    get_ok(&app, "/datasets?modality=MR&modality=CT").await;

    // Held in memory: the requests wrote nothing.
    assert_eq!(app.state.search_log.pending(), 4);
    assert_eq!(
        rows(&app).await,
        0,
        "no search was written during its request"
    );

    assert_eq!(flush(&app).await, 4);
    assert_eq!(app.state.search_log.pending(), 0);
    let page_total = total_of(&app, "q=Lung%20Nodule&modality=CT").await;
    let mr_or_ct = total_of(&app, "modality=MR&modality=CT").await;
    let logged = logged(&app).await;
    let without_matched: Vec<(&str, &str, &Value, i64)> = logged
        .iter()
        .map(|row| {
            (
                row.query_text.as_str(),
                row.normalized_text.as_str(),
                &row.filters,
                row.result_count,
            )
        })
        .collect();
    assert_eq!(
        without_matched,
        vec![
            ("", "", &json!({"modality": ["CT", "MR"]}), mr_or_ct),
            (
                "Lung  Nodule",
                "lung nodule",
                &json!({"modality": ["CT"]}),
                page_total
            ),
            (
                "kidney",
                "kidney",
                &json!({"access": ["open"], "body_part": ["kidney"]}),
                api["total"].as_i64().unwrap()
            ),
            (
                "liver",
                "liver",
                &json!({}),
                ckan["result"]["count"].as_i64().unwrap()
            ),
        ]
    );
    assert!(
        logged
            .iter()
            .all(|row| row.matched_count <= row.result_count)
    );
    // Without text every listed dataset matches all of the search.
    assert_eq!(logged[0].matched_count, logged[0].result_count);
    assert!(page_total > 0 && mr_or_ct > 0);

    // The time is the hour, not the moment.
    let (off_the_hour, recent): (i64, bool) = sqlx::query_as(
        "select count(*) filter (where extract(epoch from searched_at)::bigint % 3600 <> 0),
                bool_and(searched_at > now() - interval '61 minutes' and searched_at <= now())
         from search_log",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((off_the_hour, recent), (0, true));

    // A second flush finds nothing more to write.
    assert_eq!(flush(&app).await, 0);
    assert_eq!(rows(&app).await, 4);
}

#[tokio::test]
async fn the_search_log_has_no_column_or_value_that_identifies_who_searched() {
    let app = portal().await;
    app.add_user("searcher@example.org", "Sally Searcher").await;
    let researcher = app.signed_in("searcher@example.org").await;
    let searched = researcher
        .get(app.url("/datasets?q=brain%20mri"))
        .header("user-agent", "Distinctive-Agent/1.0")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(searched.status(), StatusCode::OK);
    assert_eq!(flush(&app).await, 1);

    let columns: Vec<String> = sqlx::query_scalar(
        "select column_name::text from information_schema.columns
         where table_schema = current_schema() and table_name = 'search_log'
         order by ordinal_position",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            "searched_at",
            "query_text",
            "normalized_text",
            "filters",
            "result_count",
            "matched_count"
        ]
    );
    let everything: Vec<String> =
        sqlx::query_scalar("select row_to_json(s)::text from search_log s")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(everything.len(), 1);
    for trace in [
        "searcher",
        "Sally",
        "Distinctive-Agent",
        "203.0.113.7",
        "127.0.0.1",
        "session",
    ] {
        assert!(!everything[0].contains(trace), "{trace} in {everything:?}");
    }
}

#[tokio::test]
async fn turning_pages_is_not_a_new_search() {
    let app = portal().await;
    get_ok(&app, "/datasets?q=ct").await;
    get_ok(&app, "/datasets?q=ct&page=2").await;
    get_ok(&app, "/datasets?q=ct&page=3&sort=title").await;
    get_ok(&app, "/api/v1/datasets?q=ct&page=2").await;
    get_ok(&app, "/api/3/action/package_search?q=ct&start=20&rows=20").await;
    // Nor is the plain list of every dataset a search.
    get_ok(&app, "/datasets").await;
    get_ok(&app, "/datasets?sort=newest").await;
    get_ok(&app, "/api/3/action/package_search?rows=10").await;

    assert_eq!(flush(&app).await, 1);
    let logged = logged(&app).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].query_text, "ct");
}

#[tokio::test]
async fn with_a_retention_of_zero_days_nothing_is_recorded() {
    let app = TestApp::spawn_from(Template::Catalog, |config| config.search_log_days = 0).await;
    assert!(
        !jobs::all(&app.state.config)
            .iter()
            .any(|job| job.name == "search_log"),
        "no flush job runs"
    );
    get_ok(&app, "/datasets?q=lung").await;
    get_ok(&app, "/api/v1/datasets?q=lung").await;
    get_ok(&app, "/api/3/action/package_search?q=lung").await;

    assert_eq!(app.state.search_log.pending(), 0);
    assert_eq!(flush(&app).await, 0);
    assert_eq!(rows(&app).await, 0);
}

/// Writes a search made `days_ago` days ago straight into the log.
async fn logged_days_ago(app: &TestApp, text: &str, days_ago: i32) {
    sqlx::query(
        "insert into search_log
             (searched_at, query_text, normalized_text, filters, result_count, matched_count)
         values (date_trunc('hour', now() - make_interval(days => $2), 'UTC'), $1, lower($1),
                 '{}', 4, 2)",
    )
    .bind(text)
    .bind(days_ago)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn logged_texts(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select query_text from search_log order by query_text")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_prune_job_removes_searches_older_than_the_retention() {
    let app = TestApp::spawn().await;
    logged_days_ago(&app, "a quarter ago", 100).await;
    logged_days_ago(&app, "last week", 10).await;
    logged_days_ago(&app, "today", 0).await;

    prune(&app, 90).await;
    assert_eq!(logged_texts(&app).await, ["last week", "today"]);
    prune(&app, 7).await;
    assert_eq!(logged_texts(&app).await, ["today"]);
    // Recording turned off keeps nothing, not even what an earlier setting kept.
    prune(&app, 0).await;
    assert!(logged_texts(&app).await.is_empty());
}

#[tokio::test]
async fn parallel_searches_are_each_recorded_exactly_once() {
    let app = portal().await;
    let searches = 16;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Flushes keep running while the searches arrive, so that taking a batch races with adding to it.
    let flushing = {
        let context = context(&app, |_| {});
        let done = done.clone();
        tokio::spawn(async move {
            let job = jobs::search_log::job(Duration::from_secs(60));
            let mut written = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                written += jobs::run_now(&context, &job).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            written
        })
    };
    let requests = (0..searches).map(|n| {
        let client = new_client();
        let url = if n % 2 == 0 {
            app.url(&format!("/datasets?q=parallel%20{n}"))
        } else {
            app.url(&format!("/api/v1/datasets?q=parallel%20{n}"))
        };
        async move { client.get(url).send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|status| *status == StatusCode::OK));
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let written_meanwhile = flushing.await.unwrap();
    let written_after = flush(&app).await;
    assert_eq!(written_meanwhile + written_after, searches);

    let counts: Vec<(String, i64)> = sqlx::query_as(
        "select query_text, count(*) from search_log group by query_text order by query_text",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut expected: Vec<(String, i64)> = (0..searches)
        .map(|n| (format!("parallel {n}"), 1))
        .collect();
    expected.sort();
    assert_eq!(counts, expected);
    assert_eq!(app.state.search_log.dropped(), 0);
}

#[tokio::test]
async fn searches_held_when_the_portal_stops_are_written_before_serve_returns() {
    let database = TestDatabase::create(Template::Migrated).await;
    let mut config = radportal::Config::for_database(&database.url);
    config.seed_catalog = false;
    config.search_log_flush = Duration::from_secs(24 * 60 * 60);
    let db = radportal::db::connect_and_migrate(&config).await.unwrap();
    let state = radportal::AppState::new(db.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(radportal::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));

    let searched = new_client()
        .get(format!("http://{address}/datasets?q=held%20at%20shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(searched.status(), StatusCode::OK);
    assert_eq!(state.search_log.pending(), 1);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();

    let texts: Vec<String> = sqlx::query_scalar("select query_text from search_log")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(texts, ["held at shutdown"]);
    db.close().await;
}

#[tokio::test]
async fn the_analytics_page_lists_the_most_frequent_search_first_and_searches_without_results() {
    let app = portal().await;
    for path in [
        "/datasets?q=chest%20x-ray",
        "/datasets?q=Chest%20%20X-ray",
        "/api/v1/datasets?q=CHEST%20X-RAY",
        "/api/3/action/package_search?q=chest%20x-ray",
        "/datasets?q=xyzzyplugh",
        "/api/v1/datasets?q=xyzzyplugh",
        "/datasets?q=kidney",
        "/datasets?q=prostate&modality=MR",
    ] {
        get_ok(&app, path).await;
    }
    flush(&app).await;
    logged_days_ago(&app, "from last month", 20).await;
    app.add_admin("curator@example.org").await;
    let admin = app.signed_in("curator@example.org").await;
    let get = |path: &'static str| {
        let admin = admin.clone();
        let url = app.url(path);
        async move { admin.get(url).send().await.unwrap() }
    };

    let response = get("/admin/searches?days=7").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = Page::new(&response.text().await.unwrap());
    let first = page.texts("#frequent tbody tr").remove(0).to_lowercase();
    assert!(first.starts_with("chest x-ray 4 "), "{first}");
    let first_link = page.attrs("#frequent tbody tr th a", "href").remove(0);
    assert!(
        first_link.to_lowercase() == "/datasets?q=chest+x-ray"
            || first_link.to_lowercase() == "/datasets?q=chest++x-ray",
        "{first_link}"
    );
    let without = page.texts("#no-match tbody tr th");
    assert_eq!(without, ["xyzzyplugh"]);
    let no_match = page.texts("#no-match tbody tr").remove(0);
    assert!(no_match.starts_with("xyzzyplugh 2 0 0 "), "{no_match}");
    let filtered = page.texts("#frequent tbody tr").remove(3);
    assert!(
        filtered.starts_with("prostate Modality: MR — Magnetic resonance 1 "),
        "{filtered}"
    );
    assert_eq!(page.text("#total-searches"), "8");
    assert_eq!(page.text("#distinct-texts"), "4");
    assert!(
        page.text("#share-without-match").starts_with("25% (2 "),
        "{}",
        page.text("#share-without-match")
    );
    assert!(
        page.attrs("a", "href")
            .contains(&"/admin/searches".to_owned())
    );
    // Every table has a caption and column headers, and scrolls inside its own region.
    assert_eq!(
        page.texts(".table-scroll > table > caption").len(),
        page.texts("table").len()
    );
    assert!(
        page.texts(".table-scroll[role=region][tabindex='0'] table thead th[scope=col]")
            .len()
            >= 12
    );

    // The search of last month (4 listed, 2 matching all) counts over 30 days, not over 7.
    assert!(page.texts("#few tbody tr").is_empty());
    let month = Page::new(&get("/admin/searches?days=30").await.text().await.unwrap());
    assert_eq!(month.text("#total-searches"), "9");
    assert!(
        month
            .texts("#frequent tbody tr th")
            .contains(&"from last month".to_owned())
    );
    assert_eq!(month.texts("#few tbody tr th"), ["from last month"]);
    let default = Page::new(&get("/admin/searches").await.text().await.unwrap());
    assert_eq!(default.text("#total-searches"), "9");

    let csv = get("/admin/searches.csv?days=7&list=no-results").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with("xyzzyplugh,,2,0,0,"), "{csv}");

    for bad in [
        "/admin/searches?days=8",
        "/admin/searches?days=seven",
        "/admin/searches.csv?days=30&list=everything",
    ] {
        let refused = get(bad).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body = refused.text().await.unwrap();
        assert!(
            body.contains("7, 30 or 90") || body.contains("frequent, no-results or few-results"),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn searched_markup_is_shown_as_text_and_exported_defused() {
    let app = portal().await;
    get_ok(&app, "/datasets?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    get_ok(&app, "/datasets?q=%3DHYPERLINK(%22x%22)").await;
    flush(&app).await;
    app.add_admin("curator@example.org").await;
    let admin = app.signed_in("curator@example.org").await;

    let source = admin
        .get(app.url("/admin/searches"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!source.contains("<script>alert"), "the text is escaped");
    let page = Page::new(&source);
    assert!(
        page.texts("#no-match tbody tr th")
            .contains(&"<script>alert(1)</script>".to_owned())
    );
    let csv = admin
        .get(app.url("/admin/searches.csv?days=7&list=frequent"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
}

#[tokio::test]
async fn the_analytics_page_refuses_everyone_but_administrators_as_other_admin_pages_do() {
    let app = portal().await;
    app.add_user("reader@example.org", "Rita Reader").await;
    let reviewer_id = app.add_user("reviewer@example.org", "Rob Reviewer").await;
    app.make_reviewer(reviewer_id).await;
    let clients = [
        ("visitor", new_client()),
        ("researcher", app.signed_in("reader@example.org").await),
        ("reviewer", app.signed_in("reviewer@example.org").await),
    ];
    for (who, client) in &clients {
        let answer = |path: &str| {
            let request = client.get(app.url(path));
            async move {
                let response = request.send().await.unwrap();
                let location = response
                    .headers()
                    .get("location")
                    .map(|value| value.to_str().unwrap().replace("%2Fhealth", "%2Fsearches"));
                (response.status(), location)
            }
        };
        let health = answer("/admin/health").await;
        let searches = answer("/admin/searches").await;
        assert!(
            health.0 == StatusCode::FORBIDDEN || health.0 == StatusCode::SEE_OTHER,
            "{who}: {health:?}"
        );
        assert_eq!(searches, health, "{who}");
        let csv = answer("/admin/searches.csv?list=frequent").await;
        assert_eq!(csv.0, health.0, "{who}");
    }
}
