//! The audit log: who did what, when, to what. Rows are only ever added (triggers refuse anything
//! else), and each joins a hash chain computed by the database as it is written; [`verify`] recomputes
//! the chain here, independently of the database's own functions.

pub mod chain;
pub mod checkpoint;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use chain::{ChainEnd, Nouns, Verification, Walk};

/// What audit log entries are called in reports.
pub const NOUNS: Nouns = Nouns {
    one: "audit entry",
    many: "audit entries",
};

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

/// Every administrative and account action the audit log records. Stored as its text
/// (`dataset.updated`), which the hash chain covers, so a name never changes once used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    AccountClosed,
    AccountEmailVerified,
    AccountIdentityLinked,
    AccountPasswordChanged,
    AccountPasswordReset,
    AccountProfileUpdated,
    AccountRecoveryCodeUsed,
    AccountRecoveryCodesRegenerated,
    AccountRegistered,
    AccountSignedOutEverywhere,
    AccountTwoFactorDisabled,
    AccountTwoFactorEnabled,
    ApiTokenCreated,
    ApiTokenRevoked,
    CatalogImported,
    CredentialAdded,
    CredentialRemoved,
    DacCreated,
    DacMemberAdded,
    DacMemberRemoved,
    DacUpdated,
    DatasetCreated,
    DatasetGovernanceSet,
    DatasetRestored,
    DatasetStatusChanged,
    DatasetUpdated,
    DuaCreated,
    DuaVersionPublished,
    OrganizationCreated,
    OrganizationUpdated,
    ProjectCreated,
    ProjectIrbLetterUploaded,
    ProjectUpdated,
    UserAdminFlagChanged,
    UserDisabled,
    UserEnabled,
}

impl AuditAction {
    /// Every action, for filters and tests.
    pub const ALL: [Self; 36] = [
        Self::AccountClosed,
        Self::AccountEmailVerified,
        Self::AccountIdentityLinked,
        Self::AccountPasswordChanged,
        Self::AccountPasswordReset,
        Self::AccountProfileUpdated,
        Self::AccountRecoveryCodeUsed,
        Self::AccountRecoveryCodesRegenerated,
        Self::AccountRegistered,
        Self::AccountSignedOutEverywhere,
        Self::AccountTwoFactorDisabled,
        Self::AccountTwoFactorEnabled,
        Self::ApiTokenCreated,
        Self::ApiTokenRevoked,
        Self::CatalogImported,
        Self::CredentialAdded,
        Self::CredentialRemoved,
        Self::DacCreated,
        Self::DacMemberAdded,
        Self::DacMemberRemoved,
        Self::DacUpdated,
        Self::DatasetCreated,
        Self::DatasetGovernanceSet,
        Self::DatasetRestored,
        Self::DatasetStatusChanged,
        Self::DatasetUpdated,
        Self::DuaCreated,
        Self::DuaVersionPublished,
        Self::OrganizationCreated,
        Self::OrganizationUpdated,
        Self::ProjectCreated,
        Self::ProjectIrbLetterUploaded,
        Self::ProjectUpdated,
        Self::UserAdminFlagChanged,
        Self::UserDisabled,
        Self::UserEnabled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountClosed => "account.closed",
            Self::AccountEmailVerified => "account.email_verified",
            Self::AccountIdentityLinked => "account.identity_linked",
            Self::AccountPasswordChanged => "account.password_changed",
            Self::AccountPasswordReset => "account.password_reset",
            Self::AccountProfileUpdated => "account.profile_updated",
            Self::AccountRecoveryCodeUsed => "account.recovery_code_used",
            Self::AccountRecoveryCodesRegenerated => "account.recovery_codes_regenerated",
            Self::AccountRegistered => "account.registered",
            Self::AccountSignedOutEverywhere => "account.signed_out_everywhere",
            Self::AccountTwoFactorDisabled => "account.two_factor_disabled",
            Self::AccountTwoFactorEnabled => "account.two_factor_enabled",
            Self::ApiTokenCreated => "api_token.created",
            Self::ApiTokenRevoked => "api_token.revoked",
            Self::CatalogImported => "catalog.imported",
            Self::CredentialAdded => "credential.added",
            Self::CredentialRemoved => "credential.removed",
            Self::DacCreated => "dac.created",
            Self::DacMemberAdded => "dac.member_added",
            Self::DacMemberRemoved => "dac.member_removed",
            Self::DacUpdated => "dac.updated",
            Self::DatasetCreated => "dataset.created",
            Self::DatasetGovernanceSet => "dataset.governance_set",
            Self::DatasetRestored => "dataset.restored",
            Self::DatasetStatusChanged => "dataset.status_changed",
            Self::DatasetUpdated => "dataset.updated",
            Self::DuaCreated => "dua.created",
            Self::DuaVersionPublished => "dua.version_published",
            Self::OrganizationCreated => "organization.created",
            Self::OrganizationUpdated => "organization.updated",
            Self::ProjectCreated => "project.created",
            Self::ProjectIrbLetterUploaded => "project.irb_letter_uploaded",
            Self::ProjectUpdated => "project.updated",
            Self::UserAdminFlagChanged => "user.admin_flag_changed",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
        }
    }
}

