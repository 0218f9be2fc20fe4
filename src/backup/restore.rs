//! Loading an export into an empty database. Before anything is written, the manifest's format, the
//! files' sizes and SHA-256 and the schema version are checked. The database is migrated to the
//! export's schema version; then, in one transaction: the tables are locked and found empty, every
//! file is loaded in the manifest's order with its ids, the identity sequences are moved past them,
//! both chains' heads are set to the manifest's, and both chains are verified as
//! `radportal audit verify` does. Anything wrong rolls the whole transaction back, which leaves the
//! database as empty as it was. Migrations newer than the export's run after that, as
//! `radportal migrate` would run them on the exported database.
//!
//! Inside the transaction, and only there, the triggers that maintain the chains' heads and the
//! catalog's version are turned off: each would update its one row once per loaded row, which makes
//! a large restore quadratic. The heads are set once instead and checked by recomputing both chains;
//! the catalog's version moves once. The triggers that refuse updates and deletes of the audit trail
//! stay on (the restore only inserts). Turning triggers off needs the tables' owner, the role the
//! migrations ran as.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use sqlx::migrate::{Migrate, Migration};
use sqlx::{Connection, PgConnection, PgPool};

use super::db::{self, Head};
use super::manifest::{ChainHead, Manifest, TableFile};
use super::{PASSWORD_HASH, exported_table};
use crate::audit::chain::{ChainEnd, Verification};
use crate::db::MIGRATOR;

/// The functions of the triggers turned off while the rows are loaded (see the module's comment).
const TRIGGERS_OFF_WHILE_LOADING: &[&str] = &[
    "bump_catalog_version",
    "events_head_forward_only",
    "audit_log_lock_head",
    "audit_log_chain",
    "audit_log_head_forward_only",
];

/// Tables the restore writes besides the exported ones: locked with them.
const STATE_TABLES: &[&str] = &["events_head", "audit_log_head", "catalog_state"];

/// Rows sent to PostgreSQL in one statement, at most.
const BATCH_ROWS: usize = 1000;
/// Bytes of JSON sent in one statement, at most (a single larger row goes alone).
const BATCH_BYTES: usize = 8 << 20;

/// What a restore loaded.
#[derive(Debug)]
pub struct RestoreReport {
    pub manifest: Manifest,
    pub elapsed: Duration,
    /// The events and audit log entries whose chains were verified.
    pub events: u64,
    pub audit_entries: u64,
    /// Migrations newer than the export's, applied after the data was loaded.
    pub migrated_after: Vec<i64>,
}

/// An export directory whose manifest this build reads, whose files match the manifest, and whose
/// schema version this build has: what [`restore`] takes.
#[derive(Debug)]
pub struct CheckedExport {
    dir: PathBuf,
    manifest: Manifest,
    migration: &'static Migration,
}

impl CheckedExport {
    /// Reads and checks the export in `dir`, before any database is touched.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let manifest = Manifest::read(dir).context("restore refused")?;
        manifest
            .check_files(dir)
            .context("restore refused, nothing was written")?;
        let migration = export_migration(&manifest)?;
        anyhow::ensure!(
            manifest.password_hashes == has_password_hashes(&manifest),
            "restore refused: the manifest's password_hashes does not match the columns of {}",
            PASSWORD_HASH.0
        );
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            migration,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether the accounts' password hashes are in the export.
    fn has_password_hashes(&self) -> bool {
        has_password_hashes(&self.manifest)
    }
}

/// Whether the users' file has the password hash column.
fn has_password_hashes(manifest: &Manifest) -> bool {
    manifest.table(PASSWORD_HASH.0).is_none_or(|users| {
        users
            .columns
            .iter()
            .any(|column| column.name == PASSWORD_HASH.1)
    })
}

