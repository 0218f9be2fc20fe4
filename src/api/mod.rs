//! Machine interfaces: the JSON API under `/api/v1` with its OpenAPI document, and the CKAN-compatible
//! Action API under `/api/3/action` for existing CKAN clients and harvesters.

pub mod ckan;
pub mod error;
pub mod me;
pub mod model;
pub mod openapi;
pub mod v1;

use crate::web::routes::Routes;

pub use error::ApiError;

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/datasets", v1::list_datasets)
        .get("/api/v1/datasets/{slug}", v1::show_dataset)
        .get("/api/v1/organizations", v1::list_organizations)
        .get("/api/v1/openapi.json", openapi::document)
        .get("/api/v1/me", me::show)
        .patch("/api/v1/me", me::update)
        .get("/api/v1/me/requests", me::requests)
        .get("/api/v1/me/grants", me::grants)
        .get("/api/v1/entitlements", me::entitlements)
        .get("/api/v1", v1::index)
        .get("/api/v1/{*rest}", v1::not_found)
        .post("/api/v1/{*rest}", v1::not_found)
        .merge(ckan::routes())
}
