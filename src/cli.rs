//! The command line: `serve`, `migrate`, `import`, `create-admin`, `audit verify`, `audit checkpoint`,
//! `health`, `export`, `restore`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::audit::chain::{ChainEnd, Verification};
use crate::audit::checkpoint::{AuditKey, Checkpoint, Verified};
use crate::auth::db::AdminOutcome;
use crate::auth::model::Email;
use crate::catalog::import::{self, ImportReport, Progress};
use crate::config::{Config, DatabaseArgs, LogFormat, ServeArgs};
use crate::web::AppState;

/// radportal: a self-hosted portal for AI-radiology data.
#[derive(Parser)]
#[command(name = "radportal", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "RADPORTAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the portal (applies migrations and, on an empty database, loads the bundled catalog).
    Serve(ServeArgs),
    /// Create the database if needed and apply migrations, then exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Import datasets from a JSON file in the catalog exchange format (`-` reads standard input).
    ///
    /// Exits with status 2 when some records were rejected.
    Import {
        /// The file to import, e.g. seed/datasets.json.
        file: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// List published datasets missing key facts and likely duplicates (same DOI, landing URL or
    /// nearly the same title). Exits with status 4 when it finds duplicates.
    Health {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Write everything the portal owns to a new or empty directory: one JSON Lines file per table
    /// and a manifest.json with the schema version, row counts and SHA-256 of every file, read in
    /// one consistent snapshot.
    Export {
        /// The directory to write (created when missing; it must be empty).
        dir: PathBuf,
        /// Include the accounts' password hashes (argon2id), so that people keep their passwords
        /// after a restore. Without it nobody can sign in with a password until they set a new one.
        #[arg(long)]
        with_password_hashes: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Load an export into an empty database (created when missing), in one transaction: a restore
    /// that fails leaves the database empty.
    Restore {
        /// The export's directory.
        dir: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create an administrator account, or make an existing account an administrator.
    CreateAdmin {
        /// The administrator's e-mail address (their sign-in name).
        #[arg(long)]
        email: String,
        /// The administrator's full name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chains of request and grant events and of the audit log, and report any entry
    /// that was edited, inserted or deleted. With `--checkpoint`, also prove that the chains still
    /// extend a checkpoint taken earlier. Exits with status 3 when a chain is broken or no longer
    /// extends the checkpoint.
    Verify {
        /// A checkpoint file written by `radportal audit checkpoint`; its signature is checked with
        /// the key in RADPORTAL_AUDIT_KEY.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Verify both chains, then print their heads (count, newest id and hash) as a checkpoint signed
    /// with the key in RADPORTAL_AUDIT_KEY. Keep its output outside the database's host. Exits with
    /// status 3, printing nothing on standard output, when a chain is broken.
    Checkpoint {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Runs the command line; errors are printed as one line and turn into exit status 1.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RADPORTAL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(Config::from(args)).await,
        Command::Migrate { database } => {
            crate::db::connect_and_migrate(&database_config(database)).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, database } => import_file(&file, &database_config(database)).await,
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoint,
                    database,
                },
        } => audit_verify(checkpoint.as_deref(), &database_config(database)).await,
        Command::Audit {
            command: AuditCommand::Checkpoint { database },
        } => audit_checkpoint(&database_config(database)).await,
        Command::Health { json, database } => {
            let pool = crate::db::connect_and_migrate(&database_config(database)).await?;
            let missing = crate::catalog::db::health::missing_facts(&pool).await?;
            let duplicates = crate::catalog::db::health::duplicates(&pool).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"missing_facts": missing, "duplicates": duplicates})
                );
            } else {
                println!("likely duplicates: {}", duplicates.len());
                for d in &duplicates {
                    println!("  {} and {}: {}", d.first, d.second, d.reason);
                }
                println!("published datasets missing key facts: {}", missing.len());
                for m in &missing {
                    println!("  {}: {}", m.slug, m.missing.join(", "));
                }
            }
            Ok(if duplicates.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            })
        }
        Command::CreateAdmin {
            email,
            name,
            password_stdin,
            database,
        } => create_admin(&email, &name, password_stdin, &database_config(database)).await,
        Command::Export {
            dir,
            with_password_hashes,
            database,
        } => export(&dir, with_password_hashes, &database_config(database)).await,
        Command::Restore { dir, database } => restore(&dir, &database_config(database)).await,
    }
}

