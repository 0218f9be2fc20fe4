//! Two-factor sign-in for local accounts: setting up an authenticator app (a sealed secret that becomes
//! active once a code proves the app holds it), checking a code (each time step accepted at most once
//! per account, however many requests arrive together), single-use recovery codes, turning it off, and
//! the sign-ins waiting for their code. Every code check is throttled like passwords; each operation
//! runs in one transaction and records what it changed in the audit log.

use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use super::model::User;
use super::sealing;
use super::session::{new_token, token_hash};
use super::throttle::{self, Action};
use super::totp::{self, Authenticator};
use crate::audit::{self, AuditAction, Target};
use crate::config::SecretKey;
use crate::error::AppError;

/// How many recovery codes an account gets.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (without its dashes): about 59 bits of randomness.
const RECOVERY_CODE_CHARS: usize = 12;
/// Letters and digits that are hard to mistake for one another.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Minutes between a correct password and the code that completes the sign-in.
pub const CHALLENGE_MINUTES: i32 = 5;
/// The cookie that carries a sign-in waiting for its code.
pub const CHALLENGE_COOKIE: &str = "radportal_sign_in";

/// What sealing an account's secret is bound to.
fn sealing_context(user_id: i64) -> String {
    format!("totp:{user_id}")
}

/// Whether `user`'s role is one that an operator can require a second factor for.
pub fn role_requires(user: &User) -> bool {
    user.is_admin || user.is_reviewer
}

/// An account's two-factor settings as its account page shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Active since, if it is.
    pub enabled_at: Option<OffsetDateTime>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

/// The account's two-factor settings.
pub async fn status(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Status> {
    let row = sqlx::query!(
        r#"select (select confirmed_at from totp_authenticators where user_id = $1) as enabled_at,
                  (select count(*) from recovery_codes where user_id = $1 and used_at is null)
                      as "left!""#,
        user_id,
    )
    .fetch_one(db)
    .await?;
    Ok(Status {
        enabled_at: row.enabled_at,
        recovery_codes_left: row.left,
    })
}

/// Whether the account signs in with a second factor.
pub async fn is_enabled(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from totp_authenticators
                          where user_id = $1 and confirmed_at is not null) as "enabled!""#,
        user_id,
    )
    .fetch_one(db)
    .await
}

/// What an app needs to be set up, shown once.
pub struct Setup {
    pub secret_base32: String,
    pub uri: String,
}

/// Starts (or starts again) setting up an app: a new secret, stored sealed and not yet active. `None`
/// when two-factor sign-in is already on for the account.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn begin(
    db: &PgPool,
    key: &SecretKey,
    user: &User,
    issuer: &str,
) -> Result<Option<Setup>, AppError> {
    let secret = totp::new_secret();
    let sealed = sealing::seal(key, &sealing_context(user.id), &secret);
    let stored = sqlx::query!(
        "insert into totp_authenticators (user_id, secret_sealed) values ($1, $2)
         on conflict (user_id) do update
             set secret_sealed = excluded.secret_sealed, created_at = now(), last_used_step = null
             where totp_authenticators.confirmed_at is null",
        user.id,
        sealed,
    )
    .execute(db)
    .await?
    .rows_affected();
    if stored == 0 {
        return Ok(None);
    }
    let authenticator = Authenticator::new(secret, issuer, &user.email);
    Ok(Some(Setup {
        secret_base32: authenticator.secret_base32(),
        uri: authenticator.uri(),
    }))
}

/// How an action that asks for a code ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Proven<T> {
    /// The code was right; what the action produced.
    Done(T),
    /// Not a current code of the account's app, nor one of its unused recovery codes.
    WrongCode,
    /// A code already accepted once (the same time step, or a recovery code used before).
    ReusedCode,
    /// Too many wrong codes for the account or from the client.
    Throttled,
    /// Two-factor sign-in is not on for the account (or, when confirming, setup was not started).
    NotSetUp,
}

/// What proved the second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    App,
    RecoveryCode,
}

