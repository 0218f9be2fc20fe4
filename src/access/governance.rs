//! Governance operations: Data Access Committees (members, decision policy), data-use agreements and
//! their versions, and which committee and agreement govern a dataset. Each change is one transaction
//! with its audit record.

use std::ops::RangeInclusive;

use serde_json::json;
use sqlx::PgPool;
use time::Date;

use super::db;
use super::db::admin::{self, DacFields};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;

/// Days grant holders have to accept a new agreement version unless the administrator says otherwise.
pub const DEFAULT_GRACE_DAYS: i32 = 30;

/// The grace periods an administrator may give, in days.
pub const GRACE_DAYS: RangeInclusive<i32> = 0..=365;

/// The approving votes a committee may require.
pub const REQUIRED_VOTES: RangeInclusive<i32> = 1..=20;

/// The longest agreement text, in characters (the database checks the same).
pub const MAX_DUA_CHARS: usize = 200_000;

/// What creating something with an identifier did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creation {
    Created(i64),
    /// Another one has this identifier; nothing was written.
    SlugTaken,
}

/// What adding a committee member did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberAdded {
    /// The account (by id) is a member now.
    Added(i64),
    /// No open account has the address; nothing was written.
    NoAccount,
}

/// What setting a dataset's governance did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GovernanceSet {
    Set,
    /// No controlled dataset has the catalog id; nothing was written.
    NoSuchDataset,
}

/// Creates a committee.
pub async fn create_committee(
    db: &PgPool,
    actor: i64,
    slug: &str,
    fields: &DacFields<'_>,
) -> Result<Creation, AppError> {
    let mut tx = db.begin().await?;
    let Some(id) = admin::create_dac(&mut *tx, slug, fields).await? else {
        return Ok(Creation::SlugTaken);
    };
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DacCreated,
        Target::Dac(id),
        json!({"slug": slug, "name": fields.name, "policy": fields.policy.as_str(), "required_votes": fields.required_votes}),
    )
    .await?;
    tx.commit().await?;
    Ok(Creation::Created(id))
}

/// Saves a committee's name, description and decision policy.
pub async fn update_committee(
    db: &PgPool,
    actor: i64,
    id: i64,
    fields: &DacFields<'_>,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    let before = db::find_dac(&mut *tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    admin::update_dac(&mut *tx, id, fields).await?;
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DacUpdated,
        Target::Dac(id),
        json!({"before": {"name": before.name, "policy": before.policy_text()}, "after": {"name": fields.name, "policy": fields.policy.as_str(), "required_votes": fields.required_votes}}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds the open account with address `email` to committee `dac_id`.
pub async fn add_member(
    db: &PgPool,
    actor: i64,
    dac_id: i64,
    email: &str,
) -> Result<MemberAdded, AppError> {
    let mut tx = db.begin().await?;
    db::find_dac(&mut *tx, dac_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(user_id) = admin::add_member(&mut tx, dac_id, email).await? else {
        return Ok(MemberAdded::NoAccount);
    };
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DacMemberAdded,
        Target::Dac(dac_id),
        json!({"user": user_id, "email": email}),
    )
    .await?;
    tx.commit().await?;
    Ok(MemberAdded::Added(user_id))
}

/// Takes `user_id` off committee `dac_id`; not found when they were not on it.
pub async fn remove_member(
    db: &PgPool,
    actor: i64,
    dac_id: i64,
    user_id: i64,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    if !admin::remove_member(&mut *tx, dac_id, user_id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DacMemberRemoved,
        Target::Dac(dac_id),
        json!({"user": user_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Who governs a controlled dataset, under which agreement, granting how long by default.
pub struct Governance<'a> {
    /// The dataset's catalog id.
    pub dataset: &'a str,
    pub dua_id: i64,
    pub default_days: i32,
    /// Upstream credentials an applicant must hold.
    pub required_credentials: &'a [String],
}

/// Puts a controlled dataset under committee `dac_id` and an agreement.
pub async fn set_governance(
    db: &PgPool,
    actor: i64,
    dac_id: i64,
    governance: &Governance<'_>,
) -> Result<GovernanceSet, AppError> {
    let mut tx = db.begin().await?;
    let set = admin::set_governance(
        &mut *tx,
        governance.dataset,
        dac_id,
        governance.dua_id,
        governance.default_days,
        governance.required_credentials,
    )
    .await?;
    if !set {
        return Ok(GovernanceSet::NoSuchDataset);
    }
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DatasetGovernanceSet,
        Target::Dac(dac_id),
        json!({"dataset": governance.dataset, "dua": governance.dua_id, "days": governance.default_days, "credentials": governance.required_credentials}),
    )
    .await?;
    tx.commit().await?;
    Ok(GovernanceSet::Set)
}

/// A version of an agreement to publish.
pub struct NewVersion<'a> {
    /// The text (Markdown).
    pub body: &'a str,
    pub effective_on: Date,
}

/// Creates an agreement with its first version.
pub async fn create_agreement(
    db: &PgPool,
    actor: i64,
    slug: &str,
    title: &str,
    first: &NewVersion<'_>,
) -> Result<Creation, AppError> {
    let mut tx = db.begin().await?;
    let Some(id) = admin::create_dua(&mut *tx, slug, title).await? else {
        return Ok(Creation::SlugTaken);
    };
    db::publish_dua_version(
        &mut tx,
        id,
        first.body,
        first.effective_on,
        Some(actor),
        DEFAULT_GRACE_DAYS,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DuaCreated,
        Target::Dua(id),
        json!({"slug": slug, "title": title, "effective_on": first.effective_on.to_string()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Creation::Created(id))
}

/// Publishes a new version of agreement `dua_id`; the active grants under it then need re-acceptance
/// within `grace_days`. Returns the version number.
pub async fn publish_version(
    db: &PgPool,
    actor: i64,
    dua_id: i64,
    version: &NewVersion<'_>,
    grace_days: i32,
) -> Result<i32, AppError> {
    let mut tx = db.begin().await?;
    let number = db::publish_dua_version(
        &mut tx,
        dua_id,
        version.body,
        version.effective_on,
        Some(actor),
        grace_days,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DuaVersionPublished,
        Target::Dua(dua_id),
        json!({"version": number, "effective_on": version.effective_on.to_string(), "grace_days": grace_days}),
    )
    .await?;
    tx.commit().await?;
    Ok(number)
}

/// Whether a date is a sensible effective date for a new version (not in the past).
pub fn effective_date_ok(date: Date, today: Date) -> bool {
    date >= today
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_new_version_takes_effect_today_or_later() {
        let today = date!(2026 - 03 - 10);
        assert!(effective_date_ok(today, today));
        assert!(effective_date_ok(date!(2026 - 04 - 01), today));
        assert!(!effective_date_ok(date!(2026 - 03 - 09), today));
    }
}
