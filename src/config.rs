//! Configuration from flags and environment variables (`DATABASE_URL`, `RADPORTAL_*`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The database used when `DATABASE_URL` is not set: PostgreSQL on this machine.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/radportal";

// Every default, in one place: the command line's and `Config::for_database`'s.
const DEFAULT_DB_MAX_CONNECTIONS: u32 = 10;
const DEFAULT_DB_ACQUIRE_TIMEOUT_MS: u64 = 1000;
const DEFAULT_READYZ_TIMEOUT_MS: u64 = 1000;
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_BASE_URL: &str = "http://localhost:8080";
const DEFAULT_ADMIN_EMAIL: &str = "admin@radportal.local";
const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
const DEFAULT_MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;
const DEFAULT_OUTBOX_POLL_MS: u64 = 1000;
const DEFAULT_LINK_CHECK_HOURS: u32 = 0;
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
const DEFAULT_SEARCH_LOG_DAYS: u32 = 90;
const DEFAULT_SEARCH_LOG_FLUSH_SECS: u64 = 60;
/// Where a generated first administrator's password is written, relative to the working directory.
const DEFAULT_ADMIN_PASSWORD_OUTPUT: &str = "radportal-admin-password";
/// The shortest metrics token accepted.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// How to reach PostgreSQL.
#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL; the database is created if it does not exist.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true, hide_default_value = false)]
    pub database_url: String,

    /// Largest number of pooled database connections.
    #[arg(long, env = "RADPORTAL_DB_MAX_CONNECTIONS", default_value_t = DEFAULT_DB_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before it is answered with 503, in
    /// milliseconds (100 to 60000).
    #[arg(long, env = "RADPORTAL_DB_ACQUIRE_TIMEOUT_MS", default_value_t = DEFAULT_DB_ACQUIRE_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub db_acquire_timeout_ms: u64,

    /// PostgreSQL URL used only to create the database and apply migrations, e.g. the server itself
    /// when `DATABASE_URL` points at a pooler in transaction mode (migrations hold a session lock).
    #[arg(long, env = "RADPORTAL_MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<String>,
}

/// Settings of the web server.
#[derive(Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address and port to listen on.
    #[arg(long, env = "RADPORTAL_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The public address of the portal, used in links, e-mails and metadata.
    #[arg(long, env = "RADPORTAL_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: Url,

    /// Load the bundled catalog of real datasets when the database has none.
    #[arg(long, env = "RADPORTAL_SEED_CATALOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_catalog: bool,

    /// E-mail of the administrator created when the database has none.
    #[arg(long, env = "RADPORTAL_ADMIN_EMAIL", default_value = DEFAULT_ADMIN_EMAIL)]
    pub admin_email: String,

    /// A file holding the first administrator's password (for example a container secret); without
    /// it a password is generated and written to `--admin-password-output`.
    #[arg(long, env = "RADPORTAL_ADMIN_PASSWORD_FILE", value_name = "FILE")]
    pub admin_password_file: Option<PathBuf>,

    /// Where a generated first administrator's password is written, readable only by the user the
    /// portal runs as (a relative path is taken from the working directory).
    #[arg(long, env = "RADPORTAL_ADMIN_PASSWORD_OUTPUT", value_name = "FILE",
          default_value = DEFAULT_ADMIN_PASSWORD_OUTPUT)]
    pub admin_password_output: PathBuf,

    /// Seconds a request may take before it is answered with 408 (1 to 3600).
    #[arg(long, env = "RADPORTAL_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Largest request body accepted, in bytes (1 KiB to 1 GiB).
    #[arg(long, env = "RADPORTAL_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_body_bytes: u64,

    /// How long `/readyz` waits for the database before answering 503, in milliseconds (50 to
    /// 60000); keep it below the load balancer's health-check timeout.
    #[arg(long, env = "RADPORTAL_READYZ_TIMEOUT_MS", default_value_t = DEFAULT_READYZ_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub readyz_timeout_ms: u64,

    #[command(flatten)]
    pub mail: MailArgs,

    /// On a fresh install, create example controlled datasets, committees, an agreement and example
    /// accounts for a first walk-through.
    #[arg(long, env = "RADPORTAL_EXAMPLE_DATA", default_value_t = true, action = clap::ArgAction::Set)]
    pub example_data: bool,

    /// Check every published dataset's landing URL this often, in hours (0, the default: never;
    /// at most 8760, a year; turn it on only where the portal may make outbound requests).
    #[arg(long, env = "RADPORTAL_LINK_CHECK_HOURS", default_value_t = DEFAULT_LINK_CHECK_HOURS,
          value_parser = clap::value_parser!(u32).range(0..=24 * 365))]
    pub link_check_hours: u32,

    /// Take the client address from the last `X-Forwarded-For` entry (set this behind a reverse proxy).
    #[arg(long, env = "RADPORTAL_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    /// After SIGTERM, how long open requests may take to finish before their connections are closed,
    /// in seconds (1 to 3600).
    #[arg(long, env = "RADPORTAL_SHUTDOWN_TIMEOUT_SECS", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_secs: u64,

    /// Days the anonymous search log (what was searched, never who searched) is kept for the
    /// administrators' search analytics (0 turns recording off; at most 3650).
    #[arg(long, env = "RADPORTAL_SEARCH_LOG_DAYS", default_value_t = DEFAULT_SEARCH_LOG_DAYS,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub search_log_days: u32,

    /// How often each instance writes the searches it holds in memory to the search log, in seconds
    /// (1 to 3600).
    #[arg(long, env = "RADPORTAL_SEARCH_LOG_FLUSH_SECS", default_value_t = DEFAULT_SEARCH_LOG_FLUSH_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub search_log_flush_secs: u64,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    #[command(flatten)]
    pub sign_in: SignInArgs,
}

