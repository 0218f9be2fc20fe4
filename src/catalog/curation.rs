//! Curating the catalog: creating and editing datasets, moving them between draft, published and
//! retired, restoring earlier versions, and keeping organizations. Each operation runs in its own
//! transaction: the change, its revision and its audit entry are stored together or not at all.

use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::db::{self, organizations, revisions};
use super::model::{
    Dataset, DatasetFields, DatasetStatus, Organization, OrganizationInput, RevisionOrigin,
};
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;

/// Who writes a new version of a dataset, and why: decides the revision's origin and the audit entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A curator saved the editor.
    Edit { actor: i64 },
    /// A curator restored the record as it was at `restored_version`.
    Restore { actor: i64, restored_version: i32 },
}

impl Change {
    pub fn origin(self) -> RevisionOrigin {
        match self {
            Self::Edit { .. } => RevisionOrigin::Editor,
            Self::Restore { .. } => RevisionOrigin::Restore,
        }
    }

    pub fn actor(self) -> i64 {
        match self {
            Self::Edit { actor } | Self::Restore { actor, .. } => actor,
        }
    }

    /// The audit entry for `version` with `changes`: its action and details.
    fn audit_entry(self, version: i32, changes: &Map<String, Value>) -> (AuditAction, Value) {
        match self {
            Self::Edit { .. } => (
                AuditAction::DatasetUpdated,
                json!({"version": version, "changes": changes}),
            ),
            Self::Restore {
                restored_version, ..
            } => (
                AuditAction::DatasetRestored,
                json!({"restored_version": restored_version, "version": version, "changes": changes}),
            ),
        }
    }
}

/// What saving a new version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The fields were written as this version.
    Version(i32),
    /// The fields are the current ones; nothing was written.
    Unchanged,
    /// The dataset is no longer at the version the change was based on; nothing was written.
    Stale,
}

/// The one way an existing dataset gets a new version: the update (only if the dataset is still at
/// `based_on`), its revision and its audit entry, inside the caller's transaction.
///
/// `current` is the dataset as read in this transaction.
pub async fn save_version(
    conn: &mut PgConnection,
    current: &Dataset,
    based_on: i32,
    organization_id: i64,
    after: &DatasetFields,
    change: Change,
) -> sqlx::Result<Saved> {
    if current.version != based_on {
        return Ok(Saved::Stale);
    }
    let changes = after.changes_since(Some(&current.fields));
    if changes.is_empty() {
        return Ok(Saved::Unchanged);
    }
    let Some(version) =
        db::update_dataset(&mut *conn, current.id, based_on, organization_id, after).await?
    else {
        return Ok(Saved::Stale);
    };
    revisions::insert(
        &mut *conn,
        revisions::NewRevision {
            dataset_id: current.id,
            version,
            actor_id: Some(change.actor()),
            origin: change.origin(),
            changes: &changes,
            snapshot: after,
        },
    )
    .await?;
    let (action, details) = change.audit_entry(version, &changes);
    audit::record(
        &mut *conn,
        Some(change.actor()),
        action,
        Target::Dataset(current.id),
        details,
    )
    .await?;
    Ok(Saved::Version(version))
}

/// Adds a dataset at version 1 with its first revision, inside the caller's transaction; returns its
/// id.
pub async fn insert_first_version(
    conn: &mut PgConnection,
    organization_id: i64,
    status: DatasetStatus,
    fields: &DatasetFields,
    actor: Option<i64>,
    origin: RevisionOrigin,
) -> sqlx::Result<i64> {
    let id = db::insert_dataset(&mut *conn, organization_id, status, fields).await?;
    revisions::insert(
        &mut *conn,
        revisions::NewRevision {
            dataset_id: id,
            version: 1,
            actor_id: actor,
            origin,
            changes: &fields.changes_since(None),
            snapshot: fields,
        },
    )
    .await?;
    Ok(id)
}

/// The dataset with this slug, locked for the rest of the transaction and read after the lock.
async fn lock_and_read(conn: &mut PgConnection, slug: &str) -> Result<Dataset, AppError> {
    db::lock_dataset(&mut *conn, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    db::find_dataset(&mut *conn, slug)
        .await?
        .ok_or(AppError::NotFound)
}

/// What creating a dataset did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    Created {
        id: i64,
    },
    /// Another dataset has the slug; nothing was written.
    SlugTaken,
}

/// Creates a draft dataset with its first revision and an audit entry.
pub async fn create_dataset(
    pool: &PgPool,
    actor: i64,
    organization_id: i64,
    fields: &DatasetFields,
) -> Result<Created, AppError> {
    let mut tx = pool.begin().await?;
    if db::slug_taken(&mut *tx, &fields.slug).await? {
        return Ok(Created::SlugTaken);
    }
    let id = insert_first_version(
        &mut tx,
        organization_id,
        DatasetStatus::Draft,
        fields,
        Some(actor),
        RevisionOrigin::Editor,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DatasetCreated,
        Target::Dataset(id),
        json!({"slug": fields.slug, "title": fields.title}),
    )
    .await?;
    tx.commit().await?;
    Ok(Created::Created { id })
}

/// What saving the editor did.
#[derive(Clone, Debug, PartialEq)]
pub enum Updated {
    Saved {
        version: i32,
    },
    /// The form holds the current fields; nothing was written.
    Unchanged,
    /// Someone saved since the form was opened at `based_on`; nothing was written.
    Stale {
        /// The version now current.
        version: i32,
        /// What they changed since `based_on` (empty when that version cannot be read).
        theirs: Map<String, Value>,
    },
}

