//! The portal's Prometheus metrics: what requests, searches, the search index, e-mail and the jobs
//! record as they happen, and the rendering of everything in the Prometheus text format.
//!
//! The counters are kept once per process, as Prometheus scrapes a process (two portals served from
//! one process add up their counts). What lives in PostgreSQL or the pool — the outbox, the job
//! schedule, the pool's connections — is read at each scrape by `web::metrics` and handed to
//! [`render`] as [`Readings`]. Labels only ever hold bounded values: route templates, method names,
//! status codes and job names, never a path or a query as sent.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets of requests and searches, in seconds (1 ms to 10 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Duration buckets of job runs, in seconds (10 ms to 10 min).
const JOB_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 600.0];

/// The label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The media type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric recorded as things happen.
struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    http_in_flight: IntGauge,
    search_duration: Histogram,
    index_version: IntGauge,
    index_datasets: IntGauge,
    index_updated: Gauge,
    emails_sent: IntCounter,
    emails_failed: IntCounter,
    job_runs: IntCounterVec,
    job_failures: IntCounterVec,
    job_duration: HistogramVec,
    db_acquire_timeouts: IntCounter,
    search_log_dropped: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Registers `metric` in `registry`; the names are constants, so a failure is a programming error.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

fn histogram_opts(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(buckets.to_vec())
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let metrics = Self {
            http_requests: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "http_requests_total",
                        "HTTP requests answered, by route template, method and status.",
                    ),
                    &["route", "method", "status"],
                )
                .expect("valid metric"),
            ),
            http_duration: registered(
                r,
                HistogramVec::new(
                    histogram_opts(
                        "http_request_duration_seconds",
                        "Time from a request's arrival to its response's headers, by route template and method.",
                        LATENCY_BUCKETS,
                    ),
                    &["route", "method"],
                )
                .expect("valid metric"),
            ),
            http_in_flight: registered(
                r,
                IntGauge::new(
                    "http_requests_in_flight",
                    "Requests being handled right now.",
                )
                .expect("valid metric"),
            ),
            search_duration: registered(
                r,
                Histogram::with_opts(histogram_opts(
                    "radportal_search_duration_seconds",
                    "Time a catalog search took (search page, API and CKAN package_search).",
                    LATENCY_BUCKETS,
                ))
                .expect("valid metric"),
            ),
            index_version: registered(
                r,
                IntGauge::new(
                    "radportal_search_index_version",
                    "The catalog version the in-memory search index holds (-1 before it is first loaded).",
                )
                .expect("valid metric"),
            ),
            index_datasets: registered(
                r,
                IntGauge::new(
                    "radportal_search_index_datasets",
                    "Published datasets in the in-memory search index.",
                )
                .expect("valid metric"),
            ),
            index_updated: registered(
                r,
                Gauge::new(
                    "radportal_search_index_updated_timestamp_seconds",
                    "When the in-memory search index last changed, in Unix seconds (0: not yet loaded).",
                )
                .expect("valid metric"),
            ),
            emails_sent: registered(
                r,
                IntCounter::new("radportal_emails_sent_total", "E-mails handed to the SMTP server (or, without one, to the log).")
                    .expect("valid metric"),
            ),
            emails_failed: registered(
                r,
                IntCounter::new(
                    "radportal_emails_failed_total",
                    "Attempts to send an e-mail that failed (each is retried later, up to the attempt limit).",
                )
                .expect("valid metric"),
            ),
            job_runs: registered(
                r,
                IntCounterVec::new(
                    Opts::new("radportal_job_runs_total", "Runs of each background job on this instance."),
                    &["job"],
                )
                .expect("valid metric"),
            ),
            job_failures: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "radportal_job_failures_total",
                        "Runs of each background job on this instance that failed.",
                    ),
                    &["job"],
                )
                .expect("valid metric"),
            ),
            job_duration: registered(
                r,
                HistogramVec::new(
                    histogram_opts(
                        "radportal_job_duration_seconds",
                        "How long each background job's runs took on this instance.",
                        JOB_BUCKETS,
                    ),
                    &["job"],
                )
                .expect("valid metric"),
            ),
            db_acquire_timeouts: registered(
                r,
                IntCounter::new(
                    "radportal_db_pool_acquire_timeouts_total",
                    "Requests that waited for a database connection longer than the acquire timeout (answered with 503).",
                )
                .expect("valid metric"),
            ),
            search_log_dropped: registered(
                r,
                IntCounter::new(
                    "radportal_search_log_dropped_total",
                    "Searches not recorded for the search analytics because this instance's buffer was full (or a batch could not be written and no longer fitted).",
                )
                .expect("valid metric"),
            ),
            registry,
        };
        metrics.index_version.set(-1);
        metrics
    }
}

