//! Upstream credentials a researcher records (PhysioNet credentialing, CITI training, ...): checking
//! what was typed, adding and removing them with their audit records.

use serde_json::json;
use sqlx::PgPool;
use time::Date;

use super::db::{self, NewCredential};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;
use crate::validation::{self, FieldErrors};

/// The longest credential name, in characters.
pub const MAX_KIND_CHARS: usize = 100;
/// The longest issuer or identifier, in characters.
pub const MAX_DETAIL_CHARS: usize = 200;

/// The credential form's text fields, as typed.
pub struct CredentialText<'a> {
    pub kind: &'a str,
    pub issuer: &'a str,
    pub identifier: &'a str,
    pub issued_on: &'a str,
    pub expires_on: &'a str,
}

/// The dates of a checked credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredentialDates {
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
}

/// A date typed as `YYYY-MM-DD`; nothing typed is no date.
fn parse_date(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<Date> {
    if raw.trim().is_empty() {
        return None;
    }
    validation::parse_date(raw)
        .map_err(|message| errors.add(field, message))
        .ok()
}

/// Checks the text fields of a credential: a name, lengths, dates in order.
pub fn check(text: &CredentialText<'_>, errors: &mut FieldErrors) -> CredentialDates {
    let kind = text.kind.trim();
    if kind.is_empty() {
        errors.add(
            "kind",
            "Name the credential, e.g. PhysioNet credentialed user.",
        );
    } else if kind.chars().count() > MAX_KIND_CHARS {
        errors.add("kind", format!("Use at most {MAX_KIND_CHARS} characters."));
    }
    for (field, value) in [("issuer", text.issuer), ("identifier", text.identifier)] {
        if value.trim().chars().count() > MAX_DETAIL_CHARS {
            errors.add(field, format!("Use at most {MAX_DETAIL_CHARS} characters."));
        }
    }
    let issued_on = parse_date(text.issued_on, "issued_on", errors);
    let expires_on = parse_date(text.expires_on, "expires_on", errors);
    if let (Some(issued), Some(expires)) = (issued_on, expires_on)
        && expires < issued
    {
        errors.add("expires_on", "The expiry date is before the issue date.");
    }
    CredentialDates {
        issued_on,
        expires_on,
    }
}

/// Adds a checked credential to the account and records it; returns its id.
#[tracing::instrument(skip(db, credential))]
pub async fn add(
    db: &PgPool,
    user_id: i64,
    credential: &NewCredential<'_>,
) -> Result<i64, AppError> {
    let mut tx = db.begin().await?;
    let id = db::add_credential(&mut *tx, user_id, credential).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::CredentialAdded,
        Target::Credential(id),
        json!({
            "kind": credential.kind,
            "expires_on": credential.expires_on.map(|date| date.to_string()),
            "evidence": credential.evidence.is_some(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes one of the account's own credentials and records it; false when it has no such credential.
#[tracing::instrument(skip(db))]
pub async fn remove(db: &PgPool, user_id: i64, id: i64) -> Result<bool, AppError> {
    let mut tx = db.begin().await?;
    if !db::delete_credential(&mut *tx, user_id, id).await? {
        return Ok(false);
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        AuditAction::CredentialRemoved,
        Target::Credential(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(kind: &'a str, issued_on: &'a str, expires_on: &'a str) -> CredentialText<'a> {
        CredentialText {
            kind,
            issuer: "PhysioNet",
            identifier: "",
            issued_on,
            expires_on,
        }
    }

    #[test]
    fn a_named_credential_with_ordered_dates_passes() {
        let mut errors = FieldErrors::default();
        let dates = check(
            &text("PhysioNet credentialed user", "2025-01-31", ""),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(dates.issued_on, Some(time::macros::date!(2025 - 01 - 31)));
        assert_eq!(dates.expires_on, None);
    }

    #[test]
    fn each_field_says_what_is_wrong() {
        let mut errors = FieldErrors::default();
        check(&text(" ", "31/01/2025", "1850-01-01"), &mut errors);
        assert!(errors.get("kind").is_some_and(|m| m.contains("Name the")));
        assert!(
            errors
                .get("expires_on")
                .is_some_and(|m| m.contains("between"))
        );
        assert!(
            errors
                .get("issued_on")
                .is_some_and(|m| m.contains("YYYY-MM-DD"))
        );

        let mut errors = FieldErrors::default();
        let long = "x".repeat(MAX_KIND_CHARS + 1);
        check(&text(&long, "2025-02-01", "2025-01-01"), &mut errors);
        assert_eq!(errors.get("kind"), Some("Use at most 100 characters."));
        assert_eq!(
            errors.get("expires_on"),
            Some("The expiry date is before the issue date.")
        );

        let mut errors = FieldErrors::default();
        let long = "x".repeat(MAX_DETAIL_CHARS + 1);
        check(
            &CredentialText {
                issuer: &long,
                ..text("CITI", "", "")
            },
            &mut errors,
        );
        assert_eq!(errors.get("issuer"), Some("Use at most 200 characters."));
    }
}