/// How people sign in: local accounts or not, institutional providers, the key that keeps two-factor
/// secrets, and who must use a second factor.
#[derive(Args, Clone)]
pub struct SignInArgs {
    /// Accounts with a password kept here: signing in with one, registering, and resetting a
    /// forgotten password. Turn it off when everyone signs in through an institution's provider.
    #[arg(long, env = "RADPORTAL_LOCAL_ACCOUNTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub local_accounts: bool,

    /// OpenID Connect providers people may sign in with, as comma-separated ids (letters, digits and
    /// dashes); each is set up by `RADPORTAL_OIDC_<ID>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` and
    /// optional `_NAME`, `_SCOPES`, `_INSTITUTION_CLAIM`, `_GROUPS_CLAIM`, `_ADMIN_GROUPS` and
    /// `_COMMITTEE_GROUPS` (see the README).
    #[arg(long = "oidc-providers", env = "RADPORTAL_OIDC_PROVIDERS", value_name = "IDS",
          default_value = "", value_parser = parse_oidc_providers_from_env)]
    pub oidc_providers: OidcProviders,

    /// A random 256-bit key as 64 hexadecimal characters (`openssl rand -hex 32`) that encrypts the
    /// authenticator secrets of two-factor sign-in in the database. Without it two-factor sign-in is
    /// not offered. Keep it the same across restarts and instances: secrets sealed with another key
    /// cannot be opened.
    #[arg(long, env = "RADPORTAL_SECRET_KEY", hide_env_values = true, value_name = "HEX",
          value_parser = parse_secret_key)]
    pub secret_key: Option<SecretKeySetting>,

    /// Administrators and committee members who sign in with a password must set up two-factor
    /// sign-in before they can use the portal (needs `--secret-key`).
    #[arg(long, env = "RADPORTAL_REQUIRE_TWO_FACTOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_two_factor: bool,
}

/// The configured OpenID Connect providers.
#[derive(Clone, Debug, Default)]
pub struct OidcProviders(pub Vec<OidcProvider>);

/// One OpenID Connect provider (an institution's sign-in service).
#[derive(Clone)]
pub struct OidcProvider {
    /// The id in the portal's URLs and settings, lower case: `uni` in `/sign-in/oidc/uni`.
    pub id: String,
    /// What the sign-in button says: "Sign in with {name}".
    pub name: String,
    /// The issuer, exactly as the provider's discovery document and ID tokens name it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The scopes asked for, `openid` among them.
    pub scopes: String,
    /// The claim whose value becomes the profile's institution.
    pub institution_claim: String,
    /// The claim listing the person's groups, when groups give roles.
    pub groups_claim: Option<String>,
    /// Groups whose members are administrators.
    pub admin_groups: Vec<String>,
    /// Groups whose members sit on a committee: (group, committee slug).
    pub committee_groups: Vec<(String, String)>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("scopes", &self.scopes)
            .field("institution_claim", &self.institution_claim)
            .field("groups_claim", &self.groups_claim)
            .field("admin_groups", &self.admin_groups)
            .field("committee_groups", &self.committee_groups)
            .finish()
    }
}

