//! Two instances over one database through PgBouncer: sessions, shared jobs, catalog changes and
//! prepared statements. In session pooling mode they all work; in transaction pooling mode
//! (PgBouncer 1.18, without `max_prepared_statements`) sqlx's prepared statements do not, which the
//! ignored test shows.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use radportal::jobs::{Job, JobContext, RunFuture};
use radportal::{AppState, Config};
use reqwest::StatusCode;

use crate::helpers::{Template, TestApp, TestDatabase, bundled_records, new_client};

/// A PgBouncer of the test's own, on a free loopback port, in front of one test database.
struct Bouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Bouncer {
    /// Starts PgBouncer for `database` in `pool_mode`, or `None` when it is not installed.
    fn start(database: &str, pool_mode: &str) -> Option<Self> {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("radportal-pgbouncer-{database}"));
        std::fs::create_dir_all(&dir).unwrap();
        // PgBouncer refuses to run as root: it then runs as `postgres`, which must write here.
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        write(&dir.join("users.txt"), "\"postgres\" \"\"\n");
        write(
            &dir.join("pgbouncer.ini"),
            &format!(
                "[databases]\n\
                 {database} = host=127.0.0.1 port=5432 dbname={database} user=postgres\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = {pool_mode}\n\
                 default_pool_size = 20\n\
                 max_client_conn = 200\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {log}\n\
                 pidfile = {pid}\n",
                users = dir.join("users.txt").display(),
                log = dir.join("pgbouncer.log").display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        );
        if as_root {
            Command::new("chmod")
                .args(["-R", "a+rwX"])
                .arg(&dir)
                .status()
                .unwrap();
        }
        let mut command = Command::new(binary);
        if as_root {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer listens on {port}: {}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(bouncer)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A configuration for an instance whose pool goes through `bouncer` and whose migrations go
/// straight to PostgreSQL.
fn through(bouncer: &Bouncer, name: &str, direct_url: &str, config: &mut Config) {
    config.database_url = bouncer.url(name).into();
    config.migration_database_url = Some(direct_url.to_owned().into());
    config.db_max_connections = 5;
    config.seed_catalog = false;
}

/// A second instance over the same database through `bouncer`; stops when the sender is dropped.
async fn second_instance(
    bouncer: &Bouncer,
    database_name: &str,
    direct_url: &str,
) -> (String, AppState, tokio::sync::oneshot::Sender<()>) {
    let mut config = Config::for_database(direct_url);
    through(bouncer, database_name, direct_url, &mut config);
    let pool = radportal::db::connect_and_migrate(&config).await.unwrap();
    let (listener, address) = TestApp::reserve().await;
    let state = AppState::new(pool, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(radportal::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    (address, state, stop)
}

/// How many times [`counted_job`] ran.
static RUNS: AtomicUsize = AtomicUsize::new(0);

fn counted_run(_: &JobContext) -> RunFuture<'_> {
    Box::pin(async {
        RUNS.fetch_add(1, Ordering::SeqCst);
        // Long enough for every other claim to arrive while this run is in progress.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(1)
    })
}

fn counted_job() -> Job {
    Job {
        name: "pgbouncer-test-job",
        interval: Duration::from_secs(3600),
        shared: true,
        run: counted_run,
    }
}

#[tokio::test]
async fn two_instances_behind_pgbouncer_in_session_mode() {
    two_instances_behind_pgbouncer("session").await;
}

#[tokio::test]
#[ignore = "sqlx prepares a named statement and runs it in the next round trip, which PgBouncer 1.18 \
            in transaction mode may send to another server connection"]
async fn two_instances_behind_pgbouncer_in_transaction_mode() {
    two_instances_behind_pgbouncer("transaction").await;
}

async fn two_instances_behind_pgbouncer(pool_mode: &str) {
    let database = TestDatabase::create(Template::Catalog).await;
    let Some(bouncer) = Bouncer::start(&database.name, pool_mode) else {
        eprintln!(
            "SKIPPED two instances behind pgbouncer: pgbouncer is not installed \
             (apt-get install -y pgbouncer)"
        );
        return;
    };
    let (name, direct) = (database.name.clone(), database.url.clone());
    let first =
        TestApp::spawn_on(database, |config| through(&bouncer, &name, &direct, config)).await;
    let (second, second_state, _stop) = second_instance(&bouncer, &name, &direct).await;
    let addresses = [first.address.clone(), second.clone()];

    // A session started on one instance is valid on the other.
    first.add_admin("ada@example.org").await;
    let admin = first.signed_in("ada@example.org").await;
    let on_second = admin
        .get(format!("{second}/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_second.status(), StatusCode::OK);
    assert!(on_second.text().await.unwrap().contains("ada@example.org"));
    let stranger = new_client()
        .get(format!("{second}/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stranger.status(),
        StatusCode::SEE_OTHER,
        "without the session cookie the second instance asks to sign in"
    );
    let signed_out = admin
        .post(format!("{second}/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    let after = admin
        .get(format!("{}/admin/users", first.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "signing out on the second instance ends the session on the first"
    );
    let admin = first.signed_in("ada@example.org").await;

    // A shared job claimed by both instances at once, ten times each, runs once.
    RUNS.store(0, Ordering::SeqCst);
    let contexts = [&first.state, &second_state].map(|state| {
        JobContext::new(
            state.db.clone(),
            state.config.clone(),
            std::sync::Arc::new(radportal::mail::Mailer::from_config(&state.config).unwrap()),
        )
    });
    let claims = (0..20).map(|n| {
        let context = contexts[n % 2].clone();
        tokio::spawn(async move { radportal::jobs::run_if_due(&context, &counted_job()).await })
    });
    let handled: usize = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap().unwrap())
        .sum();
    assert_eq!(RUNS.load(Ordering::SeqCst), 1, "the job ran once");
    assert_eq!(handled, 1);

    // A catalog change made through the first instance shows in the second's search within seconds.
    let mut record = bundled_records()[0].clone();
    record["id"] = "pgbouncer-zebrafish-atlas".into();
    record["name"] = "Zebrafish pooled connection atlas".into();
    record["doi"] = serde_json::Value::Null;
    record["url"] = "https://example.org/zebrafish-pooled".into();
    let report = first
        .import(
            serde_json::to_vec(&serde_json::json!([record]))
                .unwrap()
                .as_slice(),
        )
        .await;
    assert_eq!(report.created.len(), 1, "{:?}", report.rejected);
    let changed = Instant::now();
    loop {
        let page = new_client()
            .get(format!("{second}/datasets?q=zebrafish"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("pgbouncer-zebrafish-atlas") {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the second instance's search shows the new dataset within 5 s (the first's: {})",
            first
                .get("/datasets?q=zebrafish")
                .await
                .text()
                .await
                .unwrap()
                .contains("pgbouncer-zebrafish-atlas")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "catalog change visible on the other instance after {} ms",
        changed.elapsed().as_millis()
    );

    // Prepared-statement-heavy paths, alternating instances so pooled server connections shuffle.
    let slug = bundled_records()[1]["id"].as_str().unwrap().to_owned();
    let paths = [
        "/datasets?q=lung".to_owned(),
        format!("/datasets/{slug}"),
        "/admin/datasets?q=lidc".to_owned(),
        "/admin/users".to_owned(),
        "/api/v1/datasets".to_owned(),
        format!("/api/v1/datasets/{slug}"),
        "/api/3/action/package_list".to_owned(),
    ];
    let started = Instant::now();
    let mut requests = 0;
    for round in 0..10 {
        for (n, path) in paths.iter().enumerate() {
            let address = &addresses[(round + n) % 2];
            let response = admin.get(format!("{address}{path}")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{address}{path}");
            requests += 1;
        }
    }
    eprintln!(
        "{requests} sequential requests through pgbouncer in {} ms",
        started.elapsed().as_millis()
    );

    // Ten at once of each kind, half on each instance: none fails.
    for path in &paths {
        let parallel = (0..10).map(|n| {
            let request = admin.get(format!("{}{path}", addresses[n % 2])).send();
            async move { request.await.unwrap().status() }
        });
        let statuses = futures_util::future::join_all(parallel).await;
        assert!(
            statuses.iter().all(|status| *status == StatusCode::OK),
            "{path}: {statuses:?}"
        );
    }
}
