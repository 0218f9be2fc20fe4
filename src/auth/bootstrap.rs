//! The first administrator of a fresh install. Several instances may start together on an empty
//! database: an advisory lock lets exactly one of them create the account.
//!
//! Its password is never printed or logged. It is taken from a file the operator provides
//! (`RADPORTAL_ADMIN_PASSWORD_FILE`, such as a container secret), or generated and written to a file
//! that only the user the portal runs as can read (`RADPORTAL_ADMIN_PASSWORD_OUTPUT`); the caller
//! tells the operator where it is.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::PgPool;

use super::db;
use super::model::Email;

/// The advisory lock key that serialises creating the first administrator ("rp-admin").
const FIRST_ADMIN_LOCK: i64 = 0x7270_2d61_646d_696e;

/// The first administrator's name.
const NAME: &str = "Administrator";

/// Creates the administrator `email` with `password_hash` when the database has no active
/// administrator. Returns whether this call created it; of many calls at once, exactly one does.
pub async fn create_first_admin(
    pool: &PgPool,
    email: &Email,
    name: &str,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // The lock function returns `void`, so it is called in `from` and the row has no columns.
    sqlx::query!("select from pg_advisory_xact_lock($1)", FIRST_ADMIN_LOCK)
        .execute(&mut *tx)
        .await?;
    if db::any_admin(&mut *tx).await? {
        return Ok(false);
    }
    db::upsert_admin(&mut *tx, email, name, password_hash).await?;
    tx.commit().await?;
    Ok(true)
}

/// What [`ensure_first_admin`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// The database already had an administrator (or another instance created it just now).
    AlreadyThere,
    /// This call created the administrator with the password read from the given file.
    FromFile { email: Email },
    /// This call created the administrator with a generated password, written to `password_file`
    /// (an absolute path).
    Generated {
        email: Email,
        password_file: PathBuf,
    },
}

/// Where the first administrator's password comes from.
#[derive(Clone, Copy, Debug)]
pub enum PasswordSource<'a> {
    /// A file the operator wrote (one trailing newline is ignored).
    File(&'a Path),
    /// Generated, and written to this file with mode 0600.
    Generate { output: &'a Path },
}

/// On a database without an administrator, creates one as `email` with its password from `source`.
///
/// A generated password is in its file before the account exists, so that no administrator is ever
/// created whose password nobody can read; when another instance wins the race, the file is removed.
pub async fn ensure_first_admin(
    pool: &PgPool,
    email: &str,
    source: PasswordSource<'_>,
) -> anyhow::Result<FirstAdmin> {
    if db::any_admin(pool).await? {
        return Ok(FirstAdmin::AlreadyThere);
    }
    let email =
        Email::parse(email).map_err(|error| anyhow::anyhow!("RADPORTAL_ADMIN_EMAIL: {error}"))?;
    match source {
        PasswordSource::File(path) => {
            let password = read_password(path, &email)?;
            let hash = super::password::hash(password).await?;
            Ok(if create_first_admin(pool, &email, NAME, &hash).await? {
                FirstAdmin::FromFile { email }
            } else {
                FirstAdmin::AlreadyThere
            })
        }
        PasswordSource::Generate { output } => {
            let password = super::password::generate();
            let hash = super::password::hash(password.clone()).await?;
            let pending = PrivateFile::write(output, &password)?;
            if !create_first_admin(pool, &email, NAME, &hash).await? {
                return Ok(FirstAdmin::AlreadyThere);
            }
            Ok(FirstAdmin::Generated {
                email,
                password_file: pending.keep()?,
            })
        }
    }
}

/// The password in `path`, checked like any new password.
fn read_password(path: &Path, email: &Email) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the first administrator's password from RADPORTAL_ADMIN_PASSWORD_FILE {}",
            path.display()
        )
    })?;
    let password = text
        .strip_suffix('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .unwrap_or(&text);
    super::password::check_strength(password, email.as_str(), NAME).map_err(|reason| {
        anyhow::anyhow!(
            "the password in RADPORTAL_ADMIN_PASSWORD_FILE {} is refused: {reason}",
            path.display()
        )
    })?;
    Ok(password.to_owned())
}

/// A secret written beside its final path under a temporary name, readable only by this process's
/// user; [`PrivateFile::keep`] moves it into place, dropping it removes it.
struct PrivateFile {
    temporary: PathBuf,
    path: PathBuf,
    kept: bool,
}

impl PrivateFile {
    fn write(path: &Path, contents: &str) -> anyhow::Result<Self> {
        let path = std::path::absolute(path)
            .with_context(|| format!("RADPORTAL_ADMIN_PASSWORD_OUTPUT {}", path.display()))?;
        let name = path
            .file_name()
            .with_context(|| {
                format!(
                    "RADPORTAL_ADMIN_PASSWORD_OUTPUT {} names no file",
                    path.display()
                )
            })?
            .to_string_lossy()
            .into_owned();
        let temporary =
            path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let shown = path.display().to_string();
        let cannot = move || {
            format!(
                "cannot write the first administrator's password to {shown} \
                 (set RADPORTAL_ADMIN_PASSWORD_OUTPUT to a writable place, or give a password in \
                 RADPORTAL_ADMIN_PASSWORD_FILE)"
            )
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut handle = options.open(&temporary).with_context(cannot.clone())?;
        // From here on, dropping `file` removes what was written.
        let file = Self {
            temporary,
            path,
            kept: false,
        };
        writeln!(handle, "{contents}")
            .and_then(|()| handle.sync_all())
            .with_context(cannot)?;
        Ok(file)
    }

    /// Moves the file into place and returns its path.
    fn keep(mut self) -> anyhow::Result<PathBuf> {
        std::fs::rename(&self.temporary, &self.path).with_context(|| {
            format!(
                "cannot move the first administrator's password into {}; it is in {}",
                self.path.display(),
                self.temporary.display()
            )
        })?;
        self.kept = true;
        Ok(self.path.clone())
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}