impl Factor {
    fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// Opens an account's sealed secret; failing means the operator's key is missing or not the one that
/// sealed it.
fn open_secret(
    key: Option<&SecretKey>,
    user_id: i64,
    sealed: &[u8],
) -> Result<Authenticator, AppError> {
    let key = key.ok_or_else(|| {
        anyhow::anyhow!("an account has two-factor sign-in but RADPORTAL_SECRET_KEY is not set")
    })?;
    let secret =
        sealing::open(key, &sealing_context(user_id), sealed).map_err(anyhow::Error::from)?;
    Ok(Authenticator::new(secret, "", ""))
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Confirms setup with a code from the app: two-factor sign-in is on from now, and the account gets
/// its recovery codes, returned this once.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn confirm(
    db: &PgPool,
    key: Option<&SecretKey>,
    user: &User,
    client: &str,
    code: &str,
) -> Result<Proven<Vec<String>>, AppError> {
    let Some(counted) = throttle::take(db, Action::SecondFactor, &user.email, client).await? else {
        return Ok(Proven::Throttled);
    };
    let mut tx = db.begin().await?;
    let Some(sealed) = sqlx::query_scalar!(
        "select secret_sealed from totp_authenticators
         where user_id = $1 and confirmed_at is null for update",
        user.id,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        throttle::forget(&mut *tx, counted).await?;
        tx.commit().await?;
        return Ok(Proven::NotSetUp);
    };
    let Some(step) = open_secret(key, user.id, &sealed)?.matching_step(code, now_unix()) else {
        return Ok(Proven::WrongCode);
    };
    sqlx::query!(
        "update totp_authenticators set confirmed_at = now(), last_used_step = $2
         where user_id = $1",
        user.id,
        step,
    )
    .execute(&mut *tx)
    .await?;
    let codes = replace_recovery_codes(&mut tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountTwoFactorEnabled,
        Target::User(user.id),
        json!({"recovery_codes": RECOVERY_CODES}),
    )
    .await?;
    throttle::forget(&mut *tx, counted).await?;
    tx.commit().await?;
    tracing::info!("two-factor sign-in enabled");
    Ok(Proven::Done(codes))
}

/// Checks `input` against the account's app (a code of a step within the skew window, newer than the
/// last one accepted) or its unused recovery codes, and takes what it matched: the step becomes the
/// last one accepted, the recovery code is used up. Run it inside the transaction of the action the
/// code allows: the row it changes stays locked until that transaction ends, so of two requests with
/// the same code the second waits and then finds the code taken.
async fn take_code(
    conn: &mut PgConnection,
    key: Option<&SecretKey>,
    user_id: i64,
    input: &str,
) -> Result<Proven<Factor>, AppError> {
    let Some(sealed) = sqlx::query_scalar!(
        "select secret_sealed from totp_authenticators
         where user_id = $1 and confirmed_at is not null",
        user_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Proven::NotSetUp);
    };
    if totp::looks_like_code(input) {
        let Some(step) = open_secret(key, user_id, &sealed)?.matching_step(input, now_unix())
        else {
            return Ok(Proven::WrongCode);
        };
        let taken = sqlx::query!(
            "update totp_authenticators set last_used_step = $2
             where user_id = $1 and confirmed_at is not null
               and (last_used_step is null or last_used_step < $2)",
            user_id,
            step,
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        return Ok(if taken == 1 {
            Proven::Done(Factor::App)
        } else {
            Proven::ReusedCode
        });
    }
    let Some(normalized) = normalize_recovery_code(input) else {
        return Ok(Proven::WrongCode);
    };
    let hash = recovery_code_hash(&normalized);
    let used = sqlx::query_scalar!(
        r#"update recovery_codes set used_at = now()
         where user_id = $1 and code_hash = $2 and used_at is null
         returning (select count(*) from recovery_codes
                    where user_id = $1 and used_at is null) - 1 as "left!""#,
        user_id,
        hash,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(left) = used {
        audit::record(
            &mut *conn,
            Some(user_id),
            AuditAction::AccountRecoveryCodeUsed,
            Target::User(user_id),
            json!({"recovery_codes_left": left}),
        )
        .await?;
        tracing::info!(user_id, "a recovery code was used");
        return Ok(Proven::Done(Factor::RecoveryCode));
    }
    let known = sqlx::query_scalar!(
        r#"select exists (select 1 from recovery_codes where user_id = $1 and code_hash = $2)
               as "known!""#,
        user_id,
        hash,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(if known {
        Proven::ReusedCode
    } else {
        Proven::WrongCode
    })
}

/// Turns two-factor sign-in off after a code (from the app or a recovery code).
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn disable(
    db: &PgPool,
    key: Option<&SecretKey>,
    user: &User,
    client: &str,
    code: &str,
) -> Result<Proven<()>, AppError> {
    let Some(counted) = throttle::take(db, Action::SecondFactor, &user.email, client).await? else {
        return Ok(Proven::Throttled);
    };
    let mut tx = db.begin().await?;
    let factor = match take_code(&mut tx, key, user.id, code).await? {
        Proven::Done(factor) => factor,
        refused => return Ok(refused.without_value()),
    };
    forget_account(&mut tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountTwoFactorDisabled,
        Target::User(user.id),
        json!({"proved_with": factor.as_str()}),
    )
    .await?;
    throttle::forget(&mut *tx, counted).await?;
    tx.commit().await?;
    tracing::info!("two-factor sign-in disabled");
    Ok(Proven::Done(()))
}

/// Replaces the account's recovery codes after a code; the new ones are returned this once.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn regenerate_recovery_codes(
    db: &PgPool,
    key: Option<&SecretKey>,
    user: &User,
    client: &str,
    code: &str,
) -> Result<Proven<Vec<String>>, AppError> {
    let Some(counted) = throttle::take(db, Action::SecondFactor, &user.email, client).await? else {
        return Ok(Proven::Throttled);
    };
    let mut tx = db.begin().await?;
    let factor = match take_code(&mut tx, key, user.id, code).await? {
        Proven::Done(factor) => factor,
        refused => return Ok(refused.without_value()),
    };
    let codes = replace_recovery_codes(&mut tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountRecoveryCodesRegenerated,
        Target::User(user.id),
        json!({"proved_with": factor.as_str(), "recovery_codes": RECOVERY_CODES}),
    )
    .await?;
    throttle::forget(&mut *tx, counted).await?;
    tx.commit().await?;
    Ok(Proven::Done(codes))
}

impl<T> Proven<T> {
    /// A refusal as the outcome of another action (an accepted code, which is no refusal, reads as
    /// a wrong one).
    pub fn without_value<U>(self) -> Proven<U> {
        match self {
            Self::WrongCode | Self::Done(_) => Proven::WrongCode,
            Self::ReusedCode => Proven::ReusedCode,
            Self::Throttled => Proven::Throttled,
            Self::NotSetUp => Proven::NotSetUp,
        }
    }
}

/// Deletes everything two-factor sign-in keeps for an account (turned off, or the account closed).
pub async fn forget_account(conn: &mut PgConnection, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from totp_authenticators where user_id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("delete from sign_in_challenges where user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// New recovery codes for the account in place of the old ones; returns them as shown to the holder.
async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user_id: i64,
) -> sqlx::Result<Vec<String>> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .filter_map(|code| normalize_recovery_code(code))
        .map(|normalized| recovery_code_hash(&normalized))
        .collect();
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "insert into recovery_codes (user_id, code_hash) select $1, unnest($2::bytea[])",
        user_id,
        &hashes,
    )
    .execute(&mut *conn)
    .await?;
    Ok(codes)
}

/// A random recovery code, in groups of four: `k7qm-x2pa-9dfh`.
fn new_recovery_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..RECOVERY_CODE_CHARS)
        .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]))
        .collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A typed recovery code without case, spaces and dashes, if it has a recovery code's shape.
