//! The shared application state handed to every handler.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;

/// Everything a handler may need: the database pool and the configuration.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        Self {
            db,
            config: Arc::new(config),
        }
    }
}
