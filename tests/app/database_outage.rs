//! When PostgreSQL goes away: pages and `/readyz` answer 503 within about a second, the portal
//! recovers by itself when the database is back, and no acknowledged write is lost. The main test
//! runs its own throwaway PostgreSQL cluster (`initdb` on another port, as an unprivileged user) and
//! stops it under a write load.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use radportal::{AppState, Config};
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

/// A URL where nothing listens: the database is "down".
const DEAD_URL: &str = "postgres://postgres@127.0.0.1:9/radportal";

/// A portal whose pool points at [`DEAD_URL`], with `config` changed by `configure`.
async fn portal_without_database(configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::for_database(DEAD_URL);
    configure(&mut config);
    let options = radportal::db::connect_options(&config).unwrap();
    let pool = radportal::db::pool_options(&config).connect_lazy_with(options);
    TestApp::spawn_with(
        AppState::new(pool.clone(), config),
        pool,
        "never_created_database".to_owned(),
        DEAD_URL.to_owned(),
    )
    .await
}

async fn timed_get(app: &TestApp, path: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let status = app.get(path).await.status();
    (status, started.elapsed())
}

#[tokio::test]
async fn without_a_database_pages_answer_503_within_the_acquire_timeout() {
    // The default acquire timeout: one second.
    let app = portal_without_database(|_| {}).await;

    let (status, took) = timed_get(&app, "/datasets").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(1500), "503 after {took:?}");
    let (status, took) = timed_get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(1500), "readyz after {took:?}");
}

#[tokio::test]
async fn readyz_answers_within_its_own_timeout_whatever_the_pool_waits() {
    let app = portal_without_database(|config| {
        config.db_acquire_timeout = Duration::from_secs(10);
        config.readyz_timeout = Duration::from_millis(300);
    })
    .await;

    let (status, took) = timed_get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(900), "readyz after {took:?}");
}

#[test]
fn acquire_and_readiness_timeouts_out_of_range_are_refused() {
    for (variable, value, flag, range) in [
        (
            "RADPORTAL_DB_ACQUIRE_TIMEOUT_MS",
            "5",
            "--db-acquire-timeout-ms",
            "100..=60000",
        ),
        (
            "RADPORTAL_DB_ACQUIRE_TIMEOUT_MS",
            "600000",
            "--db-acquire-timeout-ms",
            "100..=60000",
        ),
        (
            "RADPORTAL_READYZ_TIMEOUT_MS",
            "0",
            "--readyz-timeout-ms",
            "50..=60000",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_radportal"))
            .arg("serve")
            .env("DATABASE_URL", DEAD_URL)
            .env(variable, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value}: {stderr}"
        );
        assert!(
            stderr.contains(flag) && stderr.contains(&format!("{value} is not in {range}")),
            "{stderr}"
        );
    }
}

/// The PostgreSQL binaries; `RADPORTAL_TEST_PG_BIN` overrides.
pub(crate) fn pg_bin() -> PathBuf {
    std::env::var_os("RADPORTAL_TEST_PG_BIN").map_or_else(
        || PathBuf::from("/usr/lib/postgresql/15/bin"),
        PathBuf::from,
    )
}

/// A PostgreSQL cluster of its own in a temporary directory, run by an unprivileged user when the
/// tests run as root (PostgreSQL refuses to run as root). Stopped and removed when dropped.
struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    /// Whom to run the server as (`None`: the current user).
    user: Option<&'static str>,
}

