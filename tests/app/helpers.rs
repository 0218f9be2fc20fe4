//! The test harness: `TestApp::spawn()` starts the portal on 127.0.0.1:0 over a new database, a copy
//! of a template database (see [`databases`]), which is dropped when the test ends, pass or fail;
//! with `RADPORTAL_TEST_KEEP_DB=1` a failed test's database is kept and its name printed.

mod binary;
mod databases;
mod mail;
mod smtp_stub;
pub mod snapshot;

use std::sync::OnceLock;

use radportal::catalog::import::{self, BUNDLED_CATALOG, ImportReport, NoProgress};
use radportal::{AppState, Config};
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use sqlx::PgPool;
use tokio::sync::oneshot;

pub use binary::{Served, Stream};
pub use databases::Template;
pub use mail::{MailSink, ReceivedMail, matching};
pub use smtp_stub::SmtpStub;

/// Set to `1` to keep the database of a failed test for a look afterwards.
pub const KEEP_DB_VARIABLE: &str = "RADPORTAL_TEST_KEEP_DB";

/// The server that owns test databases; `TEST_DATABASE_URL` overrides it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned())
}

/// `admin_url` with another database name.
pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    /// The state the server runs with (for running its jobs from a test).
    pub state: AppState,
    pub client: Client,
    pub database_name: String,
    pub database_url: String,
    /// The SMTP server the portal sends to, with [`TestApp::with_mail`].
    pub mail: Option<MailSink>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// A portal over a new, migrated, empty database.
    pub async fn spawn() -> Self {
        Self::spawn_from(Template::Migrated, |_| {}).await
    }

    /// A portal with the bundled catalog of 320 real datasets imported.
    pub async fn with_catalog() -> Self {
        Self::spawn_from(Template::Catalog, |_| {}).await
    }

    /// A portal whose mail goes to a real SMTP server on loopback; the test sends what is due with
    /// [`TestApp::deliver_mail`] and reads what arrived.
    pub async fn with_mail() -> Self {
        Self::with_mail_configured(|_| {}).await
    }

    /// [`TestApp::with_mail`], with the configuration changed by `configure`.
    pub async fn with_mail_configured(configure: impl FnOnce(&mut Config)) -> Self {
        Self::with_mail_from(Template::Migrated, configure).await
    }

    /// [`TestApp::with_mail`] over a copy of `template`, with the configuration changed by `configure`.
    pub async fn with_mail_from(template: Template, configure: impl FnOnce(&mut Config)) -> Self {
        Self::with_mail_on(TestDatabase::create(template).await, configure).await
    }

    /// [`TestApp::with_mail`] over `database`, with the configuration changed by `configure`.
    pub async fn with_mail_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> Self {
        let sink = MailSink::start().await;
        let smtp_url = sink.url();
        let mut app = Self::spawn_on(database, move |config| {
            config.smtp_url = Some(smtp_url.into());
            // The tests deliver mail themselves; the worker's own rounds would only race with them.
            config.outbox_poll = std::time::Duration::from_secs(24 * 60 * 60);
            configure(config);
        })
        .await;
        app.mail = Some(sink);
        app
    }

    /// A portal over a new, migrated, empty database, with the configuration changed by `configure`.
    pub async fn spawn_configured(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_from(Template::Migrated, configure).await
    }

    /// A portal over a new copy of `template`, with the configuration changed by `configure`.
    pub async fn spawn_from(template: Template, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestDatabase::create(template).await, configure).await
    }

    /// A free port on loopback and its address, for a portal started later with
    /// [`TestApp::spawn_listening`] (what it will answer on can then be told to others first).
    pub async fn reserve() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        (listener, address)
    }

    /// A portal on `listener` over a new, migrated, empty database, whose public address is the
    /// listener's own (for flows that send the browser elsewhere and back), with the configuration
    /// changed by `configure`.
    pub async fn spawn_listening(
        listener: tokio::net::TcpListener,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let address = format!("http://{}", listener.local_addr().unwrap());
        Self::spawn_with_listener(
            Some(listener),
            TestDatabase::create(Template::Migrated).await,
            move |config| {
                config.base_url = url::Url::parse(&address).unwrap();
                configure(config);
            },
        )
        .await
    }

    /// A portal over `database` (migrated first, when it is not), which it drops when it ends, with
    /// the configuration changed by `configure`.
    pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_listener(None, database, configure).await
    }

    async fn spawn_with_listener(
        listener: Option<tokio::net::TcpListener>,
        database: TestDatabase,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_database(&database.url);
        config.seed_catalog = false;
        config.db_max_connections = 5;
        configure(&mut config);
        let db = radportal::db::connect_and_migrate(&config)
            .await
            .expect("test database is reachable and migrated");
        let listener = match listener {
            Some(listener) => listener,
            None => Self::reserve().await.0,
        };
        let app = Self::serve_on(
            listener,
            AppState::new(db.clone(), config),
            db,
            database.name.clone(),
            database.url.clone(),
        )
        .await;
        // The app drops the database now.
        database.pass_on();
        app
    }

    /// A portal over the given state (for example a pool that cannot connect).
    pub async fn spawn_with(
        state: AppState,
        db: PgPool,
        database_name: String,
        database_url: String,
    ) -> Self {
        let (listener, _) = Self::reserve().await;
        Self::serve_on(listener, state, db, database_name, database_url).await
    }

    async fn serve_on(
        listener: tokio::net::TcpListener,
        state: AppState,
        db: PgPool,
        database_name: String,
        database_url: String,
    ) -> Self {
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(radportal::serve(listener, state, async {
            let _ = signal.await;
        }));
        let client = new_client();
        databases::in_use();
        Self {
            address,
            db,
            state: served,
            client,
            database_name,
            database_url,
            mail: None,
            shutdown: Some(shutdown),
        }
    }

    pub async fn import_bundled(&self) -> ImportReport {
        self.import(BUNDLED_CATALOG).await
    }

    pub async fn import(&self, bytes: &[u8]) -> ImportReport {
        import::import_json(&self.db, bytes, &NoProgress)
            .await
            .expect("import runs")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is answered")
    }

    /// GETs a page, asserts 200, and parses it.
    pub async fn page(&self, path: &str) -> Page {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        Page::new(&response.text().await.unwrap())
    }

    /// A researcher account with a confirmed address and the password [`PASSWORD`].
    pub async fn add_user(&self, email: &str, name: &str) -> i64 {
        sqlx::query_scalar(
            "insert into users (email, name, password_hash, email_verified_at)
             values ($1, $2, $3, now()) returning id",
        )
        .bind(email)
        .bind(name)
        .bind(password_hash().await)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    /// An administrator account with the password [`PASSWORD`].
    pub async fn add_admin(&self, email: &str) -> i64 {
        let id = self.add_user(email, "Ada Admin").await;
        sqlx::query("update users set is_admin = true where id = $1")
            .bind(id)
            .execute(&self.db)
            .await
            .unwrap();
        id
    }

    /// Makes an account a reviewer: a member of the committee `imaging-dac` (created when missing).
    pub async fn make_reviewer(&self, user_id: i64) {
        sqlx::query(
            "with dac as (
                 insert into dacs (slug, name) values ('imaging-dac', 'Imaging Data Access Committee')
                 on conflict (slug) do update set name = dacs.name
                 returning id)
             insert into dac_members (dac_id, user_id) select id, $1 from dac on conflict do nothing",
        )
        .bind(user_id)
        .execute(&self.db)
        .await
        .unwrap();
    }

    /// A new browser-like client signed in as `email` (password [`PASSWORD`]).
    pub async fn signed_in(&self, email: &str) -> Client {
        self.signed_in_with(email, PASSWORD).await
    }

    /// A new browser-like client signed in as `email` with `password`.
    pub async fn signed_in_with(&self, email: &str, password: &str) -> Client {
        let client = new_client();
        let response = client
            .post(self.url("/sign-in"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} signs in");
        client
    }

    /// Signs in `client` with `email` and `password`.
    pub async fn sign_in_with(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/sign-in"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Sends every message that is due, as the portal's mail worker does, and returns once no due
    /// message is left unsent or in another sender's hands (a due message the worker is sending is
    /// waited for, not skipped).
    pub async fn send_due_mail(&self) {
        let mailer = radportal::mail::Mailer::from_config(&self.state.config)
            .expect("the test configuration has a valid mailer");
        for _ in 0..100 {
            radportal::mail::deliver_due(&self.db, &mailer)
                .await
                .expect("the outbox is readable");
            // `for update` without `skip locked` waits for a sender still holding a row, then sees the
            // row as that sender left it (sent, or retried later).
            let mut tx = self.db.begin().await.unwrap();
            let due: Vec<i64> = sqlx::query_scalar(
                "select id from outbox
                 where sent_at is null and attempts < $1 and next_attempt_at <= now()
                 for update",
            )
            .bind(radportal::mail::MAX_ATTEMPTS)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            tx.rollback().await.unwrap();
            if due.is_empty() {
                return;
            }
        }
        panic!("the outbox never emptied: new mail kept arriving");
    }

    /// Sends every message that is due and returns every message the SMTP server has received since
    /// the portal started, in the order received.
    pub async fn deliver_mail(&self) -> Vec<ReceivedMail> {
        let sink = self
            .mail
            .as_ref()
            .expect("deliver_mail needs a portal started with TestApp::with_mail");
        self.send_due_mail().await;
        sink.received().await
    }

    /// Delivers the mail and returns the messages to `to` whose subject contains `subject`.
    pub async fn mails_to(&self, to: &str, subject: &str) -> Vec<ReceivedMail> {
        matching(&self.deliver_mail().await, to, subject)
    }

    /// Delivers the mail and returns the one message to `to` whose subject contains `subject`; fails
    /// when there is none or more than one.
    pub async fn mail_to(&self, to: &str, subject: &str) -> ReceivedMail {
        let all = self.deliver_mail().await;
        let mut found = matching(&all, to, subject);
        assert_eq!(
            found.len(),
            1,
            "one mail to {to} about '{subject}'; received: {all:#?}"
        );
        found.remove(0)
    }
}

/// A database of a test's own, dropped when this value is (or, handed to [`TestApp::spawn_on`], when
/// that app is); kept after a failure with [`KEEP_DB_VARIABLE`].
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new database, a copy of `template`.
    pub async fn create(template: Template) -> Self {
        let name = databases::create_test_database(template).await;
        databases::in_use();
        Self {
            url: database_url(&name),
            name,
        }
    }

    /// A name and URL for a database that does not exist yet, for a command that creates it.
    pub fn named() -> Self {
        let name = databases::new_name();
        databases::in_use();
        Self {
            url: database_url(&name),
            name,
        }
    }

    /// A small pool on the database.
    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("the test database is reachable")
    }

    /// Whether the database exists.
    pub async fn exists(&self) -> bool {
        let admin = PgPool::connect(&admin_url()).await.unwrap();
        let exists =
            sqlx::query_scalar("select exists (select from pg_database where datname = $1)")
                .bind(&self.name)
                .fetch_one(&admin)
                .await
                .unwrap();
        admin.close().await;
        exists
    }

    /// Leaves dropping the database to the app that now counts it as in use.
    fn pass_on(mut self) {
        databases::passed_on();
        self.name.clear();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let keep = std::thread::panicking() && keep_failed_databases();
        if keep {
            eprintln!(
                "{KEEP_DB_VARIABLE}: kept the database of this failed test: {}",
                self.name
            );
        }
        databases::hand_back(std::mem::take(&mut self.name), keep);
    }
}