/// Restores `export` into the empty database of `pool`.
///
/// Without password hashes in the export, every account gets the hash of a random password that is
/// thrown away: nobody can sign in with a password until they set a new one (with a mailed reset
/// link, or `radportal create-admin` for administrators).
///
/// The migrations' advisory lock is held from start to end, so an instance starting meanwhile
/// waits before it migrates, and then finds the restored data.
pub async fn restore(pool: &PgPool, export: CheckedExport) -> anyhow::Result<RestoreReport> {
    let started = Instant::now();
    let placeholder = if export.has_password_hashes() {
        None
    } else {
        Some(crate::auth::password::hash(crate::auth::session::new_token()).await?)
    };
    let mut conn = pool.acquire().await?;
    conn.lock().await?;
    let restored = restore_locked(&mut conn, &export, placeholder.as_deref()).await;
    let unlocked = conn.unlock().await;
    let (events, audit_entries, migrated_after) = restored?;
    unlocked?;
    Ok(RestoreReport {
        manifest: export.manifest,
        elapsed: started.elapsed(),
        events,
        audit_entries,
        migrated_after,
    })
}

/// The restore, under the migrations' lock: returns the events and audit log entries verified and
/// the migrations applied after the data.
async fn restore_locked(
    conn: &mut PgConnection,
    export: &CheckedExport,
    placeholder: Option<&str>,
) -> anyhow::Result<(u64, u64, Vec<i64>)> {
    let started = Instant::now();
    let target = export.migration.version;
    // A first look before migrating, so that a database with data is refused untouched.
    refuse_unless_empty(conn, &export.manifest).await?;
    conn.ensure_migrations_table().await?;
    if let Some(version) = conn.dirty_version().await? {
        anyhow::bail!("restore refused: migration {version} failed halfway on this database");
    }
    let applied = conn.list_applied_migrations().await?;
    for migration in &applied {
        let known = MIGRATOR
            .iter()
            .find(|known| known.version == migration.version);
        anyhow::ensure!(
            known.is_some_and(|known| known.checksum == migration.checksum),
            "restore refused: the database has migration {} that this radportal does not know",
            migration.version
        );
        anyhow::ensure!(
            migration.version <= target,
            "restore refused: the database is already migrated past the export's schema \
             (migration {} is applied, the export is at {target}); restore into a new database",
            migration.version,
        );
    }
    let pending: Vec<&Migration> = MIGRATOR
        .iter()
        .filter(|migration| !applied.iter().any(|done| done.version == migration.version))
        .collect();
    for migration in pending
        .iter()
        .filter(|migration| migration.version <= target)
    {
        conn.apply(migration).await?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "migrated to the export's schema");

    let mut tx = conn.begin().await?;
    let (events, audit_entries) = load(&mut tx, &export.dir, &export.manifest, placeholder).await?;
    tx.commit().await?;
    tracing::debug!(elapsed = ?started.elapsed(), "committed");

    // Each in its own transaction, as `radportal migrate` would apply them to the exported database.
    let mut migrated_after = Vec::new();
    for migration in pending
        .iter()
        .filter(|migration| migration.version > target)
    {
        conn.apply(migration).await.with_context(|| {
            format!(
                "the export was restored, but migration {} ({}), newer than the export's schema, failed",
                migration.version, migration.description
            )
        })?;
        migrated_after.push(migration.version);
    }
    Ok((events, audit_entries, migrated_after))
}

/// This build's migration that the export's schema names.
fn export_migration(manifest: &Manifest) -> anyhow::Result<&'static Migration> {
    let schema = &manifest.schema;
    let migration = MIGRATOR
        .iter()
        .find(|migration| migration.version == schema.version)
        .with_context(|| {
            format!(
                "restore refused: the export's schema is at migration {} ({}), which this \
                 radportal does not have; restore it with the radportal that exported it or a newer one",
                schema.version, schema.description
            )
        })?;
    anyhow::ensure!(
        hex::encode(&migration.checksum) == schema.checksum,
        "restore refused: migration {} of the export differs from this radportal's",
        schema.version
    );
    Ok(migration)
}

/// Refuses a database in which any table the export fills, or either chain, holds something.
async fn refuse_unless_empty(conn: &mut PgConnection, manifest: &Manifest) -> anyhow::Result<()> {
    for entry in &manifest.tables {
        if db::table_exists(conn, &entry.table).await? && db::has_rows(conn, &entry.table).await? {
            anyhow::bail!(
                "restore refused: the database is not empty (table {} has rows); restore into a \
                 new, empty database",
                entry.table
            );
        }
    }
    // On a database that was never migrated the head tables do not exist yet.
    let events = if db::table_exists(conn, "events_head").await? {
        db::events_head(conn).await?
    } else {
        None
    };
    let audit_log = if db::table_exists(conn, "audit_log_head").await? {
        db::audit_log_head(conn).await?
    } else {
        None
    };
    for (table, head) in [("events_head", events), ("audit_log_head", audit_log)] {
        anyhow::ensure!(
            head.is_none_or(|head| head.count == 0),
            "restore refused: the database is not empty ({table} records entries); restore into \
             a new, empty database"
        );
    }
    Ok(())
}

