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
pub mod metrics;
pub mod pagination;
pub mod validation;

pub mod cli;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;
pub use error::AppError;
pub use web::state::AppState;

/// Every route of the application, with its method and whether only administrators may use it.
pub fn routes() -> web::routes::Routes {
    web::routes::Routes::new()
        .merge(pages::routes())
        .merge(api::routes())
        .merge(web::middleware::routes())
        .merge(web::metrics::routes())
        .admin(admin::routes())
}

/// The whole application as one router: every domain's routes, the fallback and the middleware.
pub fn router(state: AppState) -> Router {
    let routes = routes().into_router(&state).fallback(web::not_found);
    web::middleware::apply(routes, &state).with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains: no new connection is
/// accepted, open requests finish (for at most the configured shutdown timeout), the background
/// jobs finish the item they are working on and stop, and the searches held in memory are written to
/// the search log. Returns once all of that is done.
///
/// With a separate metrics address configured, `/metrics` is served there too, until the same moment.
/// Tests and production start the portal through this one function.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics_listener = match state.config.metrics_listen {
        Some(address) => {
            let metrics_listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            tracing::info!(address = %metrics_listener.local_addr()?, "serving metrics");
            Some(metrics_listener)
        }
        None => None,
    };
    let context = jobs::JobContext::new(
        state.db.clone(),
        state.config.clone(),
        std::sync::Arc::new(mail::Mailer::from_config(&state.config)?),
    )
    .with_search_log(state.search_log.clone());
    let jobs = jobs::Jobs::start(context.clone(), jobs::all(&state.config));
    let shutdown_timeout = state.config.shutdown_timeout;

    // One flag that the signal raises and every part waits for.
    let (stop, stopping) = watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let signal = tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.send_replace(true);
        }
    });
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stopped| *stopped).await;
        }
    };

    let metrics_server = metrics_listener.map(|metrics_listener| {
        let app = web::metrics::router(state.clone());
        tokio::spawn(
            axum::serve(metrics_listener, app)
                .with_graceful_shutdown(stopped())
                .into_future(),
        )
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .into_future();
    let draining = async {
        let served = tokio::select! {
            served = serving => served,
            () = async { stopped().await; tokio::time::sleep(shutdown_timeout).await } => {
                tracing::warn!(
                    open_requests = metrics::requests_in_flight(),
                    timeout_secs = shutdown_timeout.as_secs(),
                    "requests still open at the shutdown timeout; closing their connections"
                );
                Ok(())
            }
        };
        // Serving may also end by itself (an error): the jobs stop then too.
        stop.send_replace(true);
        served
    };
    let jobs_stopped = async {
        stopped().await;
        jobs.shutdown().await;
    };
    let (served, ()) = tokio::join!(draining, jobs_stopped);
    // The searches made until the last request finished are written before `serve` returns.
    if let Err(error) = jobs::search_log::flush(&context).await {
        tracing::warn!(error = %format!("{error:#}"), "searches held at shutdown were not written");
    }
    signal.abort();
    if let Some(mut metrics_server) = metrics_server {
        // It stopped accepting with the rest; a scrape still running gets the same time as a request.
        let _ = tokio::time::timeout(shutdown_timeout, &mut metrics_server).await;
        metrics_server.abort();
    }
    Ok(served?)
}
