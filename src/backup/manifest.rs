//! The export's `manifest.json`: when and from which schema the export was taken, and for every table
//! its file, columns, row count, size and SHA-256; reading it back and checking the files against it.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name inside an export directory.
pub const FILE_NAME: &str = "manifest.json";
/// What `format` says in every manifest.
pub const FORMAT: &str = "radportal-export";
/// The version of the format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What an export holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the build that wrote it.
    pub format_version: u32,
    /// The radportal version that wrote it.
    pub radportal_version: String,
    /// When the snapshot's transaction began (RFC 3339, UTC, microseconds).
    pub exported_at: String,
    /// The newest migration applied to the exported database.
    pub schema: Schema,
    /// Whether `users.password_hash` was exported.
    pub password_hashes: bool,
    /// The tables, in the order a restore loads them.
    pub tables: Vec<TableFile>,
    /// The identity sequences' last values.
    pub sequences: Vec<Sequence>,
    /// Where the two hash chains ended.
    pub chains: Chains,
    /// The tables not exported, and why.
    pub left_out: Vec<LeftOut>,
}

/// A migration, as `_sqlx_migrations` records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Schema {
    pub version: i64,
    pub description: String,
    /// SHA-384 of the migration's SQL, hex.
    pub checksum: String,
}

/// One table's file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableFile {
    pub table: String,
    /// `<table>.jsonl`: one JSON object per line, one line per row.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The exported columns with their PostgreSQL types, in the table's order.
    pub columns: Vec<Column>,
}

/// A column and its type as PostgreSQL names it (`bigint`, `timestamp with time zone`, `text[]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub sql_type: String,
}

/// An identity column's sequence: its last value (`None` when no value was ever drawn).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sequence {
    pub table: String,
    pub column: String,
    pub last_value: Option<i64>,
}

/// Both chains' heads at the snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Chains {
    pub events: ChainHead,
    pub audit_log: ChainHead,
}

/// A chain's head: how many entries, the newest one's id and hash (hex).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainHead {
    pub count: u64,
    pub last_id: i64,
    pub last_hash: String,
}

/// A table that was not exported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeftOut {
    pub table: String,
    pub reason: String,
}

impl Manifest {
    /// Reads `dir/manifest.json` and checks that this build can read its format.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (an export that stopped before it finished has none)",
                path.display()
            )
        })?;
        let format: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        anyhow::ensure!(
            format["format"] == FORMAT,
            "{} is not the manifest of a radportal export",
            path.display()
        );
        let version = format["format_version"].as_u64().unwrap_or(0);
        anyhow::ensure!(
            version == u64::from(FORMAT_VERSION),
            "{} is in export format {version}; this radportal reads format {FORMAT_VERSION}",
            path.display()
        );
        serde_json::from_value(format).with_context(|| format!("{} is malformed", path.display()))
    }

    /// Writes the manifest as `dir/manifest.json`, through a temporary file renamed at the end, so
    /// the manifest exists only once everything it lists was written.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let temporary = dir.join(format!("{FILE_NAME}.partial"));
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let mut file = super::create_private(&temporary)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, dir.join(FILE_NAME))?;
        Ok(())
    }

    /// Checks that the tables are known ones, listed once, with the file names the export gives
    /// them, and that every file has the size and SHA-256 the manifest records.
    pub fn check_files(&self, dir: &Path) -> anyhow::Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for entry in &self.tables {
            anyhow::ensure!(
                super::exported_table(&entry.table).is_some(),
                "the manifest lists a table this radportal does not export: {}",
                entry.table
            );
            anyhow::ensure!(
                seen.insert(entry.table.as_str()),
                "the manifest lists {} twice",
                entry.table
            );
            anyhow::ensure!(
                entry.file == file_name(&entry.table),
                "the manifest names {} for table {}; exports name it {}",
                entry.file,
                entry.table,
                file_name(&entry.table)
            );
            let path = dir.join(&entry.file);
            let (bytes, sha256) =
                digest_file(&path).with_context(|| format!("cannot read {}", path.display()))?;
            anyhow::ensure!(
                bytes == entry.bytes && sha256 == entry.sha256,
                "{} does not match the manifest ({} bytes with SHA-256 {sha256}, the manifest \
                 says {} bytes with SHA-256 {}): it was changed or damaged after the export",
                entry.file,
                bytes,
                entry.bytes,
                entry.sha256
            );
        }
        Ok(())
    }

    /// The entry of `table`.
    pub fn table(&self, table: &str) -> Option<&TableFile> {
        self.tables.iter().find(|entry| entry.table == table)
    }

    /// Rows in all files.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|entry| entry.rows).sum()
    }

    /// Bytes in all files (without the manifest).
    pub fn bytes(&self) -> u64 {
        self.tables.iter().map(|entry| entry.bytes).sum()
    }
}

/// The file a table is exported to.
pub fn file_name(table: &str) -> String {
    format!("{table}.jsonl")
}

/// A file's size and SHA-256 (hex).
fn digest_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}
