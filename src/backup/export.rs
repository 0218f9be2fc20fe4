//! Writing an export: every table of [`super::TABLES`] read in one repeatable-read, read-only
//! transaction (so the files agree with each other as of one moment), each to `<table>.jsonl`, then
//! the manifest with the files' sizes and SHA-256.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use sqlx::migrate::Migrate;

use super::db;
use super::manifest::{
    ChainHead, Chains, Column, FORMAT, FORMAT_VERSION, LeftOut, Manifest, Schema, Sequence,
    TableFile, file_name,
};
use super::{LEFT_OUT, PASSWORD_HASH, TABLES, create_private};
use crate::db::MIGRATOR;

/// What the operator chose to include.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// Export `users.password_hash` (argon2id hashes), so that people keep their passwords.
    pub with_password_hashes: bool,
}

/// What an export wrote.
#[derive(Debug)]
pub struct ExportReport {
    pub manifest: Manifest,
    pub elapsed: Duration,
    /// What `radportal audit verify` would report about the exported chains; a restore refuses an
    /// export whose chains do not verify.
    pub chain_problems: Vec<String>,
}

/// Exports the portal's data from `pool` into `dir`, which must be missing or empty.
///
/// The files are written while the snapshot's transaction is open; the manifest last, once they are
/// complete and synced, so a directory without a manifest is an export that did not finish.
pub async fn export(
    pool: &PgPool,
    dir: &Path,
    options: ExportOptions,
) -> anyhow::Result<ExportReport> {
    let started = Instant::now();
    prepare_directory(dir)?;
    let mut conn = pool.acquire().await?;
    let schema = current_schema_version(&mut conn).await?;

    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    db::use_utc(&mut tx).await?;
    let exported_at = db::snapshot_time(&mut tx).await?;
    check_every_table_is_known(&mut tx).await?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns: Vec<db::ColumnInfo> = db::columns(&mut tx, table.name)
            .await?
            .into_iter()
            .filter(|column| !table.derived.contains(&column.name.as_str()))
            .filter(|column| {
                options.with_password_hashes || (table.name, column.name.as_str()) != PASSWORD_HASH
            })
            .collect();
        let key = db::primary_key(&mut tx, table.name).await?;
        anyhow::ensure!(
            !key.is_empty(),
            "table {} has no primary key to order its rows by",
            table.name
        );
        let names: Vec<String> = columns.iter().map(|column| column.name.clone()).collect();
        let file = file_name(table.name);
        let path = dir.join(&file);
        let mut writer = HashingWriter::create(&path)?;
        db::dump(&mut tx, table.name, &names, &key, |row| writer.line(row))
            .await
            .with_context(|| format!("cannot export table {}", table.name))?;
        let (rows, bytes, sha256) = writer
            .finish()
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::debug!(table = table.name, rows, bytes, "exported");
        tables.push(TableFile {
            table: table.name.to_owned(),
            file,
            rows,
            bytes,
            sha256,
            columns: columns
                .into_iter()
                .map(|column| Column {
                    name: column.name,
                    sql_type: column.sql_type,
                })
                .collect(),
        });
    }

    let sequences = db::identity_columns(&mut tx)
        .await?
        .into_iter()
        .filter(|identity| super::exported_table(&identity.table).is_some())
        .map(|identity| Sequence {
            table: identity.table,
            column: identity.column,
            last_value: identity.last_value,
        })
        .collect();
    let chains = Chains {
        events: head_of(db::events_head(&mut tx).await?),
        audit_log: head_of(db::audit_log_head(&mut tx).await?),
    };
    let events = crate::access::events::verify_on(&mut tx, None).await?;
    let audit_log = crate::audit::verify_on(&mut tx, None).await?;
    tx.commit().await?;

    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        radportal_version: env!("CARGO_PKG_VERSION").to_owned(),
        exported_at,
        schema,
        password_hashes: options.with_password_hashes,
        tables,
        sequences,
        chains,
        left_out: LEFT_OUT
            .iter()
            .map(|(table, reason)| LeftOut {
                table: (*table).to_owned(),
                reason: (*reason).to_owned(),
            })
            .collect(),
    };
    manifest.write(dir)?;
    Ok(ExportReport {
        manifest,
        elapsed: started.elapsed(),
        chain_problems: events
            .problems
            .into_iter()
            .chain(audit_log.problems)
            .collect(),
    })
}

