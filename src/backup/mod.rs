//! Backups that restore: [`export`] writes everything the portal owns, read in one repeatable-read
//! snapshot, as one JSON Lines file per table and a `manifest.json`; [`restore`] loads such a
//! directory into an empty database in one transaction, with the same ids, and checks both hash
//! chains before it commits. The README's "Backups" section describes the format for operators.
//!
//! Statements with a fixed text are checked when the crate compiles (`query!`). Those that name a
//! table or its columns (dumping, counting, loading, locking, turning triggers off and on) are built
//! at run time, because the table is a parameter: the names come from [`TABLES`] and from the columns
//! PostgreSQL reports for them, never unchecked from an export, and are always quoted.
//! `tests/app/backup.rs` runs every one of them.

pub mod db;
pub mod export;
pub mod manifest;
pub mod restore;

pub use export::{ExportOptions, ExportReport, export};
pub use restore::{CheckedExport, RestoreReport, restore};

/// A table the export writes.
pub struct Table {
    pub name: &'static str,
    /// Columns that triggers compute from the row's other columns when it is inserted; they are not
    /// exported (the restore's inserts compute them again). The datasets' search document exists
    /// only in schemas before migration 19; an export of such a schema is restored into it first.
    pub derived: &'static [&'static str],
}

const fn table(name: &'static str) -> Table {
    Table { name, derived: &[] }
}

/// Every table the export writes, in the order the restore loads them: each after the tables its
/// foreign keys point to. Rows are written in the order of the primary key.
pub const TABLES: &[Table] = &[
    table("organizations"),
    table("users"),
    table("totp_authenticators"),
    table("recovery_codes"),
    table("oidc_identities"),
    Table {
        name: "datasets",
        derived: &["search_vector", "search_names", "task_categories"],
    },
    table("dataset_revisions"),
    table("credentials"),
    table("api_tokens"),
    table("dacs"),
    table("dac_members"),
    table("duas"),
    table("dua_versions"),
    table("dataset_governance"),
    table("projects"),
    table("project_members"),
    table("cart_items"),
    table("access_requests"),
    table("request_datasets"),
    table("request_votes"),
    table("grants"),
    table("events"),
    table("attachments"),
    table("notifications"),
    table("audit_log"),
];

/// The tables the export leaves out on purpose, each with the reason.
pub const LEFT_OUT: &[(&str, &str)] = &[
    (
        "sessions",
        "signed-in sessions: after a restore everyone signs in again",
    ),
    (
        "email_tokens",
        "single-use links mailed to confirm an address (valid for two days) or to reset a \
         password (an hour): they stop working, and people ask for a new one",
    ),
    (
        "auth_attempts",
        "the throttles' counts of failed sign-ins, mailed links and registrations, which look \
         back an hour at most",
    ),
    (
        "sign_in_challenges",
        "sign-ins whose password was right, waiting five minutes at most for their second \
         factor's code",
    ),
    (
        "oidc_sign_ins",
        "sign-ins sent to an institution's provider and not back yet, for ten minutes at most",
    ),
    (
        "outbox",
        "the mail queue: sent messages are the mail server's record, and unsent ones can carry \
         single-use links, which are not exported either; mail not yet sent at the export is not \
         sent after a restore",
    ),
    (
        "import_uploads",
        "files kept between a bulk import's dry run and its commit, pruned after a day",
    ),
    (
        "link_checks",
        "the last check of each landing URL, which the link-check job repeats",
    ),
    (
        "job_schedule",
        "when each background job is next due; the jobs schedule themselves again",
    ),
    (
        "search_log",
        "the anonymous search analytics, kept for RADPORTAL_SEARCH_LOG_DAYS at most; a restored \
         portal starts counting again",
    ),
    (
        "catalog_state",
        "the catalog's change counter for the instances' caches; the restore moves it once",
    ),
    (
        "catalog_changes",
        "which datasets each catalog version changed, for the instances' search indexes; after a \
         restore they read the whole catalog",
    ),
    (
        "events_head",
        "the head of the events' hash chain: the manifest records it, and the restore sets it and \
         checks the chain against it",
    ),
    (
        "audit_log_head",
        "the head of the audit log's hash chain: the manifest records it, and the restore sets it \
         and checks the chain against it",
    ),
];

/// The table and column holding password hashes, exported only when the operator asks.
pub const PASSWORD_HASH: (&str, &str) = ("users", "password_hash");

/// The table `name` of [`TABLES`].
pub fn exported_table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|table| table.name == name)
}

/// Creates a new file that only the process's owner can read (an export holds personal data).
fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quoted identifiers separated by commas.
fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_table_is_both_exported_and_left_out_or_listed_twice() {
        let mut names: Vec<&str> = TABLES
            .iter()
            .map(|table| table.name)
            .chain(LEFT_OUT.iter().map(|(name, _)| *name))
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(exported_table(PASSWORD_HASH.0).is_some());
    }

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quoted("users"), "\"users\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
        assert_eq!(quoted_list(["id", "name"]), "\"id\", \"name\"");
    }
}
