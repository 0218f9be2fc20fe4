//! The real `radportal serve` as a child process over a copy of a template database, for what only the
//! process as a whole shows: its log lines on standard output and error, its files, its answer to
//! SIGTERM and exit status, and metrics of its own (each process counts for itself).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{Template, database_url, databases};

/// How long the process may take to start serving, or to log an awaited line.
const PATIENCE: Duration = Duration::from_secs(60);

/// Which stream a line came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A running `radportal serve`; killed, and its database and directory removed, when dropped.
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub db: PgPool,
    /// A directory of the test's own, readable only by this user (the password file goes here).
    pub dir: PathBuf,
    child: Child,
    lines: Arc<Mutex<Vec<(Stream, String)>>>,
    database_name: String,
}

impl Served {
    /// Starts `radportal serve` on a free port over a copy of `template`, logging at `info` with
    /// `RADPORTAL_LOG_FORMAT` as `format`, without example data, its first administrator's password
    /// written to [`Served::password_file`]; `env` adds or overrides variables.
    pub async fn start(template: Template, format: &str, env: &[(&str, &str)]) -> Self {
        let mut started = Self::spawn(template, format, env).await;
        if started
            .wait_for_line(PATIENCE, |line| serving_address(line).is_some())
            .is_none()
        {
            panic!("serve never said it was serving: {:#?}", started.lines());
        }
        started
    }

    /// Like [`Served::start`], but does not wait for it to serve (for a start that is to fail).
    pub async fn spawn(template: Template, format: &str, env: &[(&str, &str)]) -> Self {
        let database_name = databases::create_test_database(template).await;
        databases::in_use();
        let database_url = database_url(&database_name);
        let dir = std::env::temp_dir().join(format!("radportal-{database_name}"));
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o700);
        let mut command = Command::new(env!("CARGO_BIN_EXE_radportal"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &database_url)
            .env("RADPORTAL_LOG", "info,sqlx=warn")
            .env("RADPORTAL_LOG_FORMAT", format)
            .env("RADPORTAL_EXAMPLE_DATA", "false")
            .env("RADPORTAL_SEED_CATALOG", "false")
            .env("RADPORTAL_DB_MAX_CONNECTIONS", "5")
            .env(
                "RADPORTAL_ADMIN_PASSWORD_OUTPUT",
                dir.join("admin-password"),
            )
            .env_remove("NO_COLOR")
            .env_remove("RADPORTAL_METRICS_TOKEN")
            .env_remove("RADPORTAL_METRICS_LISTEN")
            .env_remove("RADPORTAL_ADMIN_PASSWORD_FILE")
            .env_remove("RADPORTAL_SMTP_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the radportal binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Stream::Stdout, &lines);
        collect(child.stderr.take().unwrap(), Stream::Stderr, &lines);
        let db = PgPool::connect(&database_url).await.unwrap();
        Self {
            address: String::new(),
            db,
            dir,
            child,
            lines,
            database_name,
        }
    }

    /// Where a generated first administrator's password is written.
    pub fn password_file(&self) -> PathBuf {
        self.dir.join("admin-password")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line printed so far, in the order read (each stream in its own order).
    pub fn lines(&self) -> Vec<(Stream, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits up to `patience` for a line matching `matches` and returns it.
    pub fn wait_for_line(
        &mut self,
        patience: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some((_, line)) = self.lines().into_iter().find(|(_, line)| matches(line)) {
                if self.address.is_empty() {
                    self.address = serving_address(&line).unwrap_or_default();
                }
                return Some(line);
            }
            if Instant::now() >= deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                // One more look: the process may have printed it just before it ended.
                return self
                    .lines()
                    .into_iter()
                    .map(|(_, line)| line)
                    .find(|line| matches(line));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `patience` for the process to exit; `None` if it is still running then.
    pub fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The readers see the end of both streams shortly after the exit.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the process with SIGTERM and returns its exit status (within 20 seconds).
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate();
        self.wait_exit(Duration::from_secs(20))
            .expect("the process exits within 20 s of SIGTERM")
    }
}

/// The address in the line that says the portal serves: `radportal is serving on http://…` in text,
/// the event `radportal is serving` with its `address` in JSON.
fn serving_address(line: &str) -> Option<String> {
    if let Some(address) = line.strip_prefix("radportal is serving on ") {
        return Some(address.trim().to_owned());
    }
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if event["fields"]["message"] != "radportal is serving" {
        return None;
    }
    Some(format!("http://{}", event["fields"]["address"].as_str()?))
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    which: Stream,
    lines: &Arc<Mutex<Vec<(Stream, String)>>>,
) {
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stream);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\n', '\r'])
                .to_owned();
            lines.lock().unwrap().push((which, text));
            line.clear();
        }
    });
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        databases::hand_back(std::mem::take(&mut self.database_name), false);
    }
}