/// Loads every table inside the caller's transaction and verifies the chains; returns how many
/// events and audit log entries were verified.
async fn load(
    tx: &mut PgConnection,
    dir: &Path,
    manifest: &Manifest,
    placeholder: Option<&str>,
) -> anyhow::Result<(u64, u64)> {
    let mut locked: Vec<&str> = manifest
        .tables
        .iter()
        .map(|entry| entry.table.as_str())
        .collect();
    locked.extend(STATE_TABLES);
    db::lock_exclusively(tx, &locked).await?;
    refuse_unless_empty(tx, manifest).await?;

    let triggers = db::triggers_calling(tx, TRIGGERS_OFF_WHILE_LOADING).await?;
    for trigger in &triggers {
        db::set_trigger_enabled(tx, trigger, false).await?;
    }
    for entry in &manifest.tables {
        let started = Instant::now();
        load_table(tx, dir, entry, placeholder).await?;
        tracing::debug!(table = %entry.table, rows = entry.rows, elapsed = ?started.elapsed(), "loaded");
    }
    for sequence in &manifest.sequences {
        anyhow::ensure!(
            manifest.table(&sequence.table).is_some(),
            "the manifest lists a sequence of {}, which it does not export",
            sequence.table
        );
        // Past every restored id, and past ids the source handed out for rows deleted since, so
        // that no new row takes the id of one the audit log still names.
        let highest = db::max_value(tx, &sequence.table, &sequence.column).await?;
        if let Some(last) = sequence.last_value.max(highest) {
            db::set_last_value(tx, &sequence.table, &sequence.column, last).await?;
        }
    }
    let events_end = chain_end(&manifest.chains.events)?;
    let audit_end = chain_end(&manifest.chains.audit_log)?;
    db::set_events_head(tx, &head_of(&events_end)?).await?;
    db::set_audit_log_head(tx, &head_of(&audit_end)?).await?;
    for trigger in &triggers {
        db::set_trigger_enabled(tx, trigger, true).await?;
    }
    db::bump_catalog_version(tx, crate::catalog::watch::CHANNEL).await?;

    let started = Instant::now();
    let events = crate::access::events::verify_on(tx, Some(&events_end)).await?;
    refuse_broken("events'", &events)?;
    let audit_log = crate::audit::verify_on(tx, Some(&audit_end)).await?;
    refuse_broken("audit log's", &audit_log)?;
    tracing::debug!(elapsed = ?started.elapsed(), "verified both chains");
    Ok((events.checked, audit_log.checked))
}

/// Loads one table's file in batches, checking each line and, at the end, the row count and the
/// file's SHA-256 again (the file is read a second time here).
async fn load_table(
    tx: &mut PgConnection,
    dir: &Path,
    entry: &TableFile,
    placeholder: Option<&str>,
) -> anyhow::Result<()> {
    let columns = checked_columns(tx, entry, placeholder.is_some()).await?;
    let fill = match placeholder {
        Some(hash) if entry.table == PASSWORD_HASH.0 => Some((PASSWORD_HASH.1, hash)),
        _ => None,
    };
    let path = dir.join(&entry.file);
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut batch = Batch::default();
    let mut line = Vec::new();
    let mut rows = 0u64;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        hasher.update(&line);
        rows += 1;
        let text = std::str::from_utf8(&line)
            .ok()
            .and_then(|text| text.strip_suffix('\n'))
            .with_context(|| format!("{} line {rows}: not a line of UTF-8 text", entry.file))?;
        let object: BTreeMap<String, IgnoredAny> = serde_json::from_str(text)
            .with_context(|| format!("{} line {rows}: not a JSON object", entry.file))?;
        if let Some(unknown) = object.keys().find(|key| !columns.contains(key)) {
            anyhow::bail!(
                "{} line {rows}: {unknown} is not one of the manifest's columns",
                entry.file
            );
        }
        batch.push(text, rows);
        if batch.rows >= BATCH_ROWS || batch.json.len() >= BATCH_BYTES {
            batch.flush(tx, entry, &columns, fill).await?;
        }
    }
    batch.flush(tx, entry, &columns, fill).await?;
    anyhow::ensure!(
        rows == entry.rows,
        "{} has {rows} rows, the manifest says {}",
        entry.file,
        entry.rows
    );
    anyhow::ensure!(
        hex::encode(hasher.finalize()) == entry.sha256,
        "{} changed while it was being restored",
        entry.file
    );
    Ok(())
}

