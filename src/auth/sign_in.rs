//! Signing in: the throttle, the password check that takes as long for an unknown address as for a
//! known one, and a fresh session for every successful sign-in, or, for an account with two-factor
//! sign-in, a sign-in waiting for its code (see `two_factor`).

use sqlx::PgPool;

use super::account::MAX_PASSWORD_INPUT_BYTES;
use super::model::{Email, Role};
use super::throttle::{self, Action};
use super::{db, password, session, two_factor};
use crate::error::AppError;

/// What the person typed, and where from.
pub struct Attempt<'a> {
    pub email: &'a str,
    pub password: String,
    /// The client's address, for the throttle.
    pub client: &'a str,
    /// The session token the browser already had, if any; it stops working.
    pub old_session: Option<&'a str>,
    /// Where to go once signed in (a path on this site).
    pub next: &'a str,
}

/// How a sign-in attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    /// Too many failed attempts for the address or from the client.
    Throttled,
    /// No such account, or not its password (the two are not told apart).
    WrongCredentials,
    /// The password was right, but administrators disabled the account.
    Disabled,
    /// The password was right, but the address is not confirmed yet.
    Unverified,
    /// Signed in; the new session's token and the account's highest role.
    SignedIn { session: String, role: Role },
    /// The password was right; the account's second factor is still to come, under this token.
    SecondFactor { challenge: String },
}

/// Checks an attempt and, when it succeeds, starts a new session.
#[tracing::instrument(skip_all, fields(client = %attempt.client))]
pub async fn sign_in(db: &PgPool, attempt: Attempt<'_>) -> Result<SignIn, AppError> {
    let email = attempt.email.trim();
    // Counted before the password is checked, so that parallel guesses meet the limit too.
    let Some(counted) = throttle::take(db, Action::SignIn, email, attempt.client).await? else {
        return Ok(SignIn::Throttled);
    };
    let found = if email.is_empty()
        || email.len() > Email::MAX_LEN
        || attempt.password.len() > MAX_PASSWORD_INPUT_BYTES
    {
        None
    } else {
        db::find_for_sign_in(db, email).await?
    };
    // The same work and the same answer whether or not the address has an account.
    // An account without a password here (made by an institution's sign-in) has no password to match.
    let (user, stored) = match found {
        Some((user, Some(hash))) => (Some(user), hash),
        _ => (None, password::UNKNOWN_USER_HASH.to_owned()),
    };
    let matches = password::verify(attempt.password, stored).await?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("sign-in refused");
        return Ok(SignIn::WrongCredentials);
    };
    // Past this point the password was right, so telling the person about their account is safe.
    if user.disabled_at.is_some() {
        throttle::forget(db, counted).await?;
        return Ok(SignIn::Disabled);
    }
    if user.email_verified_at.is_none() {
        throttle::forget(db, counted).await?;
        return Ok(SignIn::Unverified);
    }
    let mut tx = db.begin().await?;
    throttle::forget(&mut *tx, counted).await?;
    if two_factor::is_enabled(&mut *tx, user.id).await? {
        // No session yet: only the code completes the sign-in.
        let challenge = two_factor::create_challenge(&mut *tx, user.id, attempt.next).await?;
        tx.commit().await?;
        tracing::info!(
            user_id = user.id,
            "password accepted; waiting for the second factor"
        );
        return Ok(SignIn::SecondFactor { challenge });
    }
    throttle::clear_account(&mut *tx, Action::SignIn, email).await?;
    // A new session at every sign-in: a token planted before sign-in is worth nothing after it.
    if let Some(old) = attempt.old_session {
        session::delete(&mut *tx, old).await?;
    }
    let token = session::create(&mut *tx, user.id).await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(SignIn::SignedIn {
        session: token,
        role: user.role(),
    })
}