fn database_config(database: DatabaseArgs) -> Config {
    let mut config = Config::for_database(&database.database_url);
    config.db_max_connections = database.db_max_connections;
    config.db_acquire_timeout = std::time::Duration::from_millis(database.db_acquire_timeout_ms);
    config
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect_and_migrate(&config).await?;
    if config.seed_catalog
        && let Some(report) = import::seed_if_empty(&pool).await?
    {
        tracing::info!(summary = %report.summary_line(), "loaded the bundled catalog");
    }
    if config.example_data && crate::access::example::seed_if_empty(&pool).await? {
        eprintln!(
            "created example data for a walk-through: accounts {} with password {}",
            crate::access::example::EXAMPLE_ACCOUNTS
                .iter()
                .map(|(email, _)| *email)
                .collect::<Vec<_>>()
                .join(", "),
            crate::access::example::EXAMPLE_PASSWORD
        );
    }
    bootstrap_admin(&pool, &config.admin_email).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, base_url = %config.base_url, "radportal is serving");
    eprintln!("radportal is serving on http://{address}");
    crate::serve(listener, AppState::new(pool, config), shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Both chains as of one moment (one repeatable-read transaction), each checked against its part of
/// `checkpoint` when one is given.
async fn verify_chains(
    pool: &sqlx::PgPool,
    checkpoint: Option<&Verified>,
) -> anyhow::Result<(Verification, Verification)> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let events = crate::access::events::verify_on(&mut tx, checkpoint.map(|c| &c.events)).await?;
    let audit_log = crate::audit::verify_on(&mut tx, checkpoint.map(|c| &c.audit_log)).await?;
    tx.commit().await?;
    Ok((events, audit_log))
}

/// Prints what a chain's check found; `name` is the chain's name, `many` what its entries are called.
fn print_verification(
    out: &mut impl std::io::Write,
    name: &str,
    many: &str,
    result: &Verification,
) {
    let problems = result.problems.len() + result.checkpoint_problems.len();
    let _ = if problems == 0 {
        writeln!(
            out,
            "{name}: {} {many} checked: the chain is intact",
            result.checked
        )
    } else {
        writeln!(
            out,
            "{name}: {} {many} checked: {problems} {}",
            result.checked,
            if problems == 1 { "problem" } else { "problems" }
        )
    };
    for problem in result.problems.iter().chain(&result.checkpoint_problems) {
        let _ = writeln!(out, "  {problem}");
    }
}