impl Cluster {
    fn init() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("radportal-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| output.stdout.trim_ascii() == b"0");
        let user = is_root.then_some("nobody");
        if is_root {
            let done = Command::new("chown")
                .args(["nobody:", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(done.success(), "chown of {}", dir.display());
        }
        let cluster = Self {
            data: dir.join("data"),
            dir,
            port,
            user,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        cluster
    }

    /// Runs a PostgreSQL program as the cluster's user and asserts that it succeeds.
    fn run(&self, program: &str, args: &[&str]) {
        let binary = pg_bin().join(program);
        let mut command = match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        let output = command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server the hard way: every process killed, no shutdown checkpoint.
    fn stop_immediately(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let binary = pg_bin().join("pg_ctl");
            let mut command = match self.user {
                Some(user) => {
                    let mut command = Command::new("runuser");
                    command.args(["-u", user, "--"]).arg(&binary);
                    command
                }
                None => Command::new(&binary),
            };
            let _ = command
                .args([
                    "-D",
                    self.data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One answer the load saw.
#[derive(Clone, Debug)]
struct Answer {
    /// The organization the request tried to create.
    slug: String,
    status: StatusCode,
    started: Instant,
    took: Duration,
}

/// Creates organizations as fast as it can until `stop`, noting every answer.
async fn write_load(
    app: Arc<TestApp>,
    admin: reqwest::Client,
    worker: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Answer> {
    let mut answers = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let slug = format!("load-{worker}-{n}");
        let started = Instant::now();
        let response = admin
            .post(app.url("/admin/organizations"))
            .form(&[
                ("slug", slug.as_str()),
                ("name", &format!("Load test {worker}/{n}")),
            ])
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let status = match response {
            Ok(response) => response.status(),
            Err(error) => panic!("the portal stopped answering: {error}"),
        };
        answers.push(Answer {
            slug,
            status,
            started,
            took: started.elapsed(),
        });
        if status != StatusCode::SEE_OTHER {
            // What a person retrying would do; keeps the log readable.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    answers
}

/// Polls `/readyz` until `stop`, noting status, start and duration.
async fn readiness_probe(
    app: Arc<TestApp>,
    stop: Arc<AtomicBool>,
) -> Vec<(StatusCode, Instant, Duration)> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let status = app.get("/readyz").await.status();
        seen.push((status, started, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

async fn wait_until(deadline: Duration, mut ready: impl AsyncFnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if ready().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_write_load_gives_quick_503s_and_loses_no_acknowledged_write() {
    if !pg_bin().join("initdb").exists() || !pg_bin().join("pg_ctl").exists() {
        eprintln!(
            "skipped: no PostgreSQL binaries in {} (set RADPORTAL_TEST_PG_BIN)",
            pg_bin().display()
        );
        return;
    }
    let test_started = Instant::now();
    let cluster = Cluster::init();
    cluster.start();
    let database = "radportal_outage";
    let mut config = Config::for_database(&cluster.url(database));
    config.seed_catalog = false;
    config.db_max_connections = 5;
    let db = radportal::db::connect_and_migrate(&config)
        .await
        .expect("the throwaway cluster is reachable");
    let app = Arc::new(
        TestApp::spawn_with(
            AppState::new(db.clone(), config),
            db.clone(),
            format!("radportal_outage_{}", uuid::Uuid::new_v4().simple()),
            cluster.url(database),
        )
        .await,
    );
    app.add_admin("ada@example.org").await;
    let admin = crate::helpers::new_client();
    assert_eq!(
        app.sign_in_with(&admin, "ada@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| tokio::spawn(write_load(app.clone(), admin.clone(), worker, stop.clone())))
        .collect();
    let probe = tokio::spawn(readiness_probe(app.clone(), stop.clone()));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped_at = Instant::now();
    cluster.stop_immediately();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarted_at = Instant::now();
    cluster.start();
    let cluster_started_after = restarted_at.elapsed();
    let recovered = wait_until(Duration::from_secs(10), async || {
        app.get("/readyz").await.status() == StatusCode::OK
    })
    .await;
    let recovered_after = restarted_at.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    let probes = probe.await.unwrap();
    assert!(
        recovered,
        "/readyz did not answer 200 within 10 s of the restart"
    );

    let before: Vec<_> = answers.iter().filter(|a| a.started < stopped_at).collect();
    // Requests started well inside the outage (not in flight when it began).
    let during: Vec<_> = answers
        .iter()
        .filter(|a| {
            a.started > stopped_at + Duration::from_millis(200) && a.started + a.took < restarted_at
        })
        .collect();
    let after: Vec<_> = answers
        .iter()
        .filter(|a| a.started > restarted_at + recovered_after)
        .collect();
    let slowest_503 = during.iter().map(|a| a.took).max().unwrap_or_default();
    let slowest_readyz = probes
        .iter()
        .filter(|(status, _, _)| *status != StatusCode::OK)
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} writes: {} before the stop, {} during the outage (slowest 503 after {slowest_503:?}; \
         slowest /readyz 503 after {slowest_readyz:?}), {} after recovery ({recovered_after:?} \
         after the restart, of which {cluster_started_after:?} for pg_ctl start); test took {:?}",
        answers.len(),
        before.len(),
        during.len(),
        after.len(),
        test_started.elapsed()
    );

    assert!(
        before
            .iter()
            .filter(|a| a.status == StatusCode::SEE_OTHER)
            .count()
            >= 4,
        "writes succeed before the outage"
    );
    assert!(during.len() >= 4, "the load kept asking during the outage");
    for answer in &during {
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
        assert!(answer.took < Duration::from_millis(1500), "{answer:?}");
    }
    for answer in &answers {
        assert!(
            [StatusCode::SEE_OTHER, StatusCode::SERVICE_UNAVAILABLE].contains(&answer.status),
            "only successes and 503s: {answer:?}"
        );
    }
    let probes_during: Vec<_> = probes
        .iter()
        .filter(|(_, started, took)| {
            *started > stopped_at + Duration::from_millis(200) && *started + *took < restarted_at
        })
        .collect();
    assert!(!probes_during.is_empty());
    for (status, _, took) in &probes_during {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(*took < Duration::from_millis(1500), "readyz after {took:?}");
    }
    assert!(
        after.iter().any(|a| a.status == StatusCode::SEE_OTHER),
        "writes succeed again after recovery"
    );

    // Every acknowledged write survived the crash, each with its audit entry.
    let acknowledged: Vec<&str> = answers
        .iter()
        .filter(|a| a.status == StatusCode::SEE_OTHER)
        .map(|a| a.slug.as_str())
        .collect();
    let stored: Vec<String> =
        sqlx::query_scalar("select slug from organizations where slug like 'load-%'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for slug in &acknowledged {
        assert!(
            stored.iter().any(|s| s == slug),
            "acknowledged {slug} is lost"
        );
    }
    let chain = radportal::audit::verify(&app.db).await.unwrap();
    assert!(chain.is_intact(), "{chain:?}");
    assert!(chain.checked >= acknowledged.len() as u64);

    // The process stayed up all along.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.db.close().await;
    assert!(
        test_started.elapsed() < Duration::from_secs(30),
        "bounded in time"
    );
    drop(cluster);
}