/// The manifest's columns of a table, after checking them against the database's: the same names
/// and types, and every column the export leaves out is one that is computed, or the password hash
/// that `filled` supplies.
async fn checked_columns(
    tx: &mut PgConnection,
    entry: &TableFile,
    filled: bool,
) -> anyhow::Result<Vec<String>> {
    let table = exported_table(&entry.table)
        .with_context(|| format!("{} is not a table this radportal restores", entry.table))?;
    let existing = db::columns(tx, &entry.table).await?;
    for column in &entry.columns {
        let found = existing
            .iter()
            .find(|existing| existing.name == column.name);
        anyhow::ensure!(
            found.is_some_and(|found| found.sql_type == column.sql_type),
            "the export's column {}.{} ({}) is not in the database as that type",
            entry.table,
            column.name,
            column.sql_type
        );
    }
    for column in &existing {
        let exported = entry.columns.iter().any(|c| c.name == column.name);
        let derived = table.derived.contains(&column.name.as_str());
        let password = filled && (entry.table.as_str(), column.name.as_str()) == PASSWORD_HASH;
        anyhow::ensure!(
            exported || derived || password,
            "the export has no column {}.{}",
            entry.table,
            column.name
        );
    }
    Ok(entry
        .columns
        .iter()
        .map(|column| column.name.clone())
        .collect())
}

/// Lines collected for one insert.
#[derive(Default)]
struct Batch {
    json: String,
    rows: usize,
    first_line: u64,
    last_line: u64,
}

impl Batch {
    fn push(&mut self, row: &str, line: u64) {
        if self.rows == 0 {
            self.json.push('[');
            self.first_line = line;
        } else {
            self.json.push(',');
        }
        self.json.push_str(row);
        self.rows += 1;
        self.last_line = line;
    }

    async fn flush(
        &mut self,
        tx: &mut PgConnection,
        entry: &TableFile,
        columns: &[String],
        fill: Option<(&str, &str)>,
    ) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.json.push(']');
        let inserted = db::load(tx, &entry.table, columns, fill, &self.json)
            .await
            .with_context(|| {
                format!(
                    "{} lines {}–{} cannot be loaded",
                    entry.file, self.first_line, self.last_line
                )
            })?;
        anyhow::ensure!(
            inserted == self.rows as u64,
            "{} lines {}–{}: {inserted} of {} rows were loaded",
            entry.file,
            self.first_line,
            self.last_line,
            self.rows
        );
        self.json.clear();
        self.rows = 0;
        Ok(())
    }
}

fn chain_end(head: &ChainHead) -> anyhow::Result<ChainEnd> {
    Ok(ChainEnd {
        count: head.count,
        last_id: head.last_id,
        last_hash: hex::decode(&head.last_hash)
            .context("the manifest's chain hash is not hexadecimal")?,
    })
}

fn head_of(end: &ChainEnd) -> anyhow::Result<Head> {
    Ok(Head {
        last_id: end.last_id,
        last_hash: end.last_hash.clone(),
        count: i64::try_from(end.count).context("the manifest's chain count is too large")?,
    })
}

/// Refuses to commit a chain that does not verify or does not end where the manifest says; `name`
/// is the chain's owner, possessive ("events'").
fn refuse_broken(name: &str, verification: &Verification) -> anyhow::Result<()> {
    if verification.is_intact() {
        return Ok(());
    }
    let problems: Vec<&String> = verification
        .problems
        .iter()
        .chain(&verification.checkpoint_problems)
        .collect();
    anyhow::bail!(
        "restore refused, nothing was written: the {name} hash chain in the export does not \
         verify ({} problem(s); the first: {})",
        problems.len(),
        problems.first().map_or("", |problem| problem.as_str())
    )
}
