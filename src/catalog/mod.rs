//! The catalog: organizations and datasets, their pages, search, and importing the exchange format.

pub mod db;
pub mod duo;
pub mod handlers;
pub mod import;
pub mod index;
pub mod metadata;
pub mod model;
pub mod organizations;
pub mod related;
pub mod search;
pub mod textindex;
pub mod validate;
pub mod watch;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The public catalog pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::home))
        .route("/datasets", get(handlers::list_datasets))
        .route("/datasets.csv", get(handlers::export_csv))
        .route("/catalog.jsonld", get(handlers::dcat_catalog))
        .route("/datasets/{slug}", get(handlers::show_dataset))
        .route("/organizations", get(handlers::list_organizations))
        .route("/organizations/{slug}", get(handlers::show_organization))
}
