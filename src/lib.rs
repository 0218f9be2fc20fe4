//! radportal: a self-hosted portal for AI-radiology data — a searchable catalog of imaging data sources
//! and governed access to the institution's controlled datasets.

#![recursion_limit = "256"]

// The HTTP layer: page handlers by area of the site, the administrators' pages, the machine
// interfaces, the background jobs, and the machinery they share.
pub mod admin;
pub mod api;
pub mod jobs;
pub mod pages;
pub mod web;

// The domains: models, SQL and operations, knowing nothing of HTTP.
pub mod access;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod mail;

// Foundations every layer uses.
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod format;
pub mod pagination;
pub mod validation;

pub mod cli;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::AppError;
pub use web::state::AppState;

/// Every route of the application, with its method and whether only administrators may use it.
pub fn routes() -> web::routes::Routes {
    web::routes::Routes::new()
        .merge(pages::routes())
        .merge(api::routes())
        .merge(web::middleware::routes())
        .admin(admin::routes())
}

/// The whole application as one router: every domain's routes, the fallback and the middleware.
pub fn router(state: AppState) -> Router {
    let routes = routes().into_router(&state).fallback(web::not_found);
    web::middleware::apply(routes, &state).with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains open requests. The
/// background jobs run alongside; after the last request they finish the run they are in, then stop.
///
/// Tests and production start the portal through this one function.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let context = jobs::JobContext {
        db: state.db.clone(),
        config: state.config.clone(),
        mailer: std::sync::Arc::new(mail::Mailer::from_config(&state.config)?),
    };
    let jobs = jobs::Jobs::start(context, jobs::all(&state.config));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    jobs.shutdown().await;
    Ok(served?)
}
