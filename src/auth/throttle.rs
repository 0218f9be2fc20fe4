//! Throttling of sign-in attempts and e-mailed-link requests, per account (the address typed, whether
//! or not it has an account, so the answer reveals nothing) and per client address. Counts live in
//! PostgreSQL, so every instance sees the same ones.

use sqlx::{PgExecutor, PgPool};

/// What is being throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A failed sign-in.
    SignIn,
    /// A code of the second factor (at sign-in, or to change two-factor settings).
    SecondFactor,
    /// A request for a password-reset or verification link.
    EmailLink,
    /// A registration.
    Register,
}

/// How many attempts a window allows.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub per_account: i64,
    pub per_client: i64,
    pub window_minutes: i32,
}

impl Action {
    fn key(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
            Self::EmailLink => "email_link",
            Self::Register => "register",
        }
    }

    /// The limits for this action.
    pub fn rule(self) -> Rule {
        match self {
            Self::SignIn | Self::SecondFactor => Rule {
                per_account: 5,
                per_client: 30,
                window_minutes: 15,
            },
            Self::EmailLink => Rule {
                per_account: 3,
                per_client: 10,
                window_minutes: 60,
            },
            Self::Register => Rule {
                per_account: 3,
                per_client: 10,
                window_minutes: 60,
            },
        }
    }

    /// What the person is told when they hit the limit.
    pub fn message(self) -> String {
        let minutes = self.rule().window_minutes;
        match self {
            Self::SignIn => format!(
                "Too many unsuccessful sign-in attempts. Please wait {minutes} minutes and try again, \
                 or reset your password."
            ),
            Self::SecondFactor => {
                format!("Too many wrong codes. Please wait {minutes} minutes and try again.")
            }
            Self::EmailLink => format!(
                "Too many links were asked for. Please wait {minutes} minutes, and check your inbox \
                 (and spam folder) for the ones already sent."
            ),
            Self::Register => {
                format!(
                    "Too many registrations from here. Please wait {minutes} minutes and try again."
                )
            }
        }
    }
}

fn account_subject(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn client_subject(client: &str) -> String {
    format!("client:{client}")
}

/// An attempt counted against the limits, which a successful sign-in takes back.
#[derive(Debug)]
pub struct Counted {
    ids: Vec<i64>,
}

/// Counts an attempt for this account and client if the limits allow one more, in one step: the
/// count and the record happen under locks on the two subjects, so attempts arriving at once cannot
/// all slip under the limit before any of them is recorded. `None` when the limit is reached.
pub async fn take(
    db: &PgPool,
    action: Action,
    email: &str,
    client: &str,
) -> sqlx::Result<Option<Counted>> {
    let account = account_subject(email);
    let client = client_subject(client);
    let mut tx = db.begin().await?;
    // Always the account first, then the client, so two attempts never wait on each other in turn.
    for (space, subject) in [(1, &account), (2, &client)] {
        sqlx::query!(
            "select pg_advisory_xact_lock($1, hashtext($2 || ':' || $3))",
            space,
            action.key(),
            subject.as_str()
        )
        .execute(&mut *tx)
        .await?;
    }
    let rule = action.rule();
    let counts = sqlx::query!(
        r#"select count(*) filter (where subject = $2) as "account!",
                  count(*) filter (where subject = $3) as "client!"
           from auth_attempts
           where action = $1 and subject in ($2, $3)
             and attempted_at > now() - make_interval(mins => $4)"#,
        action.key(),
        account,
        client,
        rule.window_minutes,
    )
    .fetch_one(&mut *tx)
    .await?;
    if counts.account >= rule.per_account || counts.client >= rule.per_client {
        return Ok(None);
    }
    let ids = sqlx::query_scalar!(
        "insert into auth_attempts (action, subject) values ($1, $2), ($1, $3) returning id",
        action.key(),
        account,
        client,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Counted { ids }))
}

/// Takes back a counted attempt (the sign-in succeeded).
pub async fn forget(db: impl PgExecutor<'_>, counted: Counted) -> sqlx::Result<()> {
    sqlx::query!("delete from auth_attempts where id = any($1)", &counted.ids)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets an account's failed sign-ins after it signs in successfully.
pub async fn clear_account(
    db: impl PgExecutor<'_>,
    action: Action,
    email: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from auth_attempts where action = $1 and subject = $2",
        action.key(),
        account_subject(email),
    )
    .execute(db)
    .await?;
    Ok(())
}