/// Counts a request that is being handled until the returned guard is dropped.
pub fn request_started() -> InFlight {
    METRICS.http_in_flight.inc();
    InFlight(())
}

/// How many requests are being handled right now.
pub fn requests_in_flight() -> i64 {
    METRICS.http_in_flight.get()
}

/// A request in flight; see [`request_started`].
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.http_in_flight.dec();
    }
}

/// Records an answered request: its route template (or [`UNMATCHED_ROUTE`]), its method (a standard
/// method's name, or `other`), its status and how long it took.
pub fn observe_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    METRICS
        .http_requests
        .with_label_values(&[route, method, &status])
        .inc();
    METRICS
        .http_duration
        .with_label_values(&[route, method])
        .observe(elapsed.as_secs_f64());
}

/// Records how long one catalog search took.
pub fn observe_search(elapsed: Duration) {
    METRICS.search_duration.observe(elapsed.as_secs_f64());
}

/// Records the search index's state after it changed: the catalog version it holds, how many datasets
/// it has, and when it changed.
pub fn set_index(version: i64, datasets: usize, updated_at: std::time::SystemTime) {
    METRICS.index_version.set(version);
    METRICS
        .index_datasets
        .set(i64::try_from(datasets).unwrap_or(i64::MAX));
    let since_epoch = updated_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    METRICS.index_updated.set(since_epoch.as_secs_f64());
}

/// Records an e-mail handed over for delivery.
pub fn email_sent() {
    METRICS.emails_sent.inc();
}

/// Records a failed attempt to send an e-mail.
pub fn email_failed() {
    METRICS.emails_failed.inc();
}

/// Makes `job`'s series appear (at zero) before its first run, so that rates work from the start.
pub fn job_known(job: &str) {
    METRICS.job_runs.with_label_values(&[job]);
    METRICS.job_failures.with_label_values(&[job]);
}

/// Records one run of `job`: how long it took and whether it failed.
pub fn job_ran(job: &str, elapsed: Duration, failed: bool) {
    METRICS.job_runs.with_label_values(&[job]).inc();
    if failed {
        METRICS.job_failures.with_label_values(&[job]).inc();
    }
    METRICS
        .job_duration
        .with_label_values(&[job])
        .observe(elapsed.as_secs_f64());
}

/// Records a request that gave up waiting for a database connection.
pub fn db_acquire_timed_out() {
    METRICS.db_acquire_timeouts.inc();
}

/// Records searches the search log had no room for.
pub fn search_log_dropped(count: u64) {
    METRICS.search_log_dropped.inc_by(count);
}

/// The database pool as seen at a scrape.
#[derive(Clone, Copy, Debug)]
pub struct PoolReading {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: usize,
    /// The most connections the pool opens.
    pub max: u32,
}

/// The mail outbox as seen at a scrape.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutboxReading {
    /// Messages not sent yet that will still be tried.
    pub pending: i64,
    /// Of those, the ones due now (the others wait for their next attempt after a failure).
    pub due: i64,
    /// Messages given up after the last attempt.
    pub given_up: i64,
    /// Seconds since the oldest pending message was written (0 with none).
    pub oldest_pending_age_seconds: f64,
}

/// One shared job's schedule as seen at a scrape.
#[derive(Clone, Debug)]
pub struct JobReading {
    pub job: String,
    /// Seconds the job has been due without any instance running it (0 while it is not due).
    pub lag_seconds: f64,
    /// When a run last finished on any instance, in Unix seconds.
    pub last_finished_seconds: Option<f64>,
}

/// What a scrape read besides the counters: the pool always, the outbox and the job schedule when the
/// database answered in time.
#[derive(Clone, Debug)]
pub struct Readings {
    pub pool: PoolReading,
    /// `None` when the database could not be read for this scrape.
    pub database: Option<(OutboxReading, Vec<JobReading>)>,
}

