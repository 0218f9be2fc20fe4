//! The account holder's own account: checking a profile and a new password, saving the profile,
//! changing the password, signing out everywhere, the download of their data, and closing the account.
//! Each operation that changes more than one row runs in its own transaction.

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use url::Url;

use super::db::{self, ProfileUpdate};
use super::model::{MAX_INSTITUTION_CHARS, MAX_NAME_CHARS, Orcid, User};
use super::{mails, password, session};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;
use crate::mail;
use crate::validation::FieldErrors;

/// Password input longer than this is refused unhashed (a real password is far shorter than this).
pub const MAX_PASSWORD_INPUT_BYTES: usize = 1024;

/// Checks the name, institution and ORCID iD of a profile; returns the normalised ORCID iD.
pub fn check_profile(
    name: &str,
    institution: &str,
    orcid: &str,
    errors: &mut FieldErrors,
) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        errors.add("name", "Enter your full name, as reviewers should see it.");
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.add("name", format!("Use at most {MAX_NAME_CHARS} characters."));
    }
    if institution.trim().chars().count() > MAX_INSTITUTION_CHARS {
        errors.add(
            "institution",
            format!("Use at most {MAX_INSTITUTION_CHARS} characters."),
        );
    }
    if orcid.trim().is_empty() {
        return None;
    }
    match Orcid::parse(orcid) {
        Ok(orcid) => Some(orcid.as_str().to_owned()),
        Err(message) => {
            errors.add("orcid", message);
            None
        }
    }
}

/// Checks a new password and its confirmation.
pub fn check_new_password(
    password: &str,
    confirm: &str,
    email: &str,
    name: &str,
    errors: &mut FieldErrors,
) {
    if let Err(message) = password::check_strength(password, email, name) {
        errors.add("password", message);
    } else if password != confirm {
        errors.add("password_confirm", "The two passwords differ.");
    }
}

