//! Test databases: copies of template databases (one migrated, one with the bundled catalog loaded)
//! made with `CREATE DATABASE … TEMPLATE`, which copies files instead of replaying migrations and 320
//! imports, and dropped by a keeper thread, several at once, so that a test does not wait for the
//! checkpoint every `DROP DATABASE` asks for.
//!
//! A template's name carries a fingerprint of what its content is made from (the migrations, the
//! bundled catalog and the library's source), so a rerun with nothing changed clones the templates the
//! last run left, and a change builds new ones. The keeper holds one connection for as long as the
//! test binary runs, and on it shared advisory locks named after the templates it uses and after its
//! run; whatever no live run holds is dropped when the next run starts: templates of older code,
//! half-built templates, and test databases a killed run could not drop. Test binaries of other
//! branches running against the same server keep theirs.
//!
//! When the last running test's database is handed over, the test waits until the keeper has dropped
//! every database handed to it, so a finished run leaves nothing behind.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use radportal::catalog::import::{self, BUNDLED_CATALOG, NoProgress};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::mpsc;

use super::{admin_url, database_url};

/// Every template this module creates has a name starting with this.
const TEMPLATE_PREFIX: &str = "radportal_template_";

/// Test databases are named `radportal_test_<run>_<id>`.
const TEST_PREFIX: &str = "radportal_test_";

/// What a test database starts with.
#[derive(Clone, Copy, Debug)]
pub enum Template {
    /// Every migration applied, no data.
    Migrated,
    /// Migrated, with the bundled catalog of 320 datasets imported.
    Catalog,
}

/// What the keeper thread was asked to do.
enum Chore {
    Drop(String),
    /// Marks a database as kept, so that no later run drops it.
    Keep(String, std::sync::mpsc::Sender<()>),
    /// Answers once every chore sent before it is done.
    Flush(std::sync::mpsc::Sender<()>),
}

struct Keeper {
    run: String,
    migrated: String,
    catalog: String,
    chores: mpsc::UnboundedSender<Chore>,
}

/// Test apps whose database has not been handed back yet.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// A new test database's name, which the next run drops should this one be killed before it does.
pub fn new_name() -> String {
    format!(
        "{TEST_PREFIX}{}_{}",
        keeper().run,
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// Creates a new database as a copy of `template` and returns its name.
pub async fn create_test_database(template: Template) -> String {
    let keeper = keeper();
    let source = match template {
        Template::Migrated => &keeper.migrated,
        Template::Catalog => &keeper.catalog,
    };
    let name = new_name();
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("the test PostgreSQL server answers");
    admin
        .execute(format!(r#"create database "{name}" template "{source}""#).as_str())
        .await
        .unwrap_or_else(|error| panic!("{name} is created from {source}: {error}"));
    let _ = admin.close().await;
    name
}

/// Counts a test app as running, until [`hand_back`].
pub fn in_use() {
    IN_USE.fetch_add(1, Ordering::SeqCst);
}

/// Stops counting a database as in use without dropping it: its owner passes it on to a test app,
/// which counts it again.
pub fn passed_on() {
    IN_USE.fetch_sub(1, Ordering::SeqCst);
}

/// Hands a test app's database back: the keeper drops it (or, with `keep`, marks it kept). When no
/// other test app is running, waits until the keeper is done with every database handed to it: the
/// test binary may exit as soon as this test returns.
pub fn hand_back(name: String, keep: bool) {
    let last = IN_USE.fetch_sub(1, Ordering::SeqCst) == 1;
    // Called while dropping, perhaps while a failed test unwinds: this must not panic.
    let Ok(keeper) = started_keeper() else {
        return;
    };
    let (done, finished) = std::sync::mpsc::channel();
    let chore = if keep {
        Chore::Keep(name, done)
    } else if last {
        let _ = keeper.chores.send(Chore::Drop(name));
        Chore::Flush(done)
    } else {
        let _ = keeper.chores.send(Chore::Drop(name));
        return;
    };
    if keeper.chores.send(chore).is_ok() {
        let _ = finished.recv();
    }
}

fn keeper() -> &'static Keeper {
    started_keeper()
        .as_ref()
        .unwrap_or_else(|error| panic!("the template databases cannot be prepared: {error}"))
}

/// The keeper, started by the first test that asks. Its connection and locks belong to a thread of
/// its own: each `#[tokio::test]` has its own runtime, and what one of them opens ends with it.
fn started_keeper() -> &'static Result<Keeper, String> {
    static KEEPER: OnceLock<Result<Keeper, String>> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let (ready, prepared) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("test-databases".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the test databases");
                runtime.block_on(async move {
                    let (chores, mut to_do) = mpsc::unbounded_channel();
                    match prepare(chores).await {
                        Ok((keeper, mut connection)) => {
                            let _ = ready.send(Ok(keeper));
                            // Runs until the process exits; the connection holds the locks.
                            let droppers = PgPoolOptions::new()
                                .max_connections(8)
                                .connect_lazy(&admin_url())
                                .expect("the admin URL parses");
                            while let Some(chore) = to_do.recv().await {
                                let mut batch = vec![chore];
                                while let Ok(more) = to_do.try_recv() {
                                    batch.push(more);
                                }
                                do_chores(&mut connection, &droppers, batch).await;
                            }
                        }
                        Err(error) => {
                            let _ = ready.send(Err(format!("{error:#}")));
                        }
                    }
                });
            })
            .expect("a thread for the test databases");
        prepared
            .recv()
            .unwrap_or_else(|_| Err("the test database thread ended early".to_owned()))
    })
}

