//! The account holder's own details: checking a profile and a new password, and saving the profile
//! with its audit record.

use serde_json::json;
use sqlx::PgPool;

use super::db::{self, ProfileUpdate};
use super::model::{Orcid, User};
use super::password;
use crate::audit::{self, Target};
use crate::error::AppError;
use crate::validation::FieldErrors;

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
    } else if name.chars().count() > 200 {
        errors.add("name", "Use at most 200 characters.");
    }
    if institution.trim().chars().count() > 200 {
        errors.add("institution", "Use at most 200 characters.");
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
        "account.profile_updated",
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