/// The key that seals two-factor secrets in the tests (random-looking, and no secret).
pub fn secret_key() -> radportal::config::SecretKey {
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::try_from(i * 37 % 251).unwrap() ^ 0x5a;
    }
    radportal::config::SecretKey::from(key)
}

/// The password of every account the tests create.
pub const PASSWORD: &str = "correct horse battery staple";

/// The argon2 hash of [`PASSWORD`], computed once per test binary.
pub async fn password_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        radportal::auth::password::hash(PASSWORD.to_owned())
            .await
            .unwrap()
    })
    .await
    .clone()
}

/// A client like a browser: keeps cookies, says its requests come from the portal's own pages (as a
/// browser's `Sec-Fetch-Site` does), and does not follow redirects (tests look at them).
pub fn new_client() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "sec-fetch-site",
        reqwest::header::HeaderValue::from_static("same-origin"),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The Python with the tests' packages (`scripts/test` prepares one in target/test-venv);
/// `RADPORTAL_TEST_PYTHON` overrides.
pub fn python() -> String {
    std::env::var("RADPORTAL_TEST_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python");
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "python3".to_owned()
        }
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let keep = std::thread::panicking() && keep_failed_databases();
        if keep {
            let mut url = url::Url::parse(&self.database_url).expect("a database URL");
            let _ = url.set_password(None);
            eprintln!(
                "{KEEP_DB_VARIABLE}: kept the database of this failed test: {} ({url})",
                self.database_name
            );
        }
        databases::hand_back(std::mem::take(&mut self.database_name), keep);
    }
}

