//! The audit log: who did what, when, to what. Rows are only ever added.

use serde_json::Value;
use sqlx::PgExecutor;

/// What an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    User(i64),
    ApiToken(i64),
    Credential(i64),
    Project(i64),
    Request(i64),
    Grant(i64),
    Dua(i64),
    Dac(i64),
    Dataset(i64),
    Import(i64),
    Organization(i64),
}

impl Target {
    fn parts(self) -> (&'static str, String) {
        match self {
            Self::User(id) => ("user", id.to_string()),
            Self::ApiToken(id) => ("api_token", id.to_string()),
            Self::Credential(id) => ("credential", id.to_string()),
            Self::Project(id) => ("project", id.to_string()),
            Self::Request(id) => ("request", id.to_string()),
            Self::Grant(id) => ("grant", id.to_string()),
            Self::Dua(id) => ("dua", id.to_string()),
            Self::Dac(id) => ("dac", id.to_string()),
            Self::Dataset(id) => ("dataset", id.to_string()),
            Self::Import(id) => ("import", id.to_string()),
            Self::Organization(id) => ("organization", id.to_string()),
        }
    }
}

/// Adds an entry. `actor` is `None` for the portal itself (for example the first administrator).
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Option<i64>,
    action: &str,
    target: Target,
    details: Value,
) -> sqlx::Result<()> {
    let (target_type, target_id) = target.parts();
    sqlx::query(
        "insert into audit_log (actor_id, action, target_type, target_id, details)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(details)
    .execute(db)
    .await?;
    Ok(())
}
