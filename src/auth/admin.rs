//! What administrators do to accounts: disabling and enabling them, and the admin flag. Each change is
//! recorded in the audit log in the same transaction.

use serde_json::json;
use sqlx::PgPool;

use super::account::end_access;
use super::db;
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;

/// The longest reason for disabling an account, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// Disables an account with a reason: it can no longer sign in, and its sessions, API tokens and
/// e-mailed links stop working. Administrators cannot disable themselves.
#[tracing::instrument(skip(db, reason))]
pub async fn disable_user(
    db: &PgPool,
    admin_id: i64,
    user_id: i64,
    reason: &str,
) -> Result<(), AppError> {
    if user_id == admin_id {
        return Err(AppError::BadRequest(
            "You cannot disable your own account.".to_owned(),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "Give a reason for disabling the account (at most {MAX_REASON_CHARS} characters)."
        )));
    }
    let mut tx = db.begin().await?;
    if !db::set_disabled_at(&mut *tx, user_id, true).await? {
        return Err(AppError::NotFound);
    }
    end_access(&mut tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(admin_id),
        AuditAction::UserDisabled,
        Target::User(user_id),
        json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lets a disabled account sign in again (its old sessions and tokens stay ended).
#[tracing::instrument(skip(db))]
pub async fn enable_user(db: &PgPool, admin_id: i64, user_id: i64) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    if !db::set_disabled_at(&mut *tx, user_id, false).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(admin_id),
        AuditAction::UserEnabled,
        Target::User(user_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes an account an administrator or takes the flag away. Administrators cannot take their own
/// flag away, so the portal always keeps one.
#[tracing::instrument(skip(db))]
pub async fn set_admin_flag(
    db: &PgPool,
    admin_id: i64,
    user_id: i64,
    make_admin: bool,
) -> Result<(), AppError> {
    if !make_admin && user_id == admin_id {
        return Err(AppError::BadRequest(
            "You cannot remove your own administrator flag; ask another administrator.".to_owned(),
        ));
    }
    let mut tx = db.begin().await?;
    let before = db::find_user(&mut *tx, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !db::set_admin(&mut *tx, user_id, make_admin).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(admin_id),
        AuditAction::UserAdminFlagChanged,
        Target::User(user_id),
        json!({"before": before.is_admin, "after": make_admin}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
