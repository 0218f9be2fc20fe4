//! Machine interfaces: the JSON API under `/api/v1` with its OpenAPI document, and the CKAN-compatible
//! Action API under `/api/3/action` for existing CKAN clients and harvesters.

pub mod ckan;
pub mod error;
pub mod model;
pub mod openapi;
pub mod v1;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub use error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets", get(v1::list_datasets))
        .route("/api/v1/datasets/{slug}", get(v1::show_dataset))
        .route("/api/v1/organizations", get(v1::list_organizations))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1", get(v1::index))
        .route("/api/v1/{*rest}", get(v1::not_found).post(v1::not_found))
        .merge(ckan::router())
}
