//! Joining and proving an address: registration, confirming the address by its e-mailed link, asking
//! for a new link, and resetting a forgotten password. The answers never say whether an address has an
//! account; only the e-mail that goes to the address differs.

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use url::Url;

use super::db::{self, NewAccount, TokenPurpose};
use super::model::{Email, User};
use super::throttle::{self, Action};
use super::{mails, password, session};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;
use crate::mail;

/// What became of a throttled request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or, for an address without an account, answered as if done).
    Done,
    /// Too many recent attempts for the address or from the client; nothing was done.
    Throttled,
}

/// What registration stores, already checked.
pub struct Registration<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub institution: &'a str,
    pub orcid: Option<&'a str>,
    pub password: String,
}

/// A new single-use link for `user_id`; earlier unused links for the same purpose stop working.
async fn new_link(
    conn: &mut PgConnection,
    user_id: i64,
    purpose: TokenPurpose,
) -> sqlx::Result<String> {
    db::void_email_tokens(&mut *conn, user_id, purpose).await?;
    db::insert_email_token(&mut *conn, user_id, purpose).await
}

/// Creates an unverified account and mails its confirmation link, or, when the address already has an
/// account, mails that account a note instead.
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn register(
    db: &PgPool,
    base_url: &Url,
    client: &str,
    registration: Registration<'_>,
) -> Result<Outcome, AppError> {
    let email = registration.email;
    if throttle::take(db, Action::Register, email.as_str(), client)
        .await?
        .is_none()
    {
        return Ok(Outcome::Throttled);
    }
    let hash = password::hash(registration.password).await?;
    let mut tx = db.begin().await?;
    let created = db::create_user(
        &mut *tx,
        &NewAccount {
            email,
            name: registration.name,
            institution: registration.institution,
            orcid: registration.orcid,
            password_hash: &hash,
        },
    )
    .await?;
    let message = match created {
        Some(user) => {
            let token = new_link(&mut tx, user.id, TokenPurpose::VerifyEmail).await?;
            audit::record(
                &mut *tx,
                Some(user.id),
                AuditAction::AccountRegistered,
                Target::User(user.id),
                json!({}),
            )
            .await?;
            mails::verification(base_url, &user.email, &user.name, &token)
        }
        None => mails::already_registered(base_url, email.as_str()),
    };
    mail::enqueue(&mut *tx, &message).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Confirms the address of the account a live confirmation link belongs to, using the link up. False
/// when the link is unknown, used or expired.
#[tracing::instrument(skip_all)]
pub async fn verify_email(db: &PgPool, token: &str) -> Result<bool, AppError> {
    let mut tx = db.begin().await?;
    let Some(user_id) = db::consume_email_token(&mut *tx, token, TokenPurpose::VerifyEmail).await?
    else {
        return Ok(false);
    };
    db::mark_email_verified(&mut *tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::AccountEmailVerified,
        Target::User(user_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, "e-mail address confirmed");
    Ok(true)
}

/// Mails a new link for `purpose` to an open, enabled account with this address: a password-reset
/// link, or a confirmation link while the address is unconfirmed. Addresses without such an account
/// get nothing, and the answer is the same.
#[tracing::instrument(skip_all, fields(?purpose, client = %client))]
pub async fn send_link(
    db: &PgPool,
    base_url: &Url,
    client: &str,
    email: &Email,
    purpose: TokenPurpose,
) -> Result<Outcome, AppError> {
    if throttle::take(db, Action::EmailLink, email.as_str(), client)
        .await?
        .is_none()
    {
        return Ok(Outcome::Throttled);
    }
    let mut tx = db.begin().await?;
    if let Some(user) = db::find_by_email(&mut *tx, email.as_str()).await?
        && user.disabled_at.is_none()
    {
        let message = match purpose {
            TokenPurpose::ResetPassword => {
                let token = new_link(&mut tx, user.id, purpose).await?;
                Some(mails::reset_password(
                    base_url,
                    &user.email,
                    &user.name,
                    &token,
                ))
            }
            TokenPurpose::VerifyEmail if user.email_verified_at.is_none() => {
                let token = new_link(&mut tx, user.id, purpose).await?;
                Some(mails::verification(
                    base_url,
                    &user.email,
                    &user.name,
                    &token,
                ))
            }
            TokenPurpose::VerifyEmail => None,
        };
        if let Some(message) = message {
            mail::enqueue(&mut *tx, &message).await?;
        }
    }
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// The account a live password-reset link belongs to, without using the link up.
pub async fn reset_link_user(db: &PgPool, token: &str) -> Result<Option<User>, AppError> {
    let Some(user_id) = db::email_token_user(db, token, TokenPurpose::ResetPassword).await? else {
        return Ok(None);
    };
    Ok(db::find_user(db, user_id).await?)
}

/// Sets a new (checked) password through a reset link: uses the link up, confirms the address (the
/// link proved it), ends every session, records it and tells the account holder. False when the link
/// was used or expired meanwhile.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn reset_password(
    db: &PgPool,
    base_url: &Url,
    user: &User,
    token: &str,
    new_password: String,
) -> Result<bool, AppError> {
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    // Using the link up is the guard: of two submissions with one link, only one gets past it.
    let consumed = db::consume_email_token(&mut *tx, token, TokenPurpose::ResetPassword).await?;
    if consumed != Some(user.id) {
        return Ok(false);
    }
    db::set_password(&mut *tx, user.id, &hash).await?;
    db::mark_email_verified(&mut *tx, user.id).await?;
    session::delete_all_for_user(&mut *tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountPasswordReset,
        Target::User(user.id),
        json!({}),
    )
    .await?;
    mail::enqueue(
        &mut *tx,
        &mails::password_changed(base_url, &user.email, &user.name),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
