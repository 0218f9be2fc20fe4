//! The catalog: organizations and datasets, their pages, search, and importing the exchange format.

pub mod db;
pub mod duo;
pub mod handlers;
pub mod import;
pub mod index;
pub mod links;
pub mod metadata;
pub mod model;
pub mod organizations;
pub mod related;
pub mod search;
pub mod textindex;
pub mod validate;
pub mod watch;

use crate::web::routes::Routes;

/// The public catalog pages.
pub fn routes() -> Routes {
    Routes::new()
        .get("/", handlers::home)
        .get("/datasets", handlers::list_datasets)
        .get("/datasets.csv", handlers::export_csv)
        .get("/catalog.jsonld", handlers::dcat_catalog)
        .get("/datasets/{slug}", handlers::show_dataset)
        .get("/organizations", handlers::list_organizations)
        .get("/organizations/{slug}", handlers::show_organization)
}
