//! SQL of dataset revisions: one row per version, with what changed and the whole record after it.

use serde_json::{Map, Value};
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::catalog::model::{DatasetFields, RevisionOrigin, describe_changes};

/// A version being recorded.
pub struct NewRevision<'a> {
    pub dataset_id: i64,
    pub version: i32,
    pub actor_id: Option<i64>,
    pub origin: RevisionOrigin,
    pub changes: &'a Map<String, Value>,
    pub snapshot: &'a DatasetFields,
}

/// Records one version of a dataset.
pub async fn insert(db: impl PgExecutor<'_>, revision: NewRevision<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into dataset_revisions (dataset_id, version, actor_id, origin, changes, snapshot)
         values ($1, $2, $3, $4, $5, $6)",
        revision.dataset_id,
        revision.version,
        revision.actor_id,
        revision.origin as _,
        Json(revision.changes) as _,
        Json(revision.snapshot) as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A recorded version of a dataset.
#[derive(Clone, Debug)]
pub struct Revision {
    pub id: i64,
    pub version: i32,
    pub actor_name: Option<String>,
    pub origin: RevisionOrigin,
    pub changes: Value,
    pub created_at: OffsetDateTime,
}

impl Revision {
    /// (field, before, after) for each changed field, as short text.
    pub fn changed_fields(&self) -> Vec<(String, String, String)> {
        match &self.changes {
            Value::Object(changes) => describe_changes(changes),
            _ => Vec::new(),
        }
    }
}

/// Every version of a dataset, newest first.
pub async fn list(db: impl PgExecutor<'_>, dataset_id: i64) -> sqlx::Result<Vec<Revision>> {
    sqlx::query_as!(
        Revision,
        r#"select r.id, r.version, u.name as "actor_name?", r.origin as "origin: RevisionOrigin",
                r.changes, r.created_at
         from dataset_revisions r left join users u on u.id = r.actor_id
         where r.dataset_id = $1 order by r.version desc"#,
        dataset_id,
    )
    .fetch_all(db)
    .await
}

/// The whole record as it was at a version; `None` when there is no such version, or its snapshot
/// no longer reads as today's fields.
pub async fn snapshot(
    db: impl PgExecutor<'_>,
    dataset_id: i64,
    version: i32,
) -> sqlx::Result<Option<DatasetFields>> {
    let value = sqlx::query_scalar!(
        "select snapshot from dataset_revisions where dataset_id = $1 and version = $2",
        dataset_id,
        version,
    )
    .fetch_optional(db)
    .await?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}