/// Saves the editor's fields as a new version of the dataset `slug`, if it is still at `based_on`.
pub async fn update_dataset(
    pool: &PgPool,
    actor: i64,
    slug: &str,
    based_on: i32,
    organization_id: i64,
    fields: &DatasetFields,
) -> Result<Updated, AppError> {
    let mut tx = pool.begin().await?;
    let current = lock_and_read(&mut tx, slug).await?;
    let change = Change::Edit { actor };
    let updated =
        match save_version(&mut tx, &current, based_on, organization_id, fields, change).await? {
            Saved::Version(version) => Updated::Saved { version },
            Saved::Unchanged => Updated::Unchanged,
            Saved::Stale => {
                let base = revisions::snapshot(&mut *tx, current.id, based_on).await?;
                Updated::Stale {
                    version: current.version,
                    theirs: base
                        .map(|base| current.fields.changes_since(Some(&base)))
                        .unwrap_or_default(),
                }
            }
        };
    tx.commit().await?;
    Ok(updated)
}

/// Moves a dataset to another status, with an audit entry saying from which.
pub async fn set_status(
    pool: &PgPool,
    actor: i64,
    slug: &str,
    status: DatasetStatus,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let locked = db::lock_dataset(&mut tx, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    db::set_status(&mut *tx, locked.id, status).await?;
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::DatasetStatusChanged,
        Target::Dataset(locked.id),
        json!({"before": locked.status, "after": status}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What restoring a version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    Restored {
        version: i32,
    },
    /// The record already is as it was at that version; nothing was written.
    Unchanged,
}

/// Restores the dataset `slug` as it was at `wanted`, as a new version.
pub async fn restore_version(
    pool: &PgPool,
    actor: i64,
    slug: &str,
    wanted: i32,
) -> Result<Restored, AppError> {
    let mut tx = pool.begin().await?;
    let current = lock_and_read(&mut tx, slug).await?;
    let snapshot = revisions::snapshot(&mut *tx, current.id, wanted)
        .await?
        .ok_or(AppError::NotFound)?;
    let restored = DatasetFields {
        slug: current.fields.slug.clone(),
        ..snapshot
    };
    let organization_id = organizations::id_by_slug(&mut *tx, &restored.organization_slug)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest("The organization of that version no longer exists.".to_owned())
        })?;
    let change = Change::Restore {
        actor,
        restored_version: wanted,
    };
    let restored = match save_version(
        &mut tx,
        &current,
        current.version,
        organization_id,
        &restored,
        change,
    )
    .await?
    {
        Saved::Version(version) => Restored::Restored { version },
        Saved::Unchanged => Restored::Unchanged,
        Saved::Stale => {
            return Err(AppError::BadRequest(
                "The dataset changed meanwhile; look at the history again.".to_owned(),
            ));
        }
    };
    tx.commit().await?;
    Ok(restored)
}

/// What saving an organization did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedOrganization {
    Saved {
        id: i64,
    },
    /// Another organization has the slug; nothing was written.
    SlugTaken,
}

/// Creates an organization, with an audit entry.
pub async fn create_organization(
    pool: &PgPool,
    actor: i64,
    input: &OrganizationInput,
) -> Result<SavedOrganization, AppError> {
    let mut tx = pool.begin().await?;
    let Some(id) = organizations::insert(&mut *tx, input).await? else {
        return Ok(SavedOrganization::SlugTaken);
    };
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::OrganizationCreated,
        Target::Organization(id),
        json!({"before": null, "after": organization_audit(input)}),
    )
    .await?;
    tx.commit().await?;
    Ok(SavedOrganization::Saved { id })
}

/// Changes an organization's name, homepage and description (its slug stays), with an audit entry
/// holding the values before and after.
pub async fn update_organization(
    pool: &PgPool,
    actor: i64,
    existing: &Organization,
    input: &OrganizationInput,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    if !organizations::update(&mut *tx, existing.id, input).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(actor),
        AuditAction::OrganizationUpdated,
        Target::Organization(existing.id),
        json!({
            "before": {"name": existing.name, "homepage": existing.homepage},
            "after": organization_audit(input),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the audit log keeps of an organization as saved.
fn organization_audit(input: &OrganizationInput) -> Value {
    json!({"slug": input.slug, "name": input.name, "homepage": input.homepage})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_has_its_origin_and_actor() {
        let edit = Change::Edit { actor: 7 };
        let restore = Change::Restore {
            actor: 8,
            restored_version: 2,
        };
        assert_eq!((edit.origin(), edit.actor()), (RevisionOrigin::Editor, 7));
        assert_eq!(
            (restore.origin(), restore.actor()),
            (RevisionOrigin::Restore, 8)
        );
    }

    #[test]
    fn edits_and_restores_are_audited() {
        let mut changes = Map::new();
        changes.insert("title".to_owned(), json!({"before": "A", "after": "B"}));
        let (action, details) = Change::Edit { actor: 1 }.audit_entry(3, &changes);
        assert_eq!(action, AuditAction::DatasetUpdated);
        assert_eq!(details, json!({"version": 3, "changes": changes}));
        let (action, details) = Change::Restore {
            actor: 1,
            restored_version: 1,
        }
        .audit_entry(4, &changes);
        assert_eq!(action, AuditAction::DatasetRestored);
        assert_eq!(details["restored_version"], 1);
        assert_eq!(details["version"], 4);
    }
}