/// Does a batch of chores. The drops run at once: each `DROP DATABASE` waits for a checkpoint, and
/// PostgreSQL serves requests that arrive together with one.
async fn do_chores(connection: &mut PgConnection, droppers: &PgPool, batch: Vec<Chore>) {
    let drops = batch.iter().filter_map(|chore| match chore {
        Chore::Drop(name) => Some(async move {
            let _ = sqlx::query(&format!(r#"drop database if exists "{name}" with (force)"#))
                .execute(droppers)
                .await;
        }),
        _ => None,
    });
    futures_util::future::join_all(drops).await;
    for chore in batch {
        match chore {
            Chore::Drop(_) => {}
            Chore::Keep(name, done) => {
                let comment =
                    format!(r#"comment on database "{name}" is 'kept after a failed test'"#);
                let _ = connection.execute(comment.as_str()).await;
                let _ = done.send(());
            }
            // Everything sent before it was in this batch or an earlier one, and is done.
            Chore::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

async fn prepare(chores: mpsc::UnboundedSender<Chore>) -> anyhow::Result<(Keeper, PgConnection)> {
    let mut connection = PgConnection::connect(&admin_url())
        .await
        .context("cannot reach the test PostgreSQL server (TEST_DATABASE_URL)")?;
    let fingerprint = fingerprint()?;
    let keeper = Keeper {
        run: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
        migrated: format!("{TEMPLATE_PREFIX}{fingerprint}_migrated"),
        catalog: format!("{TEMPLATE_PREFIX}{fingerprint}_catalog"),
        chores,
    };
    for name in [
        &keeper.migrated,
        &keeper.catalog,
        &run_lock_name(&keeper.run),
    ] {
        sqlx::query("select pg_advisory_lock_shared($1)")
            .bind(lock_key(name))
            .execute(&mut connection)
            .await?;
    }
    drop_unused_templates(&mut connection, &[&keeper.migrated, &keeper.catalog]).await?;
    drop_abandoned_test_databases(&mut connection, &keeper.run).await?;
    if !exists(&mut connection, &keeper.migrated).await? {
        build(&mut connection, &keeper.migrated, None).await?;
    }
    if !exists(&mut connection, &keeper.catalog).await? {
        build(&mut connection, &keeper.catalog, Some(&keeper.migrated)).await?;
    }
    Ok((keeper, connection))
}

/// Builds `name` under a temporary name and renames it when it is complete, so no one clones half a
/// template. With `from`, starts from a copy of that template and imports the bundled catalog.
async fn build(
    connection: &mut PgConnection,
    name: &str,
    from: Option<&str>,
) -> anyhow::Result<()> {
    let building = format!("{TEMPLATE_PREFIX}build_{}", uuid::Uuid::new_v4().simple());
    sqlx::query("select pg_advisory_lock($1)")
        .bind(lock_key(&building))
        .execute(&mut *connection)
        .await?;
    let create = match from {
        Some(source) => format!(r#"create database "{building}" template "{source}""#),
        None => format!(r#"create database "{building}""#),
    };
    connection.execute(create.as_str()).await?;
    let mut config = radportal::Config::for_database(&database_url(&building));
    config.db_max_connections = 2;
    let pool = radportal::db::connect_and_migrate(&config).await?;
    if from.is_some() {
        let report = import::import_json(&pool, BUNDLED_CATALOG, &NoProgress).await?;
        anyhow::ensure!(
            report.rejected.is_empty(),
            "the bundled catalog imports cleanly: {:?}",
            report.rejected
        );
    }
    pool.close().await;
    let published = connection
        .execute(format!(r#"alter database "{building}" rename to "{name}""#).as_str())
        .await;
    match published {
        // Nothing may connect to a template: a connection would make every clone fail.
        Ok(_) => {
            connection
                .execute(
                    format!(
                        r#"alter database "{name}" with is_template true allow_connections false"#
                    )
                    .as_str(),
                )
                .await?;
        }
        // Another test binary built the same template at the same time: use theirs.
        Err(_) if exists(connection, name).await? => {
            connection
                .execute(format!(r#"drop database if exists "{building}""#).as_str())
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(lock_key(&building))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Drops every template and half-built template but `ours` that no running test binary holds. (A
/// session's own advisory locks never conflict with each other, hence `ours`.)
async fn drop_unused_templates(connection: &mut PgConnection, ours: &[&str]) -> anyhow::Result<()> {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where starts_with(datname, $1)")
            .bind(TEMPLATE_PREFIX)
            .fetch_all(&mut *connection)
            .await?;
    for name in names.iter().filter(|name| !ours.contains(&name.as_str())) {
        if try_lock(connection, name).await? {
            let _ = connection
                .execute(format!(r#"alter database "{name}" with is_template false"#).as_str())
                .await;
            let _ = connection
                .execute(format!(r#"drop database if exists "{name}""#).as_str())
                .await;
            unlock(connection, name).await?;
        }
    }
    Ok(())
}

/// Drops the test databases of runs that ended without dropping them (killed, or crashed), but not
/// those kept after a failed test.
async fn drop_abandoned_test_databases(
    connection: &mut PgConnection,
    ours: &str,
) -> anyhow::Result<()> {
    let databases: Vec<(String, String)> = sqlx::query_as(
        "select datname::text, substr(datname, length($1) + 1, 16) from pg_database
         where datname ~ ('^' || $1 || '[0-9a-f]{16}_[0-9a-f]{16}$')
           and shobj_description(oid, 'pg_database') is null",
    )
    .bind(TEST_PREFIX)
    .fetch_all(&mut *connection)
    .await?;
    for (name, run) in databases.iter().filter(|(_, run)| run != ours) {
        let lock = run_lock_name(run);
        if try_lock(connection, &lock).await? {
            let _ = connection
                .execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str())
                .await;
            unlock(connection, &lock).await?;
        }
    }
    Ok(())
}

/// The lock a running test binary holds for its run.
fn run_lock_name(run: &str) -> String {
    format!("run {run}")
}

async fn try_lock(connection: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(lock_key(name))
        .fetch_one(connection)
        .await
}

async fn unlock(connection: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(lock_key(name))
        .execute(connection)
        .await?;
    Ok(())
}

async fn exists(connection: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(connection)
        .await
}

/// The advisory-lock key standing for `name`.
fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("radportal test databases: {name}"));
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// A short hash of what the templates' content is made from: the migrations and the bundled catalog
/// built into this binary, and the library's source and locked dependencies (the import code decides
/// what a record becomes).
fn fingerprint() -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for migration in radportal::db::MIGRATOR.iter() {
        hasher.update(migration.version.to_be_bytes());
        hasher.update(&migration.checksum);
    }
    hasher.update(BUNDLED_CATALOG);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("Cargo.lock")];
    collect_files(&root.join("src"), &mut files)?;
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        hasher.update(file.strip_prefix(root)?.to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

fn collect_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
