//! Accounts: e-mail addresses, password hashing, sessions, signing in and out, and who is asking.

pub mod db;
pub mod extract;
pub mod handlers;
pub mod model;
pub mod password;
pub mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/sign-in",
            get(handlers::sign_in_form).post(handlers::sign_in),
        )
        .route("/sign-out", post(handlers::sign_out))
        .route("/account", get(handlers::account))
}