/// Whether [`KEEP_DB_VARIABLE`] asks to keep failed tests' databases.
fn keep_failed_databases() -> bool {
    std::env::var(KEEP_DB_VARIABLE).is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// A parsed HTML page with CSS-selector helpers.
pub struct Page {
    pub html: Html,
    pub source: String,
}

impl Page {
    pub fn new(source: &str) -> Self {
        Self {
            html: Html::parse_document(source),
            source: source.to_owned(),
        }
    }

    /// The whitespace-normalised text of every element matching `selector`.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html
            .select(&selector)
            .map(|element| element.text().collect::<Vec<_>>().join(" "))
            .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// The text of the first element matching `selector`.
    pub fn text(&self, selector: &str) -> String {
        self.texts(selector)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {selector}"))
    }

    /// An attribute of every element matching `selector`.
    pub fn attrs(&self, selector: &str, attribute: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html
            .select(&selector)
            .filter_map(|element| element.value().attr(attribute).map(str::to_owned))
            .collect()
    }

    /// The slugs of the datasets listed as result cards, in order.
    pub fn result_slugs(&self) -> Vec<String> {
        self.attrs(".card-title a", "href")
            .into_iter()
            .map(|href| href.trim_start_matches("/datasets/").to_owned())
            .collect()
    }
}

/// The bundled catalog as JSON values, for tests that build their own files from real records.
pub fn bundled_records() -> &'static Vec<serde_json::Value> {
    static RECORDS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    RECORDS.get_or_init(|| serde_json::from_slice(BUNDLED_CATALOG).unwrap())
}

/// One real record of the bundled catalog by id.
pub fn bundled_record(id: &str) -> serde_json::Value {
    bundled_records()
        .iter()
        .find(|record| record["id"] == id)
        .unwrap_or_else(|| panic!("{id} is in the bundled catalog"))
        .clone()
}