async fn audit_verify(
    checkpoint: Option<&std::path::Path>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    // The checkpoint is checked before the database is touched: a forged one proves nothing.
    let checkpoint = match checkpoint {
        Some(path) => {
            let key = AuditKey::from_env()?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(Checkpoint::open(&text, &key).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let pool = crate::db::connect_and_migrate(config).await?;
    let (events, audit_log) = verify_chains(&pool, checkpoint.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    print_verification(
        &mut out,
        "events",
        crate::access::events::NOUNS.many,
        &events,
    );
    print_verification(&mut out, "audit log", crate::audit::NOUNS.many, &audit_log);
    if let Some(checkpoint) = &checkpoint {
        use std::io::Write;
        let extends =
            events.checkpoint_problems.is_empty() && audit_log.checkpoint_problems.is_empty();
        let now = |result: &Verification| result.end.as_ref().map_or(0, |end| end.count);
        let _ = writeln!(
            out,
            "checkpoint of {}: {} (events {} then, {} now; audit entries {} then, {} now)",
            checkpoint.taken_at,
            if extends {
                "both chains extend it"
            } else {
                "the chains no longer extend it"
            },
            checkpoint.events.count,
            now(&events),
            checkpoint.audit_log.count,
            now(&audit_log),
        );
    }
    Ok(if events.is_intact() && audit_log.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

async fn audit_checkpoint(config: &Config) -> anyhow::Result<ExitCode> {
    let key = AuditKey::from_env()?;
    let pool = crate::db::connect_and_migrate(config).await?;
    let (events, audit_log) = verify_chains(&pool, None).await?;
    if !(events.is_intact() && audit_log.is_intact()) {
        // Signing a broken chain would vouch for whatever broke it.
        let mut err = std::io::stderr().lock();
        print_verification(
            &mut err,
            "events",
            crate::access::events::NOUNS.many,
            &events,
        );
        print_verification(&mut err, "audit log", crate::audit::NOUNS.many, &audit_log);
        eprintln!("no checkpoint written: a chain is broken");
        return Ok(ExitCode::from(3));
    }
    let taken_at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)?;
    let end = |result: Verification| result.end.unwrap_or_else(ChainEnd::genesis);
    let checkpoint = Checkpoint::sign(&key, taken_at, &end(events), &end(audit_log));
    println!("{}", checkpoint.to_json());
    Ok(ExitCode::SUCCESS)
}

/// On a database without any administrator, creates one and prints its password once. Of instances
/// starting together, one creates it; the others see it exists.
async fn bootstrap_admin(pool: &sqlx::PgPool, email: &str) -> anyhow::Result<()> {
    if crate::auth::db::any_admin(pool).await? {
        return Ok(());
    }
    let email =
        Email::parse(email).map_err(|error| anyhow::anyhow!("RADPORTAL_ADMIN_EMAIL: {error}"))?;
    let password = crate::auth::password::generate();
    let hash = crate::auth::password::hash(password.clone()).await?;
    if !crate::auth::bootstrap::create_first_admin(pool, &email, "Administrator", &hash).await? {
        return Ok(());
    }
    eprintln!(
        "created the first administrator: {email} with password {password}\n\
         (shown only this once; set another with `radportal create-admin --email {email} --password-stdin`)"
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so open requests can finish before the process exits.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing open requests");
}

/// A progress bar on a terminal; nothing otherwise.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
    }
    fn advance(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

async fn import_file(file: &PathBuf, config: &Config) -> anyhow::Result<ExitCode> {
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let pool = crate::db::connect_and_migrate(config).await?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = import::import_json(&pool, &bytes, &Bar(bar)).await?;
    print_report(&report);
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_report(report: &ImportReport) {
    println!("{}", report.summary_line());
    for rejection in &report.rejected {
        println!(
            "rejected record {} ({}): {}: {}",
            rejection.position,
            rejection.id.as_deref().unwrap_or("no id"),
            rejection.field,
            rejection.reason
        );
    }
}

async fn create_admin(
    email: &str,
    name: &str,
    password_stdin: bool,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let email = Email::parse(email).map_err(anyhow::Error::msg)?;
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the name cannot be empty");
    let (password, generated) = if password_stdin {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        let password = password.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(
            password.chars().count() >= 12,
            "the password must be at least 12 characters"
        );
        (password, false)
    } else {
        (crate::auth::password::generate(), true)
    };
    let pool = crate::db::connect_and_migrate(config).await?;
    let hash = crate::auth::password::hash(password.clone()).await?;
    let (user, outcome) = crate::auth::db::upsert_admin(&pool, &email, name, &hash).await?;
    match outcome {
        AdminOutcome::Created => println!("created administrator {}", user.email),
        AdminOutcome::Promoted => println!(
            "{} already had an account: it is now an administrator and its password was replaced",
            user.email
        ),
    }
    if generated {
        println!("password: {password}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Sizes for people: `12.3 MB`.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

async fn export(
    dir: &std::path::Path,
    with_password_hashes: bool,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(config).await?;
    let options = crate::backup::ExportOptions {
        with_password_hashes,
    };
    let report = crate::backup::export(&pool, dir, options).await?;
    let manifest = &report.manifest;
    println!(
        "exported {} tables, {} rows ({}) to {} in {:.1} s; password hashes {}",
        manifest.tables.len(),
        manifest.rows(),
        megabytes(manifest.bytes()),
        dir.display(),
        report.elapsed.as_secs_f64(),
        if manifest.password_hashes {
            "included"
        } else {
            "left out"
        },
    );
    for problem in &report.chain_problems {
        eprintln!("warning: the audit trail does not verify: {problem}");
    }
    if !report.chain_problems.is_empty() {
        eprintln!(
            "warning: `radportal restore` refuses an export whose audit trail does not verify; \
             see `radportal audit verify`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(dir: &std::path::Path, config: &Config) -> anyhow::Result<ExitCode> {
    // The export is checked before the database is touched (or created).
    let export = crate::backup::CheckedExport::open(dir)?;
    let pool = crate::db::connect(config).await?;
    let report = crate::backup::restore(&pool, export).await?;
    let manifest = &report.manifest;
    println!(
        "restored {} tables, {} rows ({}) exported at {} in {:.1} s; the chains verify: {} events, {} audit entries",
        manifest.tables.len(),
        manifest.rows(),
        megabytes(manifest.bytes()),
        manifest.exported_at,
        report.elapsed.as_secs_f64(),
        report.events,
        report.audit_entries,
    );
    if !report.migrated_after.is_empty() {
        println!(
            "applied the migrations newer than the export's: {}",
            report
                .migrated_after
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !manifest.password_hashes {
        println!(
            "the export has no password hashes: people set a new password with \"Forgot your \
             password?\", administrators also with `radportal create-admin --email ... --password-stdin`"
        );
    }
    Ok(ExitCode::SUCCESS)
}
