//! The shared application state handed to every handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::catalog::index::IndexHandle;
use crate::catalog::related::RelatedCache;
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
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        Self {
            db,
            config: Arc::new(config),
            search_index: Arc::new(IndexHandle::default()),
            related: Arc::new(RelatedCache::default()),
        }
    }
}
