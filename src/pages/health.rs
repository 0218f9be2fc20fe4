//! Operational endpoints: `/healthz` (the process answers) and `/readyz` (the database answers).

use axum::extract::State;
use axum::http::StatusCode;

use crate::web::AppState;

/// The process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process can reach its database; 503 otherwise, so a load balancer stops sending traffic.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match sqlx::query("select 1").execute(&state.db).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