/// Everything, in the Prometheus text exposition format (version 0.0.4).
pub fn render(readings: &Readings) -> String {
    let scrape = Registry::new();
    let r = &scrape;
    let gauge = |name: &str, help: &str, value: f64| {
        registered(r, Gauge::new(name, help).expect("valid metric")).set(value);
    };
    let pool = readings.pool;
    let connections = registered(
        r,
        IntGaugeVec::new(
            Opts::new(
                "radportal_db_pool_connections",
                "Open database connections of this instance's pool, by state.",
            ),
            &["state"],
        )
        .expect("valid metric"),
    );
    let idle = i64::try_from(pool.idle).unwrap_or(i64::MAX);
    connections.with_label_values(&["idle"]).set(idle);
    connections
        .with_label_values(&["in_use"])
        .set((i64::from(pool.size) - idle).max(0));
    gauge(
        "radportal_db_pool_max_connections",
        "The most connections this instance's pool opens.",
        f64::from(pool.max),
    );
    gauge(
        "radportal_database_up",
        "Whether this scrape could read the outbox and the job schedule from PostgreSQL in time.",
        if readings.database.is_some() {
            1.0
        } else {
            0.0
        },
    );
    if let Some((outbox, jobs)) = &readings.database {
        let messages = registered(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "radportal_outbox_messages",
                    "Unsent e-mails in the outbox: due now, waiting to be retried, or given up.",
                ),
                &["state"],
            )
            .expect("valid metric"),
        );
        messages.with_label_values(&["due"]).set(outbox.due);
        messages
            .with_label_values(&["retrying"])
            .set((outbox.pending - outbox.due).max(0));
        messages
            .with_label_values(&["given_up"])
            .set(outbox.given_up);
        gauge(
            "radportal_outbox_oldest_pending_age_seconds",
            "Age of the oldest e-mail still to be sent (0 when none is).",
            outbox.oldest_pending_age_seconds,
        );
        let lag = registered(
            r,
            GaugeVec::new(
                Opts::new(
                    "radportal_job_lag_seconds",
                    "How long each shared job has been due without any instance running it.",
                ),
                &["job"],
            )
            .expect("valid metric"),
        );
        let finished = registered(
            r,
            GaugeVec::new(
                Opts::new(
                    "radportal_job_last_finished_timestamp_seconds",
                    "When each shared job's last run finished on any instance, in Unix seconds.",
                ),
                &["job"],
            )
            .expect("valid metric"),
        );
        for job in jobs {
            lag.with_label_values(&[&job.job]).set(job.lag_seconds);
            if let Some(at) = job.last_finished_seconds {
                finished.with_label_values(&[&job.job]).set(at);
            }
        }
    }
    let mut families = METRICS.registry.gather();
    families.extend(scrape.gather());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_type_and_the_readings() {
        observe_request("/datasets/{slug}", "GET", 200, Duration::from_millis(3));
        job_known("prune");
        let text = render(&Readings {
            pool: PoolReading {
                size: 3,
                idle: 1,
                max: 10,
            },
            database: Some((
                OutboxReading {
                    pending: 4,
                    due: 3,
                    given_up: 1,
                    oldest_pending_age_seconds: 12.5,
                },
                vec![JobReading {
                    job: "prune".to_owned(),
                    lag_seconds: 0.0,
                    last_finished_seconds: Some(1.0),
                }],
            )),
        });
        for line in [
            "# TYPE http_requests_total counter",
            "# TYPE http_request_duration_seconds histogram",
            r#"http_requests_total{method="GET",route="/datasets/{slug}",status="200"}"#,
            r#"radportal_db_pool_connections{state="in_use"} 2"#,
            r#"radportal_outbox_messages{state="retrying"} 1"#,
            "radportal_outbox_oldest_pending_age_seconds 12.5",
            r#"radportal_job_runs_total{job="prune"} 0"#,
            "radportal_database_up 1",
            "radportal_search_index_version",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn without_the_database_the_outbox_and_schedule_are_left_out() {
        let text = render(&Readings {
            pool: PoolReading {
                size: 0,
                idle: 0,
                max: 10,
            },
            database: None,
        });
        assert!(text.contains("radportal_database_up 0"), "{text}");
        assert!(!text.contains("radportal_outbox_messages"), "{text}");
    }
}
