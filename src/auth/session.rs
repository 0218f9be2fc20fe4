//! Sessions: a random token in an HttpOnly, SameSite=Lax cookie; its SHA-256 hash in PostgreSQL, so
//! every instance shares sessions and a database leak yields no usable cookie.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgExecutor;

use super::model::User;

/// The session cookie's name.
pub const COOKIE: &str = "radportal_session";
/// A session ends after this long without a request.
pub const IDLE_DAYS: i32 = 7;
/// A session ends this long after sign-in, whatever its use.
pub const ABSOLUTE_DAYS: i32 = 30;

/// A new random token (256 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored for a token: its SHA-256.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The `Set-Cookie` value that stores `token`.
pub fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        ABSOLUTE_DAYS * 24 * 3600,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clearing_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session token from a `Cookie` header, if there is one that looks like ours.
pub fn token_from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Starts a session for `user_id`, signed in through the provider `provider`, and returns its token.
pub async fn create_through(
    db: impl PgExecutor<'_>,
    user_id: i64,
    provider: &str,
) -> sqlx::Result<String> {
    let token = new_token();
    sqlx::query!(
        "insert into sessions (token_hash, user_id, expires_at, provider)
         values ($1, $2, now() + make_interval(days => $3), $4)",
        token_hash(&token),
        user_id,
        ABSOLUTE_DAYS,
        provider,
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The provider a live session was signed in through; `None` for a password signed in here.
pub async fn provider(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "select provider from sessions where token_hash = $1",
        token_hash(token)
    )
    .fetch_optional(db)
    .await?
    .flatten())
}

/// Ends one session; returns the provider it was signed in through, if any.
pub async fn end(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "delete from sessions where token_hash = $1 returning provider",
        token_hash(token)
    )
    .fetch_optional(db)
    .await?
    .flatten())
}

/// Starts a session for `user_id` and returns its token.
pub async fn create(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<String> {
    let token = new_token();
    sqlx::query!(
        "insert into sessions (token_hash, user_id, expires_at)
         values ($1, $2, now() + make_interval(days => $3))",
        token_hash(&token),
        user_id,
        ABSOLUTE_DAYS,
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The active user of a live session. `last_seen_at` is written at most once a minute per session, so
/// reading pages does not turn into a write per request.
pub async fn user(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"with live as (
               select user_id, last_seen_at from sessions
               where token_hash = $1 and expires_at > now()
                 and last_seen_at > now() - make_interval(days => $2)),
           touched as (
               update sessions set last_seen_at = now()
               where token_hash = $1
                 and exists (select 1 from live where last_seen_at < now() - interval '1 minute'))
           select u.id, u.email::text as "email!", u.name, u.institution, u.orcid, u.is_admin,
               exists (select 1 from dac_members m where m.user_id = u.id) as "is_reviewer!",
               u.email_verified_at, u.disabled_at, u.closed_at, u.created_at,
               (select count(*) from notifications n
                where n.user_id = u.id and n.read_at is null) as "unread_notifications!",
               (select count(*) from cart_items c where c.user_id = u.id) as "cart_items!"
           from users u join live on live.user_id = u.id
           where u.disabled_at is null and u.closed_at is null"#,
        token_hash(token),
        IDLE_DAYS,
    )
    .fetch_optional(db)
    .await
}

/// Ends every session of an account ("sign out everywhere", password reset, disabling).
pub async fn delete_all_for_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!("delete from sessions where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// How many live sessions an account has.
pub async fn count_for_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from sessions
           where user_id = $1 and expires_at > now()
             and last_seen_at > now() - make_interval(days => $2)"#,
        user_id,
        IDLE_DAYS,
    )
    .fetch_one(db)
    .await
}

/// Ends one session.
pub async fn delete(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sessions where token_hash = $1",
        token_hash(token)
    )
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_read_back_from_cookies() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert_ne!(token, new_token());
        let header = format!("theme=dark; {COOKIE}={token}; other=1");
        assert_eq!(token_from_cookies(&header), Some(token.as_str()));
        assert_eq!(token_from_cookies(&format!("{COOKIE}=short")), None);
        assert!(cookie(&token, true).contains("HttpOnly; SameSite=Lax"));
        assert!(cookie(&token, true).ends_with("; Secure"));
        assert!(!cookie(&token, false).contains("Secure"));
    }
}
