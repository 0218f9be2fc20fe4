//! A small SMTP server on loopback, on threads of its own, for tests that need what the collecting
//! sink cannot do: hold each message for a while before accepting it (so that a delivery is in the
//! middle of its run), and refuse recipients.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    /// Subjects of the messages accepted, in order.
    accepted: Vec<String>,
    /// Messages received and not answered yet.
    holding: usize,
}

/// An SMTP server that accepts each message `hold` after its data arrived, and refuses with 550 every
/// recipient containing `refuse`.
pub struct SmtpStub {
    pub port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl SmtpStub {
    pub fn start(hold: Duration, refuse: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = converse(stream, hold, refuse, &state);
                });
            }
        });
        Self { port, state }
    }

    /// The URL for `RADPORTAL_SMTP_URL` (no TLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The subjects of the messages accepted so far.
    pub fn accepted(&self) -> Vec<String> {
        self.state.0.lock().unwrap().accepted.clone()
    }

    /// Waits up to `patience` until a message has arrived and is being held; whether one is.
    pub fn wait_until_holding(&self, patience: Duration) -> bool {
        self.wait_for(patience, |state| state.holding > 0)
    }

    /// Waits up to `patience` until `count` messages were accepted; whether they were.
    pub fn wait_until_accepted(&self, count: usize, patience: Duration) -> bool {
        self.wait_for(patience, |state| state.accepted.len() >= count)
    }

    fn wait_for(&self, patience: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + patience;
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap();
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = changed.wait_timeout(state, left).unwrap().0;
        }
        true
    }
}

fn converse(
    stream: TcpStream,
    hold: Duration,
    refuse: &str,
    state: &(Mutex<State>, Condvar),
) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 stub ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            out.write_all(b"250 stub\r\n")?;
        } else if command.starts_with("RCPT") && !refuse.is_empty() && line.contains(refuse) {
            out.write_all(b"550 5.1.1 no such mailbox\r\n")?;
        } else if command.starts_with("MAIL")
            || command.starts_with("RCPT")
            || command.starts_with("RSET")
            || command.starts_with("NOOP")
        {
            out.write_all(b"250 ok\r\n")?;
        } else if command == "DATA" {
            out.write_all(b"354 go ahead\r\n")?;
            let mut subject = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                let text = line.trim_end_matches(['\r', '\n']);
                if text == "." {
                    break;
                }
                if let Some(value) = text.strip_prefix("Subject: ") {
                    subject = value.to_owned();
                }
            }
            let (lock, changed) = state;
            lock.lock().unwrap().holding += 1;
            changed.notify_all();
            std::thread::sleep(hold);
            let answered = out.write_all(b"250 2.0.0 queued\r\n");
            let mut state = lock.lock().unwrap();
            state.holding -= 1;
            if answered.is_ok() {
                state.accepted.push(subject);
            }
            changed.notify_all();
            answered?;
        } else if command == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"502 not implemented\r\n")?;
        }
    }
}
