//! radportal: a self-hosted portal for AI-radiology data — a searchable catalog of imaging data sources
//! and governed access to the institution's controlled datasets.

#![recursion_limit = "256"]

pub mod access;
pub mod admin;
pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod mail;
pub mod state;
pub mod validation;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::AppError;
pub use state::AppState;

/// Every route of the application, with its method and whether only administrators may use it.
pub fn routes() -> web::routes::Routes {
    web::routes::Routes::new()
        .merge(catalog::routes())
        .merge(api::routes())
        .merge(auth::routes())
        .merge(access::routes())
        .merge(health::routes())
        .merge(web::middleware::routes())
        .admin(admin::routes())
}

/// The whole application as one router: every domain's routes, the fallback and the middleware.
pub fn router(state: AppState) -> Router {
    let routes = routes().into_router(&state).fallback(web::not_found);
    web::middleware::apply(routes, &state.config).with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains open requests. The mail
/// worker runs alongside and stops with it.
///
/// Tests and production start the portal through this one function.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mailer = mail::Mailer::from_config(&state.config)?;
    let worker = tokio::spawn(mail::run_worker(
        state.clone(),
        mailer,
        state.config.outbox_poll,
    ));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    worker.abort();
    Ok(served?)
}
