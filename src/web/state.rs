//! The shared application state handed to every handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::catalog::index::IndexHandle;
use crate::catalog::related::RelatedCache;
use crate::catalog::watch::CatalogWatch;
use crate::config::Config;

/// Everything a handler may need: the database pool, the configuration and the search index.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    /// This instance's in-memory search index (reloaded when the catalog changes).
    pub search_index: Arc<IndexHandle>,
    /// Related datasets of recently viewed dataset pages.
    pub related: Arc<RelatedCache>,
    /// Recently viewed datasets, valid while the catalog version stays the same.
    pub datasets: Arc<crate::catalog::related::DatasetCache>,
    /// The catalog version, kept current by notifications.
    pub catalog_watch: Arc<CatalogWatch>,
}

impl AppState {
    /// The state for `db`; starts listening for catalog changes (so call it inside a Tokio runtime).
    pub fn new(db: PgPool, config: Config) -> Self {
        let catalog_watch = Arc::new(CatalogWatch::default());
        catalog_watch.spawn(db.clone());
        Self {
            db,
            config: Arc::new(config),
            search_index: Arc::new(IndexHandle::default()),
            related: Arc::new(RelatedCache::default()),
            datasets: Arc::new(crate::catalog::related::DatasetCache::default()),
            catalog_watch,
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
