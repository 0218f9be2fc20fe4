//! SIGTERM, sent to the real binary while requests are open and a delivery is in the middle of a
//! message: new connections are refused at once, the open requests are answered in full, the message
//! in hand is finished and marked, nothing else is touched, and the process exits 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::helpers::{Served, SmtpStub, Template};

/// A search whose request body is half sent: the portal has begun to handle it and waits for the rest.
struct OpenRequest {
    stream: TcpStream,
    rest: &'static [u8],
}

const SEARCH: &str = r#"{"q": "lung", "rows": 5}"#;

impl OpenRequest {
    fn begin(address: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // One whole exchange first, so that the server has surely accepted this connection.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: portal\r\n\r\n")
            .unwrap();
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut ok = [0u8; 2];
        stream.read_exact(&mut ok).unwrap();
        let (sent, rest) = SEARCH.as_bytes().split_at(SEARCH.len() / 2);
        write!(
            stream,
            "POST /api/3/action/package_search HTTP/1.1\r\nhost: portal\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            SEARCH.len()
        )
        .unwrap();
        stream.write_all(sent).unwrap();
        stream.flush().unwrap();
        Self { stream, rest }
    }

    /// Sends the rest of the body and returns the status line and the body of the answer.
    fn finish(mut self) -> (String, String) {
        self.stream.write_all(self.rest).unwrap();
        let mut answer = Vec::new();
        self.stream
            .read_to_end(&mut answer)
            .expect("the answer arrives in full");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        (
            head.lines().next().unwrap_or_default().to_owned(),
            body.to_owned(),
        )
    }
}

/// Reads a response's head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// How long after now a new connection to `address` is first refused (within `patience`).
fn refused_within(address: SocketAddr, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < patience {
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Some(started.elapsed());
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    None
}

/// The token of the metrics, which tell when the portal has begun handling the open requests.
const METRICS_TOKEN: &str = "shutdown-test-metrics-token";

/// Waits until the portal is handling `count` requests besides the scrape that asks.
async fn wait_until_in_flight(portal: &Served, count: usize) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let text = client
            .get(portal.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        seen = text
            .lines()
            .find(|line| line.starts_with("http_requests_in_flight "))
            .unwrap_or_default()
            .to_owned();
        if seen == format!("http_requests_in_flight {}", count + 1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the portal never handled {count} requests at once: {seen}");
}

fn socket_address(served: &Served) -> SocketAddr {
    served
        .address
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sigterm_drains_open_requests_and_the_mail_in_hand_then_exits_0() {
    // Each message is accepted 1.5 s after it arrived, so a delivery is always mid-message.
    let smtp = SmtpStub::start(Duration::from_millis(1500), "");
    let mut portal = Served::start(
        Template::Catalog,
        "json",
        &[
            ("RADPORTAL_SMTP_URL", &smtp.url()),
            ("RADPORTAL_OUTBOX_POLL_MS", "100"),
            ("RADPORTAL_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
    .await;
    for n in 0..10 {
        sqlx::query("insert into outbox (recipient, subject, body) values ($1, $2, 'Hello.')")
            .bind(format!("reader{n}@example.org"))
            .bind(format!("Message {n}"))
            .execute(&portal.db)
            .await
            .unwrap();
    }
    let address = socket_address(&portal);
    let open: Vec<OpenRequest> = (0..4).map(|_| OpenRequest::begin(address)).collect();
    wait_until_in_flight(&portal, open.len()).await;
    assert!(
        smtp.wait_until_holding(Duration::from_secs(10)),
        "the mail job is delivering a message"
    );

    let signalled = Instant::now();
    portal.terminate();

    let refused = refused_within(address, Duration::from_secs(5));
    assert!(
        refused.is_some(),
        "new connections are refused after SIGTERM"
    );
    assert!(
        portal.is_running(),
        "the process waits for its open requests"
    );
    for request in open {
        let (status, body) = request.finish();
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["success"], true, "{body}");
        assert!(answer["result"]["count"].as_i64().unwrap() > 0, "{body}");
    }
    let status = portal
        .wait_exit(Duration::from_secs(15))
        .expect("the process exits after draining");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status 0 after SIGTERM: {status}");
    assert!(took < Duration::from_secs(10), "drained in {took:?}");
    println!(
        "shutdown: new connections refused {:?} after SIGTERM, exit 0 after {took:?}",
        refused.unwrap()
    );

    // Every message the SMTP server accepted is marked sent; the others are as they were, for the next
    // instance. None was both accepted and left unmarked (it would be sent twice).
    let rows: Vec<(String, bool, i32, Option<String>)> = sqlx::query_as(
        "select subject, sent_at is not null, attempts, last_error from outbox order by id",
    )
    .fetch_all(&portal.db)
    .await
    .unwrap();
    let sent: Vec<String> = rows
        .iter()
        .filter(|(_, sent, _, _)| *sent)
        .map(|(subject, ..)| subject.clone())
        .collect();
    let accepted = smtp.accepted();
    assert_eq!(sent, accepted, "sent in the database = accepted by SMTP");
    assert!(
        (1..=2).contains(&accepted.len()),
        "the delivery stopped after the message in hand: {accepted:?}"
    );
    for (subject, sent, attempts, error) in &rows {
        if !sent {
            assert_eq!(
                (*attempts, error),
                (0, &None),
                "{subject} was left untouched"
            );
        }
    }
    // No shared job was left claimed and unfinished.
    let unfinished: Vec<String> = sqlx::query_scalar(
        "select name from job_schedule
         where last_started_at is not null
           and (last_finished_at is null or last_finished_at < last_started_at)",
    )
    .fetch_all(&portal.db)
    .await
    .unwrap();
    assert!(
        unfinished.is_empty(),
        "runs left unfinished: {unfinished:?}"
    );

    let messages: Vec<String> = portal
        .lines()
        .iter()
        .map(|(_, line)| {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
            event["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("shutdown requested")),
        "{messages:#?}"
    );
    assert!(
        messages.iter().any(|m| m == "shut down cleanly"),
        "{messages:#?}"
    );
}

#[tokio::test]
async fn a_request_that_never_finishes_is_cut_at_the_shutdown_timeout() {
    let mut portal = Served::start(
        Template::Migrated,
        "json",
        &[
            ("RADPORTAL_SHUTDOWN_TIMEOUT_SECS", "1"),
            ("RADPORTAL_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
    .await;
    let stuck = OpenRequest::begin(socket_address(&portal));
    wait_until_in_flight(&portal, 1).await;

    let signalled = Instant::now();
    portal.terminate();
    let status = portal
        .wait_exit(Duration::from_secs(10))
        .expect("the process exits despite the open request");

    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "exited {took:?} after SIGTERM"
    );
    assert!(
        portal
            .lines()
            .iter()
            .any(|(_, line)| line.contains("requests still open at the shutdown timeout")),
        "{:#?}",
        portal.lines()
    );
    drop(stuck);
}
