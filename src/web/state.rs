//! The shared application state handed to every handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::catalog::index::IndexHandle;
use crate::catalog::related::RelatedCache;
use crate::catalog::search_log::SearchLog;
use crate::catalog::watch::CatalogWatch;
use crate::config::Config;

/// Everything a handler may need: the database pool, the configuration and the search index.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    /// This instance's in-memory search index (updated when the catalog changes).
    pub search_index: Arc<IndexHandle>,
    /// Related datasets of recently viewed dataset pages.
    pub related: Arc<RelatedCache>,
    /// Recently viewed datasets, valid while the catalog version stays the same.
    pub datasets: Arc<crate::catalog::related::DatasetCache>,
    /// The catalog version, kept current by notifications.
    pub catalog_watch: Arc<CatalogWatch>,
    /// Searches made on this instance and not yet written to the search log (a job writes them).
    pub search_log: Arc<SearchLog>,
    /// The institutions' sign-in providers: their discovery documents and keys, as last fetched.
    pub oidc: Arc<crate::auth::oidc::provider::Providers>,
}

impl AppState {
    /// The state for `db`; starts listening for catalog changes (so call it inside a Tokio runtime).
    pub fn new(db: PgPool, config: Config) -> Self {
        let catalog_watch = Arc::new(CatalogWatch::default());
        catalog_watch.spawn(db.clone());
        let search_index = Arc::new(IndexHandle::default());
        search_index.spawn_follower(db.clone(), Arc::clone(&catalog_watch));
        Self {
            db,
            search_log: Arc::new(SearchLog::new(config.search_log_days > 0)),
            config: Arc::new(config),
            search_index,
            related: Arc::new(RelatedCache::default()),
            datasets: Arc::new(crate::catalog::related::DatasetCache::default()),
            catalog_watch,
            oidc: Arc::new(crate::auth::oidc::provider::Providers::new()),
        }
    }

    /// Whether the portal is served over https (cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.config.base_url.scheme() == "https"
    }

    /// An absolute link to `path` (which starts with `/`) under the configured base URL.
    pub fn link(&self, path: &str) -> String {
        crate::format::link(&self.config.base_url, path)
    }
}
