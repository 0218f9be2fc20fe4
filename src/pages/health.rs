//! Operational endpoints: `/healthz` (the process answers) and `/readyz` (the database answers).

use axum::extract::State;
use axum::http::StatusCode;

use crate::web::AppState;

/// The process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process can reach its database; 503 otherwise, so a load balancer stops sending traffic.
/// Bounded by the readiness timeout, so the answer comes before the load balancer gives up.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let check = crate::db::ping(&state.db);
    match tokio::time::timeout(state.config.readyz_timeout, check).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
