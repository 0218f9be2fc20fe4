//! E-mail in tests: a real SMTP server on loopback (aiosmtpd, `tests/mail/smtp_sink.py`) and a
//! deterministic delivery step. Tests do not wait for the portal's worker: `TestApp::deliver_mail`
//! sends what is due itself and then asks the SMTP server to confirm it has handed over everything it
//! received.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::python;

/// How long the SMTP server may take to start or to answer a flush before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// A message the SMTP server received.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl ReceivedMail {
    /// The path and query of the first link in the body to `path` on the portal.
    pub fn link(&self, path: &str) -> String {
        let start = self
            .body
            .find(&format!("{path}?"))
            .unwrap_or_else(|| panic!("a link to {path} in: {}", self.body));
        self.body[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    /// Whether it went to `to` and its subject contains `subject`.
    pub fn is(&self, to: &str, subject: &str) -> bool {
        self.to.iter().any(|recipient| recipient == to) && self.subject.contains(subject)
    }
}

/// The messages to `to` whose subject contains `subject`, in the order they arrived.
pub fn matching(mails: &[ReceivedMail], to: &str, subject: &str) -> Vec<ReceivedMail> {
    mails
        .iter()
        .filter(|mail| mail.is(to, subject))
        .cloned()
        .collect()
}

/// A real SMTP server on loopback, collecting what it receives.
pub struct MailSink {
    pub port: u16,
    received: Mutex<Vec<ReceivedMail>>,
    pipe: tokio::sync::Mutex<Pipe>,
    _child: Child,
}

struct Pipe {
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl MailSink {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/mail/smtp_sink.py"
            ))
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python runs (scripts/test installs aiosmtpd into target/test-venv)");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the SMTP server starts")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        Self {
            port,
            received: Mutex::new(Vec::new()),
            pipe: tokio::sync::Mutex::new(Pipe { stdin, lines }),
            _child: child,
        }
    }

    /// The URL the portal's mailer is configured with.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message the server has accepted so far, in the order it accepted them. A sender hears
    /// "accepted" only after the server has written the message out, so whatever an SMTP client has
    /// finished sending is in the list.
    pub async fn received(&self) -> Vec<ReceivedMail> {
        let mut pipe = self.pipe.lock().await;
        pipe.stdin.write_all(b"flush\n").await.unwrap();
        pipe.stdin.flush().await.unwrap();
        loop {
            let line = tokio::time::timeout(PATIENCE, pipe.lines.next_line())
                .await
                .expect("the SMTP server answers")
                .unwrap()
                .expect("the SMTP server runs");
            if line == "flushed" {
                break;
            }
            let mail: ReceivedMail = serde_json::from_str(&line).unwrap();
            self.received.lock().unwrap().push(mail);
        }
        self.received.lock().unwrap().clone()
    }
}
