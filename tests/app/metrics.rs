//! `/metrics`, as Prometheus reads it: the real binary (each process counts for itself) scraped over
//! HTTP, the text parsed by the Prometheus project's own Python parser (`tests/metrics/parse.py`),
//! and the counters compared between two scrapes.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Served, SmtpStub, Template, TestApp, new_client, python};

const TOKEN: &str = "metrics-token-for-the-tests-0123";

/// One scrape as the parser read it: family name → its type and samples.
struct Scrape(BTreeMap<String, Value>);

impl Scrape {
    /// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`.
    async fn parse(text: &str) -> Self {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/metrics/parse.py"
            ))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python runs (scripts/test installs prometheus-client into target/test-venv)");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        assert!(
            output.status.success(),
            "the Prometheus parser refused the metrics: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(serde_json::from_slice(&output.stdout).unwrap())
    }

    fn family(&self, name: &str) -> &Value {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no metric family {name} in {:?}", self.0.keys()))
    }

    /// The value of the sample `sample` of family `family` whose labels include `labels`; 0 when
    /// there is none (a counter not yet incremented).
    fn value(&self, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self.family(family)["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s[0] == sample)
            .filter(|s| labels.iter().all(|(k, v)| s[1][*k] == *v))
            .map(|s| s[2].as_f64().unwrap_or(f64::INFINITY))
            .collect();
        assert!(found.len() <= 1, "{family} {labels:?} matches {found:?}");
        found.first().copied().unwrap_or(0.0)
    }

    /// Every label value of every sample.
    fn label_values(&self) -> Vec<String> {
        self.0
            .values()
            .flat_map(|family| family["samples"].as_array().unwrap().clone())
            .flat_map(|sample| {
                sample[1]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|value| value.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let response = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Scrape::parse(&response.text().await.unwrap()).await
}

#[tokio::test]
async fn metrics_behind_a_token_count_requests_by_route_template_and_move_between_scrapes() {
    // Messages to `refused@` are refused by the SMTP server, the others accepted at once.
    let smtp = SmtpStub::start(Duration::ZERO, "refused@");
    let portal = Served::start(
        Template::Catalog,
        "json",
        &[
            ("RADPORTAL_METRICS_TOKEN", TOKEN),
            ("RADPORTAL_SMTP_URL", &smtp.url()),
            ("RADPORTAL_OUTBOX_POLL_MS", "100"),
        ],
    )
    .await;
    let client = new_client();
    let metrics = portal.url("/metrics");

    let without = client.get(&metrics).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        without.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    let wrong = client
        .get(&metrics)
        .bearer_auth("metrics-token-for-the-tests-0124")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let before = scrape(&client, &metrics).await;

    let slugs = ["lidc-idri", "chexpert", "nsclc-radiogenomics"];
    for slug in slugs {
        let page = client
            .get(portal.url(&format!("/datasets/{slug}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{slug}");
    }
    let missing = client
        .get(portal.url("/datasets/no-such-dataset-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let nowhere = client
        .get(portal.url("/no/such/page/anywhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    for search in ["/datasets?q=lung", "/api/v1/datasets?q=brain+mri"] {
        let answer = client.get(portal.url(search)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{search}");
    }
    let sign_in = client
        .post(portal.url("/sign-in"))
        .form(&[("email", "nobody@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(sign_in.status().is_client_error(), "{}", sign_in.status());
    for to in ["reader@example.org", "refused@example.org"] {
        sqlx::query("insert into outbox (recipient, subject, body) values ($1, 'Hello', 'Hi.')")
            .bind(to)
            .execute(&portal.db)
            .await
            .unwrap();
    }
    assert!(
        smtp.wait_until_accepted(1, Duration::from_secs(10)),
        "the mail job sends"
    );
    assert_eq!(smtp.accepted(), ["Hello"]);
    // The refused message is retried later; its first attempt is marked in the database.
    let mut attempted = false;
    for _ in 0..200 {
        attempted = sqlx::query_scalar(
            "select attempts > 0 from outbox where recipient = 'refused@example.org'",
        )
        .fetch_one(&portal.db)
        .await
        .unwrap();
        if attempted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(attempted, "the refused message was attempted");

    let after = scrape(&client, &metrics).await;

    // Requests, by route template and status, never by path.
    let requests = after.family("http_requests");
    assert_eq!(requests["type"], "counter");
    let moved = |route: &str, method: &str, status: &str| {
        let labels = [("route", route), ("method", method), ("status", status)];
        after.value("http_requests", "http_requests_total", &labels)
            - before.value("http_requests", "http_requests_total", &labels)
    };
    assert_eq!(moved("/datasets/{slug}", "GET", "200"), 3.0);
    assert_eq!(moved("/datasets/{slug}", "GET", "404"), 1.0);
    assert_eq!(moved("unmatched", "GET", "404"), 1.0);
    assert_eq!(moved("/datasets", "GET", "200"), 1.0);
    assert_eq!(moved("/api/v1/datasets", "GET", "200"), 1.0);
    assert_eq!(moved("/sign-in", "POST", "401"), 1.0);
    // The first scrape counted, the second is being answered.
    assert_eq!(moved("/metrics", "GET", "200"), 1.0);
    let labels = after.label_values();
    for raw in [
        "lidc-idri",
        "chexpert",
        "nsclc-radiogenomics",
        "no-such-dataset-here",
        "/no/such/page/anywhere",
        "lung",
    ] {
        assert!(
            !labels.iter().any(|label| label.contains(raw)),
            "{raw} appears in a label"
        );
    }

    // Latency, by route: every answered request is in the histogram's count and in its +Inf bucket.
    let latency = after.family("http_request_duration_seconds");
    assert_eq!(latency["type"], "histogram");
    let route = [("route", "/datasets/{slug}"), ("method", "GET")];
    let count = after.value(
        "http_request_duration_seconds",
        "http_request_duration_seconds_count",
        &route,
    );
    assert_eq!(count, 4.0, "three pages and one 404");
    let inf = [
        ("route", "/datasets/{slug}"),
        ("method", "GET"),
        ("le", "+Inf"),
    ];
    assert_eq!(
        after.value(
            "http_request_duration_seconds",
            "http_request_duration_seconds_bucket",
            &inf
        ),
        count
    );

    // Searches: the page and the API, one each.
    let searches = |scrape: &Scrape| {
        scrape.value(
            "radportal_search_duration_seconds",
            "radportal_search_duration_seconds_count",
            &[],
        )
    };
    assert_eq!(searches(&after) - searches(&before), 2.0);
    assert_eq!(
        after.value(
            "radportal_search_index_datasets",
            "radportal_search_index_datasets",
            &[]
        ),
        320.0
    );
    assert!(
        after.value(
            "radportal_search_index_version",
            "radportal_search_index_version",
            &[]
        ) >= 0.0
    );
    let updated = after.value(
        "radportal_search_index_updated_timestamp_seconds",
        "radportal_search_index_updated_timestamp_seconds",
        &[],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - updated).abs() < 120.0, "index updated at {updated}");

    // E-mail: one sent, one attempt failed; the refused one waits for its retry in the outbox.
    let emails = |scrape: &Scrape, name: &str| scrape.value(name, &format!("{name}_total"), &[]);
    assert_eq!(
        emails(&after, "radportal_emails_sent") - emails(&before, "radportal_emails_sent"),
        1.0
    );
    assert_eq!(
        emails(&after, "radportal_emails_failed") - emails(&before, "radportal_emails_failed"),
        1.0
    );
    assert_eq!(after.family("radportal_emails_sent")["type"], "counter");
    let outbox = |state: &str| {
        after.value(
            "radportal_outbox_messages",
            "radportal_outbox_messages",
            &[("state", state)],
        )
    };
    assert_eq!(
        (outbox("due"), outbox("retrying"), outbox("given_up")),
        (0.0, 1.0, 0.0)
    );
    assert!(
        after.value(
            "radportal_outbox_oldest_pending_age_seconds",
            "radportal_outbox_oldest_pending_age_seconds",
            &[]
        ) > 0.0
    );

    // Jobs: mail delivery ran on this instance; the shared jobs' schedule is read from the database.
    let runs = |scrape: &Scrape, job: &str| {
        scrape.value(
            "radportal_job_runs",
            "radportal_job_runs_total",
            &[("job", job)],
        )
    };
    assert!(runs(&after, "mail") > runs(&before, "mail"));
    assert_eq!(
        after.value(
            "radportal_job_failures",
            "radportal_job_failures_total",
            &[("job", "mail")]
        ),
        0.0
    );
    for job in ["grant_expiry", "prune", "suspension"] {
        assert_eq!(runs(&after, job), 1.0, "{job} ran once at start-up");
        let lag = after.value(
            "radportal_job_lag_seconds",
            "radportal_job_lag_seconds",
            &[("job", job)],
        );
        assert_eq!(lag, 0.0, "{job} is not overdue");
    }

    // The pool and the database.
    let pool = |state: &str| {
        after.value(
            "radportal_db_pool_connections",
            "radportal_db_pool_connections",
            &[("state", state)],
        )
    };
    assert!(pool("idle") + pool("in_use") >= 1.0);
    assert_eq!(
        after.value(
            "radportal_db_pool_max_connections",
            "radportal_db_pool_max_connections",
            &[]
        ),
        5.0
    );
    assert_eq!(
        after.value("radportal_database_up", "radportal_database_up", &[]),
        1.0
    );
}

#[tokio::test]
async fn metrics_on_their_own_address_leave_the_portals_path_at_404() {
    let mut portal = Served::start(
        Template::Migrated,
        "json",
        &[("RADPORTAL_METRICS_LISTEN", "127.0.0.1:0")],
    )
    .await;
    let line = portal
        .wait_for_line(Duration::from_secs(5), |line| {
            line.contains("\"message\":\"serving metrics\"")
        })
        .expect("the metrics address is logged");
    let event: Value = serde_json::from_str(&line).unwrap();
    let address = format!("http://{}", event["fields"]["address"].as_str().unwrap());
    let client = new_client();
    let page = client.get(portal.url("/healthz")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let served = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let parsed = Scrape::parse(&served.text().await.unwrap()).await;
    assert_eq!(parsed.family("http_requests")["type"], "counter");
    let labels = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert_eq!(
        parsed.value("http_requests", "http_requests_total", &labels),
        1.0
    );
    let elsewhere = client.get(format!("{address}/")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let on_the_portal = client.get(portal.url("/metrics")).send().await.unwrap();
    assert_eq!(on_the_portal.status(), StatusCode::NOT_FOUND);

    assert!(portal.stop().success());
}

#[tokio::test]
async fn without_a_token_or_an_address_metrics_answer_404_whatever_is_sent() {
    let app = TestApp::spawn().await;

    let plain = app.get("/metrics").await;
    let with_token = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(plain.status(), StatusCode::NOT_FOUND);
    assert_eq!(with_token.status(), StatusCode::NOT_FOUND);
}
