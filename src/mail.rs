//! E-mail: messages are written to the `outbox` table in the same transaction as the change that causes
//! them, and [`deliver_due`] sends them over SMTP (or to the log in development), once each, with
//! retries and backoff. The `jobs::mail` job calls it at the outbox poll interval.

use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sqlx::{PgExecutor, PgPool};

use crate::config::Config;

/// How long one SMTP exchange may take before the message is retried later.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Where messages go.
pub enum Mailer {
    /// Development default: each message is written to the log.
    Log,
    /// A real SMTP server.
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

impl Mailer {
    /// The mailer the configuration asks for.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.smtp_url else {
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("RADPORTAL_SMTP_URL is not a valid SMTP URL")?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = config.mail_from.parse().with_context(|| {
            format!(
                "RADPORTAL_MAIL_FROM '{}' is not a mailbox",
                config.mail_from
            )
        })?;
        Ok(Self::Smtp {
            transport: Box::new(transport),
            from,
        })
    }

    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        match self {
            Self::Log => {
                tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "e-mail (not sent: no SMTP server configured)");
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(mail.to.parse().context("recipient is not a mailbox")?)
                    .subject(mail.subject.clone())
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(mail.body.clone())
                    .context("cannot build the message")?;
                transport
                    .send(message)
                    .await
                    .context("SMTP delivery failed")?;
                Ok(())
            }
        }
    }
}

/// Puts a message in the outbox; it is sent after the surrounding transaction commits.
pub async fn enqueue(db: impl PgExecutor<'_>, mail: &Mail) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into outbox (recipient, subject, body) values ($1, $2, $3)",
        mail.to,
        mail.subject,
        mail.body,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A message gives up after this many failed attempts.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before the first retry, in seconds; it doubles with each failed attempt.
const FIRST_RETRY_SECS: i64 = 30;
/// The longest wait between two attempts, in seconds.
const MAX_RETRY_SECS: i64 = 3600;

/// Seconds to wait before attempt `attempts + 1`: 30 s, 1 min, 2 min ... capped at an hour.
pub fn backoff_secs(attempts: i32) -> i64 {
    FIRST_RETRY_SECS
        .saturating_mul(1 << attempts.clamp(0, 7))
        .min(MAX_RETRY_SECS)
}

/// Sends what is due, one message per transaction: the row stays locked while it is being sent, so
/// another instance's worker skips it, and it is marked sent in the same transaction. Returns how many
/// messages were handled.
pub async fn deliver_due(db: &PgPool, mailer: &Mailer) -> anyhow::Result<usize> {
    deliver_due_while(db, mailer, || true).await
}

/// [`deliver_due`], asking `keep_going` before each message: when it says no, the message being sent
/// is finished (sent and marked, or marked for a retry) and the rest are left as they are.
pub async fn deliver_due_while(
    db: &PgPool,
    mailer: &Mailer,
    keep_going: impl Fn() -> bool + Sync,
) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        if !keep_going() {
            return Ok(handled);
        }
        let mut tx = db.begin().await?;
        let due = sqlx::query!(
            "select id, recipient, subject, body, attempts from outbox
             where sent_at is null and attempts < $1 and next_attempt_at <= now()
             order by id
             limit 1
             for update skip locked",
            MAX_ATTEMPTS,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(due) = due else {
            return Ok(handled);
        };
        let mail = Mail {
            to: due.recipient,
            subject: due.subject,
            body: due.body,
        };
        match mailer.send(&mail).await {
            Ok(()) => {
                crate::metrics::email_sent();
                sqlx::query!(
                    "update outbox set sent_at = now(), attempts = attempts + 1, last_error = null
                     where id = $1",
                    due.id,
                )
                .execute(&mut *tx)
                .await?;
            }
            Err(error) => {
                crate::metrics::email_failed();
                let attempts = due.attempts + 1;
                let error = format!("{error:#}");
                let retry_in_secs = backoff_secs(due.attempts) as f64;
                tracing::warn!(id = due.id, attempts, %error, "e-mail not sent; will retry");
                sqlx::query!(
                    "update outbox set attempts = attempts + 1, last_error = $2,
                         next_attempt_at = now() + make_interval(secs => $3)
                     where id = $1",
                    due.id,
                    error,
                    retry_in_secs,
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        handled += 1;
    }
}

/// The outbox as of now, for the metrics: messages still to be sent (and how many of them are due),
/// messages given up, and the age of the oldest one still to be sent.
pub async fn outbox_reading(
    db: impl PgExecutor<'_>,
) -> sqlx::Result<crate::metrics::OutboxReading> {
    let row = sqlx::query!(
        r#"select count(*) filter (where attempts < $1) as "pending!",
                count(*) filter (where attempts < $1 and next_attempt_at <= now()) as "due!",
                count(*) filter (where attempts >= $1) as "given_up!",
                coalesce(extract(epoch from now() - min(created_at) filter (where attempts < $1)), 0)::float8
                    as "oldest_pending_age_seconds!"
         from outbox
         where sent_at is null"#,
        MAX_ATTEMPTS,
    )
    .fetch_one(db)
    .await?;
    Ok(crate::metrics::OutboxReading {
        pending: row.pending,
        due: row.due,
        given_up: row.given_up,
        oldest_pending_age_seconds: row.oldest_pending_age_seconds,
    })
}

/// A message that could not be sent (yet): the last error, and whether it was given up.
#[derive(Clone, Debug)]
pub struct FailedMail {
    pub recipient: String,
    pub subject: String,
    pub attempts: i32,
    pub last_error: String,
    pub created_at: time::OffsetDateTime,
}

impl FailedMail {
    /// Whether no further attempt will be made.
    pub fn given_up(&self) -> bool {
        self.attempts >= MAX_ATTEMPTS
    }
}

/// Unsent messages whose last attempt failed, newest first, at most `limit`.
pub async fn failed(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<FailedMail>> {
    sqlx::query_as!(
        FailedMail,
        r#"select recipient, subject, attempts, last_error as "last_error!", created_at
           from outbox where sent_at is null and last_error is not null
           order by created_at desc, id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(0), 30);
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(3), 240);
        assert_eq!(backoff_secs(20), 3600);
    }

    #[test]
    fn log_mailer_without_smtp_and_bad_urls_are_refused() {
        let mut config = Config::for_database("postgres://localhost/x");
        assert!(matches!(Mailer::from_config(&config), Ok(Mailer::Log)));
        config.smtp_url = Some("not a url".to_owned().into());
        assert!(Mailer::from_config(&config).is_err());
        config.smtp_url = Some("smtp://127.0.0.1:2525".to_owned().into());
        assert!(matches!(
            Mailer::from_config(&config),
            Ok(Mailer::Smtp { .. })
        ));
    }
}
