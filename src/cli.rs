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
use crate::auth::bootstrap::{FirstAdmin, PasswordSource};
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

impl Cli {
    /// Parses the command line and the environment. A mistake in them ends the process with status 2
    /// and clap's message, as a JSON event when JSON logs were asked for (so that every line a log
    /// collector reads is JSON).
    pub fn parse_or_exit() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(error) if error.use_stderr() && json_logs_requested(std::env::args()) => {
                init_tracing(LogFormat::Json);
                tracing::error!(error = %error.render().to_string().trim_end(), "invalid command line or settings");
                std::process::exit(2)
            }
            Err(error) => error.exit(),
        }
    }
}

/// Whether `RADPORTAL_LOG_FORMAT` or `--log-format` ask for JSON (read by hand: the command line as a
/// whole did not parse).
fn json_logs_requested(args: impl Iterator<Item = String>) -> bool {
    let mut json = std::env::var("RADPORTAL_LOG_FORMAT").is_ok_and(|value| value == "json");
    let mut previous = String::new();
    for arg in args {
        if arg == "--log-format=json" || (previous == "--log-format" && arg == "json") {
            json = true;
        } else if arg.starts_with("--log-format=") || previous == "--log-format" {
            json = false;
        }
        previous = arg;
    }
    json
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the portal (applies migrations and, on an empty database, loads the bundled catalog).
    Serve(Box<ServeArgs>),
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

/// Runs the command line; errors are reported as one line (a JSON event in JSON mode) and turn into
/// exit status 1.
pub fn main(cli: Cli) -> ExitCode {
    let format = cli.log_format;
    init_tracing(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report_error(
                format,
                &anyhow::Error::new(error).context("cannot start the async runtime"),
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, format)) {
        Ok(code) => code,
        Err(error) => {
            report_error(format, &error);
            ExitCode::FAILURE
        }
    }
}

/// The error that ends a command: `error: ...` on a line of its own, or a JSON event.
fn report_error(format: LogFormat, error: &anyhow::Error) {
    match format {
        LogFormat::Text => eprintln!("error: {error:#}"),
        LogFormat::Json => tracing::error!(error = %format!("{error:#}"), "radportal stopped"),
    }
}

/// Logs go to standard error, coloured only in text mode on a terminal and without `NO_COLOR`; in
/// JSON mode a panic's message is a JSON event too.
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RADPORTAL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let colour = use_colour(
        format,
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => {
            builder.json().init();
            std::panic::set_hook(Box::new(|panic| {
                tracing::error!(panic = %panic, "a thread panicked");
            }));
        }
        LogFormat::Text => builder.init(),
    }
}

/// Whether log lines carry colour codes: text on a terminal, unless `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
fn use_colour(format: LogFormat, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    format == LogFormat::Text && terminal && no_color.is_none_or(|value| value.is_empty())
}

async fn run(command: Command, format: LogFormat) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(Config::from(*args), format).await,
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
    config.migration_database_url = database
        .migration_database_url
        .filter(|url| !url.is_empty())
        .map(secrecy::SecretString::from);
    config
}

async fn serve(config: Config, format: LogFormat) -> anyhow::Result<ExitCode> {
    config.check().map_err(anyhow::Error::msg)?;
    let pool = crate::db::connect_and_migrate(&config).await?;
    if config.seed_catalog
        && let Some(report) = import::seed_if_empty(&pool).await?
    {
        tracing::info!(summary = %report.summary_line(), "loaded the bundled catalog");
    }
    if config.example_data && crate::access::example::seed_if_empty(&pool).await? {
        let accounts = crate::access::example::EXAMPLE_ACCOUNTS
            .iter()
            .map(|(email, _)| *email)
            .collect::<Vec<_>>()
            .join(", ");
        // The example accounts' password is public (it is in the README): only the first
        // administrator's is a secret.
        match format {
            LogFormat::Text => eprintln!(
                "created example data for a walk-through: accounts {accounts} with password {}",
                crate::access::example::EXAMPLE_PASSWORD
            ),
            LogFormat::Json => tracing::info!(
                %accounts,
                password = crate::access::example::EXAMPLE_PASSWORD,
                "created example data for a walk-through"
            ),
        }
    }
    bootstrap_admin(&pool, &config, format).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, base_url = %config.base_url, "radportal is serving");
    if format == LogFormat::Text {
        eprintln!("radportal is serving on http://{address}");
    }
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

/// On a database without any administrator, creates one and says where its password is (never the
/// password itself). Of instances starting together, one creates it; the others see it exists.
async fn bootstrap_admin(
    pool: &sqlx::PgPool,
    config: &Config,
    format: LogFormat,
) -> anyhow::Result<()> {
    let source = match &config.admin_password_file {
        Some(path) => PasswordSource::File(path),
        None => PasswordSource::Generate {
            output: &config.admin_password_output,
        },
    };
    match crate::auth::bootstrap::ensure_first_admin(pool, &config.admin_email, source).await? {
        FirstAdmin::AlreadyThere => {}
        FirstAdmin::FromFile { email } => {
            tracing::info!(
                %email,
                "created the first administrator with the password from RADPORTAL_ADMIN_PASSWORD_FILE"
            );
        }
        FirstAdmin::Generated {
            email,
            password_file,
        } => match format {
            LogFormat::Text => eprintln!(
                "created the first administrator: {email}; its password is in {} (readable only by \
                 this user)\n(sign in, then delete the file; set another password any time with \
                 `radportal create-admin --email {email} --password-stdin`)",
                password_file.display()
            ),
            LogFormat::Json => tracing::info!(
                %email,
                password_file = %password_file.display(),
                "created the first administrator; its password is in password_file, readable only by this user"
            ),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_for_text_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(LogFormat::Text, true, None));
        assert!(use_colour(LogFormat::Text, true, Some(OsStr::new(""))));
        assert!(!use_colour(LogFormat::Text, true, Some(OsStr::new("1"))));
        assert!(!use_colour(LogFormat::Text, false, None));
        assert!(!use_colour(LogFormat::Json, true, None));
    }

    #[test]
    fn json_logs_are_seen_in_a_command_line_that_does_not_parse() {
        let args = |list: &[&str]| list.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>();
        // The variable may be set where the tests run; the flags decide over it.
        assert!(json_logs_requested(
            args(&["radportal", "--log-format", "json", "serve", "--bad"]).into_iter()
        ));
        assert!(json_logs_requested(
            args(&["radportal", "serve", "--log-format=json"]).into_iter()
        ));
        assert!(!json_logs_requested(
            args(&["radportal", "--log-format", "text", "serve"]).into_iter()
        ));
    }
}
