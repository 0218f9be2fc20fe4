//! The database connection: creating the database if it is missing, the pool, and embedded migrations.

use secrecy::ExposeSecret;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::Config;

/// The SQL migrations in `migrations/`, built into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Why the portal could not get a working database, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL ({0})")]
    InvalidUrl(String),
    #[error("cannot reach PostgreSQL at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("cannot apply database migrations: {0}")]
    Migration(String),
}

/// Connects to the configured database, creating it when it does not exist, and applies migrations.
///
/// With a migration URL (`RADPORTAL_MIGRATION_DATABASE_URL`), the database is created and migrated
/// over a connection of its own to that URL, and the pool connects to `DATABASE_URL` only after:
/// migrations take a session-level advisory lock, which a pooler in transaction mode cannot hold.
pub async fn connect_and_migrate(config: &Config) -> Result<PgPool, StartupError> {
    if let Some(migration_url) = &config.migration_database_url {
        let mut direct = config.clone();
        direct.database_url = migration_url.clone();
        direct.db_max_connections = 1;
        let migration_pool = connect(&direct).await?;
        migrate(&migration_pool).await?;
        migration_pool.close().await;
        return pool_options(config)
            .connect_with(connect_options(config)?)
            .await
            .map_err(|error| StartupError::Unreachable {
                url: config.redacted_database_url(),
                reason: plain_reason(&error),
            });
    }
    let pool = connect(config).await?;
    migrate(&pool).await?;
    Ok(pool)
}

async fn migrate(pool: &PgPool) -> Result<(), StartupError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|error| StartupError::Migration(error.to_string()))
}

/// Connects to the configured database, creating it when it does not exist.
pub async fn connect(config: &Config) -> Result<PgPool, StartupError> {
    let raw_url = config.database_url.expose_secret();
    let shown_url = config.redacted_database_url();
    let options = connect_options(config)?;
    let unreachable = |error: sqlx::Error| StartupError::Unreachable {
        url: shown_url.clone(),
        reason: plain_reason(&error),
    };
    if !Postgres::database_exists(raw_url)
        .await
        .map_err(unreachable)?
    {
        // Two instances starting at once may race here; the loser sees "already exists", which is fine.
        if let Err(error) = Postgres::create_database(raw_url).await
            && !Postgres::database_exists(raw_url).await.unwrap_or(false)
        {
            return Err(unreachable(error));
        }
        tracing::info!(database = %shown_url, "created database");
    }
    pool_options(config)
        .connect_with(options)
        .await
        .map_err(unreachable)
}

/// How to connect to the configured database.
pub fn connect_options(config: &Config) -> Result<PgConnectOptions, StartupError> {
    let raw_url = config.database_url.expose_secret();
    if !(raw_url.starts_with("postgres://") || raw_url.starts_with("postgresql://")) {
        return Err(StartupError::InvalidUrl(
            "it must start with postgres:// or postgresql://".to_owned(),
        ));
    }
    raw_url
        .parse::<PgConnectOptions>()
        .map_err(|error: sqlx::Error| StartupError::InvalidUrl(plain_reason(&error)))
}

/// The pool's settings. While PostgreSQL is away, a request gives up waiting for a connection after
/// the acquire timeout, so pages answer 503 quickly instead of hanging; the pool connects again by
/// itself when the database is back.
pub fn pool_options(config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
}

/// One line describing a connection failure, without the URL or a backtrace.
fn plain_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Configuration(cause) => cause.to_string(),
        sqlx::Error::Tls(cause) => format!("TLS error: {cause}"),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        other => other.to_string(),
    }
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &sqlx::PgPool) -> sqlx::Result<()> {
    sqlx::query!("select 1 as ready").fetch_one(pool).await?;
    Ok(())
}