/// Adds an entry. `actor` is `None` for the portal itself (for example the first administrator).
///
/// The database chains it (migration 0012): the entry waits for the log's head row, which other
/// transactions adding entries hold until they end.
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Option<i64>,
    action: AuditAction,
    target: Target,
    details: Value,
) -> sqlx::Result<()> {
    let (target_type, target_id) = target.parts();
    sqlx::query!(
        "insert into audit_log (actor_id, action, target_type, target_id, details)
         values ($1, $2, $3, $4, $5)",
        actor,
        action.as_str(),
        target_type,
        target_id,
        details,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The hash of an entry: SHA-256 over the previous hash and each field as its length in bytes, a colon
/// and the field, as `audit_log_chain()` in migration 0012 computes it.
fn content_hash(
    prev_hash: &[u8],
    actor_id: Option<i64>,
    fields: [&str; 4],
    occurred_at: OffsetDateTime,
) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    let mut field = |value: &str| {
        hasher.update(format!("{}:", value.len()).as_bytes());
        hasher.update(value.as_bytes());
    };
    field(&actor_id.map_or_else(|| "-".to_owned(), |id| id.to_string()));
    for value in fields {
        field(value);
    }
    field(&(occurred_at.unix_timestamp_nanos() / 1000).to_string());
    hasher.finalize().to_vec()
}

/// Walks the audit log's chain as of one moment and reports every entry whose content or link does
/// not match, and a head that does not match the chain's end.
pub async fn verify(db: &sqlx::PgPool) -> sqlx::Result<Verification> {
    let mut tx = db.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let result = verify_on(&mut tx, None).await?;
    tx.commit().await?;
    Ok(result)
}

/// Walks the audit log's chain in order on `conn` (ideally inside one repeatable-read transaction, so
/// the chain and its head are read as of one moment), and, given a `checkpoint`, checks that the
/// chain still extends it.
pub async fn verify_on(
    conn: &mut PgConnection,
    checkpoint: Option<&ChainEnd>,
) -> sqlx::Result<Verification> {
    use futures_util::TryStreamExt;
    struct Row {
        id: i64,
        actor_id: Option<i64>,
        action: String,
        target_type: String,
        target_id: String,
        /// jsonb as PostgreSQL writes it, which is the same text for the same value.
        details: String,
        occurred_at: OffsetDateTime,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
    }
    let head = sqlx::query!("select last_id, last_hash, entry_count from audit_log_head")
        .fetch_optional(&mut *conn)
        .await?;
    let mut walk = Walk::new(NOUNS, checkpoint);
    let mut rows = sqlx::query_as!(
        Row,
        r#"select id, actor_id, action, target_type, target_id, details::text as "details!",
                occurred_at, prev_hash, hash
         from audit_log order by id"#,
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let recomputed = content_hash(
            &row.prev_hash,
            row.actor_id,
            [&row.action, &row.target_type, &row.target_id, &row.details],
            row.occurred_at,
        );
        walk.step(row.id, &row.action, &row.prev_hash, row.hash, &recomputed);
    }
    Ok(walk.finish(head.map(|head| ChainEnd {
        count: u64::try_from(head.entry_count).unwrap_or(0),
        last_id: head.last_id,
        last_hash: head.last_hash,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_stored_name_of_subject_dot_verb() {
        let names: std::collections::BTreeSet<&str> = AuditAction::ALL
            .iter()
            .map(|action| action.as_str())
            .collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for name in names {
            let (subject, verb) = name.split_once('.').expect("subject.verb");
            assert!(!subject.is_empty() && !verb.is_empty(), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}"
            );
        }
    }
}