/// The scopes asked for when a provider's `_SCOPES` is not set.
pub const DEFAULT_OIDC_SCOPES: &str = "openid email profile";
/// The institution claim when a provider's `_INSTITUTION_CLAIM` is not set.
pub const DEFAULT_INSTITUTION_CLAIM: &str = "organization";

fn parse_oidc_providers_from_env(ids: &str) -> Result<OidcProviders, String> {
    parse_oidc_providers(ids, |name| std::env::var(name).ok())
}

/// The providers named in `ids`, each read from the settings `lookup` finds
/// (`RADPORTAL_OIDC_<ID>_...`).
pub fn parse_oidc_providers(
    ids: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<OidcProviders, String> {
    let mut providers = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let id = id.to_lowercase();
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || id.len() > 40 {
            return Err(format!(
                "the provider id '{id}' may use only letters, digits and dashes (at most 40)"
            ));
        }
        if providers.iter().any(|p: &OidcProvider| p.id == id) {
            return Err(format!("the provider '{id}' is named twice"));
        }
        let prefix = format!("RADPORTAL_OIDC_{}_", id.to_uppercase().replace('-', "_"));
        let setting = |name: &str| {
            lookup(&format!("{prefix}{name}"))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let required = |name: &str| {
            setting(name).ok_or_else(|| format!("the provider '{id}' needs {prefix}{name}"))
        };
        let issuer = required("ISSUER")?;
        match Url::parse(&issuer) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.query().is_none() => {}
            _ => {
                return Err(format!(
                    "{prefix}ISSUER is not an http(s) URL without a query: {issuer}"
                ));
            }
        }
        let list = |name: &str| -> Vec<String> {
            setting(name)
                .map(|value| {
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut committee_groups = Vec::new();
        for pair in list("COMMITTEE_GROUPS") {
            let Some((group, slug)) = pair.split_once('=') else {
                return Err(format!(
                    "{prefix}COMMITTEE_GROUPS pairs a group with a committee: group=committee-slug"
                ));
            };
            committee_groups.push((group.trim().to_owned(), slug.trim().to_owned()));
        }
        let scopes = setting("SCOPES").unwrap_or_else(|| DEFAULT_OIDC_SCOPES.to_owned());
        if !scopes.split_whitespace().any(|scope| scope == "openid") {
            return Err(format!("{prefix}SCOPES must include openid"));
        }
        let admin_groups = list("ADMIN_GROUPS");
        let groups_claim = setting("GROUPS_CLAIM");
        if groups_claim.is_none() && (!admin_groups.is_empty() || !committee_groups.is_empty()) {
            return Err(format!(
                "the provider '{id}' maps groups to roles but has no {prefix}GROUPS_CLAIM"
            ));
        }
        providers.push(OidcProvider {
            name: setting("NAME").unwrap_or_else(|| id.clone()),
            issuer,
            client_id: required("CLIENT_ID")?,
            client_secret: SecretString::from(required("CLIENT_SECRET")?),
            scopes,
            institution_claim: setting("INSTITUTION_CLAIM")
                .unwrap_or_else(|| DEFAULT_INSTITUTION_CLAIM.to_owned()),
            groups_claim,
            admin_groups,
            committee_groups,
            id,
        });
    }
    Ok(OidcProviders(providers))
}

/// A 256-bit key for sealing secrets at rest; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for SecretKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// A secret key as set: a key, or nothing (an empty value, as an unset variable in a compose file
/// gives).
#[derive(Clone, Debug)]
pub struct SecretKeySetting(Option<SecretKey>);

/// A secret key: 64 hexadecimal characters, or empty for none.
fn parse_secret_key(value: &str) -> Result<SecretKeySetting, String> {
    if value.trim().is_empty() {
        return Ok(SecretKeySetting(None));
    }
    let bytes = hex::decode(value.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            "use 64 hexadecimal characters (a 256-bit key, e.g. from `openssl rand -hex 32`)"
                .to_owned()
        })?;
    if bytes.iter().all(|b| *b == bytes[0]) {
        return Err("use a random key, not a repeated byte".to_owned());
    }
    Ok(SecretKeySetting(Some(SecretKey(bytes))))
}

/// Where the Prometheus metrics are served. Without either setting `/metrics` answers 404.
#[derive(Args, Clone)]
pub struct MetricsArgs {
    /// Serve `/metrics` on the portal's address to requests with `Authorization: Bearer TOKEN`
    /// (at least 16 characters).
    #[arg(long, env = "RADPORTAL_METRICS_TOKEN", hide_env_values = true, value_name = "TOKEN",
          value_parser = parse_metrics_token)]
    pub metrics_token: Option<String>,

    /// Serve `/metrics` on this address and port instead, apart from the portal (with the token too
    /// when one is set).
    #[arg(long, env = "RADPORTAL_METRICS_LISTEN", value_name = "ADDRESS",
          value_parser = parse_optional_address)]
    pub metrics_listen: Option<String>,
}

