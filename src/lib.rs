//! radportal: a self-hosted portal for AI-radiology data — a searchable catalog of imaging data sources
//! and governed access to the institution's controlled datasets.

#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod state;
pub mod validation;
pub mod web;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::AppError;
pub use state::AppState;

/// The whole application as one router: every domain's routes, the fallback and the middleware.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(catalog::router())
        .merge(api::router())
        .merge(auth::router())
        .merge(health::router())
        .fallback(web::not_found);
    web::middleware::apply(routes, &state.config).with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains open requests.
///
/// Tests and production start the portal through this one function.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
