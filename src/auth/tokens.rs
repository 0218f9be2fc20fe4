//! Personal API tokens: checking a new token's name, scope and lifetime, creating and revoking tokens
//! with their audit records.

use serde_json::json;
use sqlx::PgPool;

use super::db;
use super::model::{TokenScope, User};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;
use crate::validation::FieldErrors;

/// Lifetimes offered for a new token, in days.
pub const TOKEN_DAYS: [i32; 4] = [7, 30, 90, 365];
/// The longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A new token's settings, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    pub scope: TokenScope,
    pub days: i32,
}

/// Checks a new token's name, scope (one `user` may create) and lifetime (one of [`TOKEN_DAYS`]).
pub fn check(
    user: &User,
    name: &str,
    scope: &str,
    days: &str,
    errors: &mut FieldErrors,
) -> Option<TokenSettings> {
    let name = name.trim();
    if name.is_empty() {
        errors.add(
            "name",
            "Name the token after where you will use it, e.g. 'lab laptop'.",
        );
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.add("name", format!("Use at most {MAX_NAME_CHARS} characters."));
    }
    let scope =
        TokenScope::parse(scope).filter(|scope| TokenScope::available_to(user).contains(scope));
    if scope.is_none() {
        errors.add("scope", "Choose read only, or read and write.");
    }
    let days = days.parse::<i32>().ok().filter(|d| TOKEN_DAYS.contains(d));
    if days.is_none() {
        errors.add(
            "days",
            "Choose how long the token works: 7, 30, 90 or 365 days.",
        );
    }
    match (scope, days, errors.is_empty()) {
        (Some(scope), Some(days), true) => Some(TokenSettings { scope, days }),
        _ => None,
    }
}

/// Creates a token and records it; returns its id and the token, which is shown this once.
#[tracing::instrument(skip(db, name))]
pub async fn create(
    db: &PgPool,
    user_id: i64,
    name: &str,
    settings: TokenSettings,
) -> Result<(i64, String), AppError> {
    let mut tx = db.begin().await?;
    let (id, token) =
        db::create_api_token(&mut *tx, user_id, name, settings.scope, settings.days).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::ApiTokenCreated,
        Target::ApiToken(id),
        json!({"name": name, "scope": settings.scope.as_str(), "days": settings.days}),
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// Revokes one of the account's own live tokens and records it; false when it has no such token.
#[tracing::instrument(skip(db))]
pub async fn revoke(db: &PgPool, user_id: i64, id: i64) -> Result<bool, AppError> {
    let mut tx = db.begin().await?;
    if !db::revoke_api_token(&mut *tx, user_id, id).await? {
        return Ok(false);
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::ApiTokenRevoked,
        Target::ApiToken(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(is_admin: bool) -> User {
        User {
            id: 1,
            email: "ada@example.org".to_owned(),
            name: "Ada".to_owned(),
            institution: String::new(),
            orcid: None,
            is_admin,
            is_reviewer: false,
            email_verified_at: None,
            disabled_at: None,
            closed_at: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            unread_notifications: 0,
            cart_items: 0,
        }
    }

    #[test]
    fn a_named_token_with_an_offered_lifetime_passes() {
        let mut errors = FieldErrors::default();
        assert_eq!(
            check(&user(false), " lab laptop ", "read", "90", &mut errors),
            Some(TokenSettings {
                scope: TokenScope::Read,
                days: 90
            })
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn only_administrators_create_data_host_tokens() {
        let mut errors = FieldErrors::default();
        assert_eq!(
            check(&user(false), "host", "data_host", "30", &mut errors),
            None
        );
        assert!(errors.get("scope").is_some());
        let mut errors = FieldErrors::default();
        assert!(check(&user(true), "host", "data_host", "30", &mut errors).is_some());
    }

    #[test]
    fn each_field_says_what_is_wrong() {
        let mut errors = FieldErrors::default();
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(check(&user(false), &long, "write", "12", &mut errors), None);
        assert_eq!(errors.get("name"), Some("Use at most 100 characters."));
        assert!(errors.get("scope").is_some());
        assert!(
            errors
                .get("days")
                .is_some_and(|m| m.contains("7, 30, 90 or 365"))
        );
    }
}