/// Creates `dir` (readable only by its owner) or accepts it when it is an empty directory.
fn prepare_directory(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            anyhow::ensure!(
                entries.next().is_none(),
                "{} is not empty: an export goes into a new or empty directory",
                dir.display()
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(error) => {
            Err(error).with_context(|| format!("cannot read the directory {}", dir.display()))
        }
    }
}

/// The newest migration of the database, which must have exactly this build's migrations: the
/// table list is this build's, and a restore needs the migrations the export names.
async fn current_schema_version(conn: &mut sqlx::PgConnection) -> anyhow::Result<Schema> {
    let applied = conn.list_applied_migrations().await.context(
        "cannot read which migrations the database has (is it a radportal database? \
         `radportal migrate` prepares one)",
    )?;
    if let Some(version) = conn.dirty_version().await? {
        anyhow::bail!(
            "migration {version} failed halfway on this database: fix it before exporting"
        );
    }
    for migration in &applied {
        let known = MIGRATOR
            .iter()
            .find(|known| known.version == migration.version);
        anyhow::ensure!(
            known.is_some_and(|known| known.checksum == migration.checksum),
            "the database has migration {} that this radportal does not know: export with the \
             radportal that migrated it",
            migration.version
        );
    }
    for migration in MIGRATOR.iter() {
        anyhow::ensure!(
            applied
                .iter()
                .any(|applied| applied.version == migration.version),
            "the database lacks migration {} ({}): run `radportal migrate` first",
            migration.version,
            migration.description
        );
    }
    let newest = MIGRATOR
        .iter()
        .max_by_key(|migration| migration.version)
        .context("this radportal has no migrations")?;
    Ok(Schema {
        version: newest.version,
        description: newest.description.to_string(),
        checksum: hex::encode(&newest.checksum),
    })
}

/// Refuses to export a database with a table this build neither exports nor leaves out on purpose
/// (a migration added it, and nobody decided).
async fn check_every_table_is_known(conn: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    let unknown: Vec<String> = db::schema_tables(conn)
        .await?
        .into_iter()
        .filter(|name| {
            super::exported_table(name).is_none()
                && !LEFT_OUT.iter().any(|(left_out, _)| left_out == name)
        })
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "this radportal does not know whether to export the table(s) {}",
        unknown.join(", ")
    );
    Ok(())
}

fn head_of(head: Option<db::Head>) -> ChainHead {
    match head {
        Some(head) => ChainHead {
            count: u64::try_from(head.count).unwrap_or(0),
            last_id: head.last_id,
            last_hash: hex::encode(head.last_hash),
        },
        None => ChainHead {
            count: 0,
            last_id: 0,
            last_hash: hex::encode(crate::audit::chain::GENESIS),
        },
    }
}

/// A file of lines that counts them and hashes what it writes.
struct HashingWriter {
    file: BufWriter<std::fs::File>,
    hasher: Sha256,
    rows: u64,
    bytes: u64,
}

impl HashingWriter {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let file =
            create_private(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            rows: 0,
            bytes: 0,
        })
    }

    /// Writes one row as one line.
    fn line(&mut self, row: &str) -> anyhow::Result<()> {
        // PostgreSQL's JSON text escapes line breaks inside strings, and jsonb's text has none
        // between values: a row is always one line. Checked, because a restore reads lines.
        anyhow::ensure!(!row.contains('\n'), "a row's JSON spans several lines");
        for part in [row.as_bytes(), b"\n"] {
            self.file.write_all(part)?;
            self.hasher.update(part);
            self.bytes += part.len() as u64;
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes and syncs the file; returns the rows, bytes and SHA-256 (hex) written.
    fn finish(self) -> anyhow::Result<(u64, u64, String)> {
        let file = self.file.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        Ok((self.rows, self.bytes, hex::encode(self.hasher.finalize())))
    }
}