/// Saves checked profile fields and records the change with its before and after values.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn save_profile(
    db: &PgPool,
    user: &User,
    name: &str,
    institution: &str,
    orcid: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    db::update_profile(
        &mut *tx,
        user.id,
        &ProfileUpdate {
            name,
            institution,
            orcid,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountProfileUpdated,
        Target::User(user.id),
        json!({
            "before": {"name": user.name, "institution": user.institution, "orcid": user.orcid},
            "after": {"name": name, "institution": institution, "orcid": orcid},
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `given` is the account's current password. Takes as long for a closed account as for an
/// open one.
pub async fn password_matches(db: &PgPool, user_id: i64, given: String) -> Result<bool, AppError> {
    let stored = db::password_hash(db, user_id)
        .await?
        .unwrap_or_else(|| password::UNKNOWN_USER_HASH.to_owned());
    if given.len() > MAX_PASSWORD_INPUT_BYTES {
        return Ok(false);
    }
    Ok(password::verify(given, stored).await?)
}

/// Sets a new (checked) password, ends every session of the account and starts a new one for the
/// browser that asked, records it and tells the account holder by e-mail. Returns the new session's
/// token.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn change_password(
    db: &PgPool,
    base_url: &Url,
    user: &User,
    new_password: String,
) -> Result<String, AppError> {
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    db::set_password(&mut *tx, user.id, &hash).await?;
    session::delete_all_for_user(&mut *tx, user.id).await?;
    let token = session::create(&mut *tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        AuditAction::AccountPasswordChanged,
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
    Ok(token)
}

/// Ends every session of the account and records how many there were.
#[tracing::instrument(skip(db))]
pub async fn sign_out_everywhere(db: &PgPool, user_id: i64) -> Result<u64, AppError> {
    let mut tx = db.begin().await?;
    let ended = session::delete_all_for_user(&mut *tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::AccountSignedOutEverywhere,
        Target::User(user_id),
        json!({"sessions": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Ends every session, API token and e-mailed link of an account, inside the caller's transaction.
pub async fn end_access(conn: &mut PgConnection, user_id: i64) -> sqlx::Result<()> {
    session::delete_all_for_user(&mut *conn, user_id).await?;
    db::revoke_all_api_tokens(&mut *conn, user_id).await?;
    db::void_all_email_tokens(&mut *conn, user_id).await?;
    Ok(())
}

/// Whether the account is the portal's only active administrator (who may not close it).
pub async fn is_only_admin(db: &PgPool, user: &User) -> Result<bool, AppError> {
    Ok(user.is_admin && db::other_admins(db, user.id).await? == 0)
}

/// Closes an account: records it, ends its access, deletes its credentials, tokens and committee
/// seats, and replaces what identifies the person, keeping the row (and so the audit log's
/// references) as "closed account".
#[tracing::instrument(skip(db))]
pub async fn close(db: &PgPool, user_id: i64) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::AccountClosed,
        Target::User(user_id),
        json!({}),
    )
    .await?;
    end_access(&mut tx, user_id).await?;
    db::delete_all_credentials(&mut *tx, user_id).await?;
    db::delete_all_api_tokens(&mut *tx, user_id).await?;
    super::two_factor::forget_account(&mut tx, user_id).await?;
    super::oidc::accounts::forget_account(&mut *tx, user_id).await?;
    db::leave_committees(&mut *tx, user_id).await?;
    db::anonymise_closed_user(&mut *tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Everything the portal stores about an account, for the researcher's own download.
pub async fn export(db: &PgPool, user: &User) -> Result<serde_json::Value, AppError> {
    let mut conn = db.acquire().await?;
    let credentials = db::list_credentials(&mut *conn, user.id).await?;
    let tokens = db::list_api_tokens(&mut *conn, user.id).await?;
    let sessions = db::session_times(&mut *conn, user.id).await?;
    let events = db::account_events(&mut *conn, user.id).await?;
    let two_factor = super::two_factor::status(&mut *conn, user.id).await?;
    let identities = super::oidc::accounts::identities(&mut *conn, user.id).await?;
    let stamp = |at| crate::format::rfc3339(at);
    Ok(json!({
        "account": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "institution": user.institution,
            "orcid": user.orcid,
            "role": user.role().label(),
            "email_verified_at": user.email_verified_at.map(stamp),
            "created_at": stamp(user.created_at),
        },
        "credentials": credentials,
        "api_tokens": tokens,
        // The app's key and the recovery codes are secrets: only whether they exist.
        "two_factor": {
            "enabled_at": two_factor.enabled_at.map(stamp),
            "recovery_codes_left": two_factor.recovery_codes_left,
        },
        "institution_sign_ins": identities,
        "sessions": sessions.into_iter().map(|session| json!({
            "created_at": stamp(session.created_at),
            "last_seen_at": stamp(session.last_seen_at),
            "expires_at": stamp(session.expires_at),
        })).collect::<Vec<_>>(),
        "events": events.into_iter().map(|event| json!({
            "occurred_at": stamp(event.occurred_at), "action": event.action,
            "target_type": event.target_type, "target_id": event.target_id,
            "details": event.details,
        })).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_checked_field_by_field() {
        let mut errors = FieldErrors::default();
        let orcid = check_profile(
            " Ada Lovelace ",
            "Analytical Engines",
            "https://orcid.org/0000-0002-1825-0097",
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(orcid.as_deref(), Some("0000-0002-1825-0097"));

        let mut errors = FieldErrors::default();
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(check_profile("  ", &long, "", &mut errors), None);
        assert!(errors.get("name").is_some());
        assert_eq!(
            errors.get("institution"),
            Some("Use at most 200 characters.")
        );

        let mut errors = FieldErrors::default();
        check_profile(&long, "", "0000-0002-1825-0098", &mut errors);
        assert_eq!(errors.get("name"), Some("Use at most 200 characters."));
        assert!(
            errors
                .get("orcid")
                .is_some_and(|m| m.contains("check digit"))
        );
    }

    #[test]
    fn a_new_password_must_be_strong_and_confirmed() {
        let check = |password: &str, confirm: &str| {
            let mut errors = FieldErrors::default();
            check_new_password(password, confirm, "ada@example.org", "Ada", &mut errors);
            errors
        };
        assert!(check("violet tundra ferry 42", "violet tundra ferry 42").is_empty());
        assert!(check("short", "short").get("password").is_some());
        assert_eq!(
            check("violet tundra ferry 42", "violet tundra ferry 43").get("password_confirm"),
            Some("The two passwords differ.")
        );
    }
}