/// A metrics token: empty (no token) or long enough, and printable.
fn parse_metrics_token(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.chars().count() < MIN_METRICS_TOKEN_CHARS {
        return Err(format!("use at least {MIN_METRICS_TOKEN_CHARS} characters"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err("use printable ASCII characters without spaces".to_owned());
    }
    Ok(value.to_owned())
}

/// An address and port, or nothing (an empty value, as an unset variable in a compose file gives).
fn parse_optional_address(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    value
        .parse::<SocketAddr>()
        .map(|_| value.to_owned())
        .map_err(|_| "expected an address and port such as 127.0.0.1:9090".to_owned())
}

/// How the portal sends e-mail.
#[derive(clap::Args, Clone, Debug)]
pub struct MailArgs {
    /// SMTP server, e.g. `smtp://mail.example.org:587?tls=required` or `smtps://user:pass@host`.
    /// Without it, messages are written to the log instead of being sent.
    #[arg(long, env = "RADPORTAL_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of the portal's e-mails.
    #[arg(long, env = "RADPORTAL_MAIL_FROM", default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,

    /// How often the mail worker looks for new messages, in milliseconds (50 to 3600000).
    #[arg(long, env = "RADPORTAL_OUTBOX_POLL_MS", default_value_t = DEFAULT_OUTBOX_POLL_MS,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub outbox_poll_ms: u64,
}

/// The sender used when none is configured.
pub const DEFAULT_MAIL_FROM: &str = "radportal <no-reply@radportal.local>";

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The running portal's configuration.
#[derive(Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// Where migrations run when not through `database_url`.
    pub migration_database_url: Option<SecretString>,
    /// How long a request waits for a pooled connection before it fails (and is answered with 503).
    pub db_acquire_timeout: Duration,
    /// How long `/readyz` waits for the database.
    pub readyz_timeout: Duration,
    pub listen: SocketAddr,
    pub base_url: Url,
    pub seed_catalog: bool,
    pub admin_email: String,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// SMTP server URL; `None` writes messages to the log.
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub outbox_poll: Duration,
    pub trust_proxy: bool,
    pub example_data: bool,
    /// Hours between checks of landing URLs; 0 turns the check off.
    pub link_check_hours: u32,
    /// A file with the first administrator's password; `None` generates one.
    pub admin_password_file: Option<PathBuf>,
    /// Where a generated first administrator's password is written (mode 0600).
    pub admin_password_output: PathBuf,
    /// How long open requests may take to finish after a shutdown was asked for.
    pub shutdown_timeout: Duration,
    /// The bearer token that `/metrics` asks for; `None` with no `metrics_listen` turns it off.
    pub metrics_token: Option<SecretString>,
    /// A separate address that serves `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// Days searches are kept in the search log; 0 turns recording off.
    pub search_log_days: u32,
    /// How often the searches held in memory are written to the search log.
    pub search_log_flush: Duration,
    /// The key that seals two-factor secrets; `None` turns two-factor sign-in off.
    pub secret_key: Option<SecretKey>,
    /// Whether administrators and committee members must use a second factor.
    pub require_two_factor: bool,
    /// Whether accounts with a password kept here may sign in, register and reset passwords.
    pub local_accounts: bool,
    /// The institutions' OpenID Connect providers.
    pub oidc_providers: Vec<OidcProvider>,
}

impl Config {
    /// A configuration for `database_url` with every other setting at its default.
    pub fn for_database(database_url: &str) -> Self {
        Self {
            database_url: SecretString::from(database_url.to_owned()),
            db_max_connections: DEFAULT_DB_MAX_CONNECTIONS,
            migration_database_url: None,
            db_acquire_timeout: Duration::from_millis(DEFAULT_DB_ACQUIRE_TIMEOUT_MS),
            readyz_timeout: Duration::from_millis(DEFAULT_READYZ_TIMEOUT_MS),
            listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
            base_url: Url::parse(DEFAULT_BASE_URL).expect("constant URL parses"),
            seed_catalog: true,
            admin_email: DEFAULT_ADMIN_EMAIL.to_owned(),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES as usize,
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
            outbox_poll: Duration::from_millis(DEFAULT_OUTBOX_POLL_MS),
            trust_proxy: false,
            // Example data is for a first walk-through: tests and embedders ask for it.
            example_data: false,
            link_check_hours: DEFAULT_LINK_CHECK_HOURS,
            admin_password_file: None,
            admin_password_output: PathBuf::from(DEFAULT_ADMIN_PASSWORD_OUTPUT),
            shutdown_timeout: Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            metrics_token: None,
            metrics_listen: None,
            search_log_days: DEFAULT_SEARCH_LOG_DAYS,
            search_log_flush: Duration::from_secs(DEFAULT_SEARCH_LOG_FLUSH_SECS),
            secret_key: None,
            require_two_factor: false,
            local_accounts: true,
            oidc_providers: Vec::new(),
        }
    }

    /// Settings that cannot work together, as a message for the operator.
    pub fn check(&self) -> Result<(), String> {
        if self.require_two_factor && self.secret_key.is_none() {
            return Err(
                "RADPORTAL_REQUIRE_TWO_FACTOR needs RADPORTAL_SECRET_KEY, the key that encrypts the \
                 two-factor secrets"
                    .to_owned(),
            );
        }
        if !self.local_accounts && self.oidc_providers.is_empty() {
            return Err(
                "with RADPORTAL_LOCAL_ACCOUNTS=false nobody could sign in: configure an OpenID \
                 Connect provider (RADPORTAL_OIDC_PROVIDERS)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The configured provider `id`.
    pub fn oidc_provider(&self, id: &str) -> Option<&OidcProvider> {
        self.oidc_providers
            .iter()
            .find(|provider| provider.id == id)
    }

    /// The database URL with its password hidden, safe to print.
    pub fn redacted_database_url(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

impl From<ServeArgs> for Config {
    fn from(args: ServeArgs) -> Self {
        Self {
            database_url: SecretString::from(args.database.database_url),
            db_max_connections: args.database.db_max_connections,
            migration_database_url: args
                .database
                .migration_database_url
                .filter(|url| !url.is_empty())
                .map(SecretString::from),
            db_acquire_timeout: Duration::from_millis(args.database.db_acquire_timeout_ms),
            readyz_timeout: Duration::from_millis(args.readyz_timeout_ms),
            listen: args.listen,
            base_url: args.base_url,
            seed_catalog: args.seed_catalog,
            admin_email: args.admin_email,
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
            smtp_url: args
                .mail
                .smtp_url
                .filter(|url| !url.trim().is_empty())
                .map(SecretString::from),
            mail_from: args.mail.mail_from,
            outbox_poll: Duration::from_millis(args.mail.outbox_poll_ms),
            trust_proxy: args.trust_proxy,
            example_data: args.example_data,
            link_check_hours: args.link_check_hours,
            admin_password_file: args
                .admin_password_file
                .filter(|path| !path.as_os_str().is_empty()),
            admin_password_output: args.admin_password_output,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout_secs),
            metrics_token: args
                .metrics
                .metrics_token
                .filter(|token| !token.is_empty())
                .map(SecretString::from),
            metrics_listen: args
                .metrics
                .metrics_listen
                .and_then(|address| address.parse().ok()),
            search_log_days: args.search_log_days,
            search_log_flush: Duration::from_secs(args.search_log_flush_secs),
            secret_key: args.sign_in.secret_key.and_then(|setting| setting.0),
            require_two_factor: args.sign_in.require_two_factor,
            local_accounts: args.sign_in.local_accounts,
            oidc_providers: args.sign_in.oidc_providers.0,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.redacted_database_url())
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("readyz_timeout", &self.readyz_timeout)
            .field("listen", &self.listen)
            .field("base_url", &self.base_url.as_str())
            .field("seed_catalog", &self.seed_catalog)
            .field("admin_email", &self.admin_email)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "smtp_url",
                &self
                    .smtp_url
                    .as_ref()
                    .map(|url| redact_url(url.expose_secret())),
            )
            .field("mail_from", &self.mail_from)
            .field("outbox_poll", &self.outbox_poll)
            .field("trust_proxy", &self.trust_proxy)
            .field("example_data", &self.example_data)
            .field("link_check_hours", &self.link_check_hours)
            .field("admin_password_file", &self.admin_password_file)
            .field("admin_password_output", &self.admin_password_output)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_listen", &self.metrics_listen)
            .field("search_log_days", &self.search_log_days)
            .field("search_log_flush", &self.search_log_flush)
            .field("secret_key", &self.secret_key)
            .field("require_two_factor", &self.require_two_factor)
            .field("local_accounts", &self.local_accounts)
            .field("oidc_providers", &self.oidc_providers)
            .finish()
    }
}

/// Replaces the password of a connection URL with `***`; leaves anything unparsable as a placeholder.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_but_keeps_host_and_database() {
        let shown = redact_url("postgres://app:s3cret@db.example.org:5432/radportal");
        assert_eq!(shown, "postgres://app:***@db.example.org:5432/radportal");
        assert!(!format!("{:?}", Config::for_database("postgres://u:pw@h/db")).contains("pw"));
    }

    #[test]
    fn out_of_range_settings_are_refused_with_a_message() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parsed = |args: &[&str]| Cli::try_parse_from([&["radportal"], args].concat());
        assert!(parsed(&[]).is_ok());
        for bad in [
            ["--outbox-poll-ms", "10"],
            ["--link-check-hours", "9000"],
            ["--request-timeout-secs", "0"],
            ["--max-body-bytes", "12"],
            ["--db-max-connections", "0"],
            ["--db-acquire-timeout-ms", "5"],
            ["--db-acquire-timeout-ms", "600000"],
            ["--readyz-timeout-ms", "0"],
            ["--shutdown-timeout-secs", "0"],
            ["--search-log-days", "3651"],
            ["--search-log-flush-secs", "0"],
            ["--search-log-flush-secs", "3601"],
        ] {
            let error = parsed(&bad).err().expect("refused");
            assert!(error.to_string().contains("not in"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_defaults_of_the_command_line_and_of_tests_agree() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut from_cli = Config::from(Cli::try_parse_from(["radportal"]).unwrap().serve);
        let built = Config::for_database(DEFAULT_DATABASE_URL);
        // The environment may name another database (sqlx's tools read DATABASE_URL too).
        from_cli.database_url = built.database_url.clone();
        assert_eq!(
            format!("{from_cli:?}").replace("example_data: true", "example_data: false"),
            format!("{built:?}")
        );
    }

    #[test]
    fn a_short_metrics_token_or_a_bad_address_is_refused_and_empty_values_mean_unset() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parsed = |args: &[&str]| Cli::try_parse_from([&["radportal"], args].concat());
        let error = parsed(&["--metrics-token", "short"])
            .err()
            .expect("refused");
        assert!(error.to_string().contains("at least 16"), "{error}");
        assert!(parsed(&["--metrics-listen", "localhost"]).is_err());
        let config = Config::from(
            parsed(&["--metrics-token", "", "--metrics-listen", ""])
                .unwrap()
                .serve,
        );
        assert!(config.metrics_token.is_none() && config.metrics_listen.is_none());
        let config = Config::from(
            parsed(&[
                "--metrics-token",
                "0123456789abcdef",
                "--metrics-listen",
                "127.0.0.1:9090",
            ])
            .unwrap()
            .serve,
        );
        assert_eq!(
            config.metrics_token.as_ref().map(|t| t.expose_secret()),
            Some("0123456789abcdef")
        );
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
    }

    #[test]
    fn a_secret_key_is_64_hex_characters_never_shown_and_required_for_two_factor() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parsed = |args: &[&str]| Cli::try_parse_from([&["radportal"], args].concat());
        for bad in ["abcd", &"0".repeat(64), &"g".repeat(64)] {
            assert!(parsed(&["--secret-key", bad]).is_err(), "{bad}");
        }
        let key = "8f3a".repeat(15) + "01ab";
        let config = Config::from(parsed(&["--secret-key", &key]).unwrap().serve);
        assert!(config.secret_key.is_some() && config.check().is_ok());
        assert!(!format!("{config:?}").contains(&key));
        let config = Config::from(parsed(&["--secret-key", ""]).unwrap().serve);
        assert!(config.secret_key.is_none());
        let config = Config::from(parsed(&["--require-two-factor", "true"]).unwrap().serve);
        assert!(config.check().unwrap_err().contains("RADPORTAL_SECRET_KEY"));
    }

    #[test]
    fn providers_are_read_from_their_settings_and_mistakes_are_named() {
        let settings: std::collections::HashMap<&str, &str> = [
            (
                "RADPORTAL_OIDC_UNI_HOSPITAL_ISSUER",
                "https://login.uni.example/realms/staff",
            ),
            ("RADPORTAL_OIDC_UNI_HOSPITAL_CLIENT_ID", "radportal"),
            ("RADPORTAL_OIDC_UNI_HOSPITAL_CLIENT_SECRET", "s3cret-value"),
            ("RADPORTAL_OIDC_UNI_HOSPITAL_NAME", "University Hospital"),
            ("RADPORTAL_OIDC_UNI_HOSPITAL_GROUPS_CLAIM", "groups"),
            (
                "RADPORTAL_OIDC_UNI_HOSPITAL_ADMIN_GROUPS",
                "portal-admins, it",
            ),
            (
                "RADPORTAL_OIDC_UNI_HOSPITAL_COMMITTEE_GROUPS",
                "dac=imaging-dac",
            ),
            ("RADPORTAL_OIDC_BARE_ISSUER", "https://id.example.org"),
            ("RADPORTAL_OIDC_BARE_CLIENT_ID", "portal"),
        ]
        .into_iter()
        .collect();
        let lookup = |name: &str| settings.get(name).map(|value| (*value).to_owned());
        let providers = parse_oidc_providers("Uni-Hospital", lookup).unwrap().0;
        let uni = &providers[0];
        assert_eq!(uni.id, "uni-hospital");
        assert_eq!(uni.name, "University Hospital");
        assert_eq!(uni.scopes, DEFAULT_OIDC_SCOPES);
        assert_eq!(uni.admin_groups, ["portal-admins", "it"]);
        assert_eq!(
            uni.committee_groups,
            [("dac".to_owned(), "imaging-dac".to_owned())]
        );
        assert!(!format!("{uni:?}").contains("s3cret"));
        let error = parse_oidc_providers("uni-hospital,bare", lookup).unwrap_err();
        assert!(
            error.contains("RADPORTAL_OIDC_BARE_CLIENT_SECRET"),
            "{error}"
        );
        assert!(parse_oidc_providers("uni hospital", lookup).is_err());
        assert!(parse_oidc_providers("uni-hospital,UNI-HOSPITAL", lookup).is_err());
        assert!(parse_oidc_providers("", lookup).unwrap().0.is_empty());
        let mut config = Config::for_database("postgres://h/db");
        config.local_accounts = false;
        assert!(
            config
                .check()
                .unwrap_err()
                .contains("RADPORTAL_OIDC_PROVIDERS")
        );
        config.oidc_providers = providers;
        assert!(config.check().is_ok());
    }

    #[test]
    fn unparsable_url_is_not_echoed() {
        assert_eq!(redact_url("not a url with secret"), "<unparsable URL>");
    }
}
