//! The test harness: `TestApp::spawn()` starts the portal on 127.0.0.1:0 over a new database and drops
//! the database again when the test ends, pass or fail.

use std::sync::OnceLock;

use radportal::catalog::import::{self, BUNDLED_CATALOG, ImportReport, NoProgress};
use radportal::{AppState, Config};
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use sqlx::PgPool;
use tokio::sync::oneshot;

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
    pub client: Client,
    pub database_name: String,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// A portal over a new, migrated, empty database.
    pub async fn spawn() -> Self {
        let database_name = format!("radportal_test_{}", uuid::Uuid::new_v4().simple());
        let database_url = database_url(&database_name);
        let mut config = Config::for_database(&database_url);
        config.seed_catalog = false;
        config.db_max_connections = 5;
        let db = radportal::db::connect_and_migrate(&config)
            .await
            .expect("test database is created and migrated");
        Self::spawn_with(
            AppState::new(db.clone(), config),
            db,
            database_name,
            database_url,
        )
        .await
    }

    /// A portal over the given state (for example a pool that cannot connect).
    pub async fn spawn_with(
        state: AppState,
        db: PgPool,
        database_name: String,
        database_url: String,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        tokio::spawn(radportal::serve(listener, state, async {
            let _ = signal.await;
        }));
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        Self {
            address,
            db,
            client,
            database_name,
            database_url,
            shutdown: Some(shutdown),
        }
    }

    /// A portal with the bundled catalog of 320 real datasets imported.
    pub async fn with_catalog() -> Self {
        let app = Self::spawn().await;
        let report = app.import_bundled().await;
        assert_eq!(
            report.rejected,
            vec![],
            "the bundled catalog imports cleanly"
        );
        app
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let name = self.database_name.clone();
        // Dropping runs outside any runtime guarantee (even while a failed test unwinds): use a thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(admin) = PgPool::connect(&admin_url()).await {
                    let _ =
                        sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                            .execute(&admin)
                            .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
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