fn normalize_recovery_code(input: &str) -> Option<String> {
    let normalized: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    (normalized.len() == RECOVERY_CODE_CHARS
        && normalized.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
    .then_some(normalized)
}

fn recovery_code_hash(normalized: &str) -> Vec<u8> {
    Sha256::digest(normalized.as_bytes()).to_vec()
}

/// A sign-in whose password was right and whose code is still to come.
pub struct Challenge {
    pub user_id: i64,
    pub email: String,
    pub next: String,
}

/// Starts waiting for the code of a sign-in; returns the token for the browser's cookie.
pub async fn create_challenge(
    db: impl PgExecutor<'_>,
    user_id: i64,
    next: &str,
) -> sqlx::Result<String> {
    let token = new_token();
    sqlx::query!(
        "insert into sign_in_challenges (token_hash, user_id, next_path, expires_at)
         values ($1, $2, $3, now() + make_interval(mins => $4))",
        token_hash(&token),
        user_id,
        next,
        CHALLENGE_MINUTES,
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The live sign-in waiting for its code under `token`, of an account that may still sign in.
pub async fn challenge(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<Challenge>> {
    sqlx::query_as!(
        Challenge,
        r#"select c.user_id, u.email::text as "email!", c.next_path as next
           from sign_in_challenges c join users u on u.id = c.user_id
           where c.token_hash = $1 and c.expires_at > now()
             and u.disabled_at is null and u.closed_at is null"#,
        token_hash(token),
    )
    .fetch_optional(db)
    .await
}

/// How the second step of a sign-in ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SecondStep {
    /// No live sign-in waits under this token (too late, already completed, or never started).
    Expired,
    /// The code was refused; the sign-in still waits for a right one.
    Refused(Proven<()>),
    /// Signed in: the new session's token and where to go.
    SignedIn { session: String, next: String },
}

/// What the browser sent for the second step.
pub struct CodeAttempt<'a> {
    /// The token of the sign-in's cookie.
    pub challenge: &'a str,
    pub code: &'a str,
    pub client: &'a str,
    /// The session token the browser already had, if any; it stops working.
    pub old_session: Option<&'a str>,
}

/// Completes a sign-in with its code: the waiting sign-in, the code and a new session are taken in
/// one transaction.
#[tracing::instrument(skip_all, fields(client = %attempt.client))]
pub async fn complete_sign_in(
    db: &PgPool,
    key: Option<&SecretKey>,
    attempt: CodeAttempt<'_>,
) -> Result<SecondStep, AppError> {
    let Some(pending) = challenge(db, attempt.challenge).await? else {
        return Ok(SecondStep::Expired);
    };
    let Some(counted) =
        throttle::take(db, Action::SecondFactor, &pending.email, attempt.client).await?
    else {
        return Ok(SecondStep::Refused(Proven::Throttled));
    };
    let mut tx = db.begin().await?;
    // Taken first, so that two requests with the same cookie cannot both complete it.
    let taken = sqlx::query_scalar!(
        "delete from sign_in_challenges where token_hash = $1 and expires_at > now()
         returning user_id",
        token_hash(attempt.challenge),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if taken != Some(pending.user_id) {
        return Ok(SecondStep::Expired);
    }
    match take_code(&mut tx, key, pending.user_id, attempt.code).await? {
        Proven::Done(_) => {}
        Proven::NotSetUp => return Ok(SecondStep::Expired),
        refused => {
            tracing::info!(user_id = pending.user_id, "second factor refused");
            return Ok(SecondStep::Refused(refused.without_value()));
        }
    }
    throttle::forget(&mut *tx, counted).await?;
    throttle::clear_account(&mut *tx, Action::SignIn, &pending.email).await?;
    throttle::clear_account(&mut *tx, Action::SecondFactor, &pending.email).await?;
    if let Some(old) = attempt.old_session {
        super::session::delete(&mut *tx, old).await?;
    }
    let session = super::session::create(&mut *tx, pending.user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id = pending.user_id, "signed in with a second factor");
    Ok(SecondStep::SignedIn {
        session,
        next: pending.next,
    })
}

/// The `Set-Cookie` value for a sign-in waiting for its code (only the sign-in pages see it).
pub fn challenge_cookie(token: &str, secure: bool) -> String {
    format!(
        "{CHALLENGE_COOKIE}={token}; Path=/sign-in; HttpOnly; SameSite=Lax; Max-Age={}{}",
        CHALLENGE_MINUTES * 60,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the waiting sign-in's cookie.
pub fn clearing_challenge_cookie(secure: bool) -> String {
    format!(
        "{CHALLENGE_COOKIE}=; Path=/sign-in; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The waiting sign-in's token from a `Cookie` header.
pub fn challenge_from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CHALLENGE_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_and_read_back_however_typed() {
        let code = new_recovery_code();
        assert_eq!(code.len(), RECOVERY_CODE_CHARS + 2);
        assert_ne!(code, new_recovery_code());
        let normalized = normalize_recovery_code(&code).unwrap();
        assert_eq!(
            normalize_recovery_code(&format!(" {} ", code.to_uppercase().replace('-', " "))),
            Some(normalized)
        );
        assert_eq!(normalize_recovery_code("123456"), None);
        assert_eq!(normalize_recovery_code("0000-0000-0000"), None);
    }

    #[test]
    fn the_challenge_cookie_is_read_back_and_scoped_to_sign_in() {
        let token = new_token();
        let cookie = challenge_cookie(&token, true);
        assert!(
            cookie.contains("Path=/sign-in; HttpOnly; SameSite=Lax") && cookie.ends_with("Secure")
        );
        assert_eq!(
            challenge_from_cookies(&format!("a=b; {CHALLENGE_COOKIE}={token}")),
            Some(token.as_str())
        );
        assert_eq!(
            challenge_from_cookies(&format!("{CHALLENGE_COOKIE}=x")),
            None
        );
    }
}
