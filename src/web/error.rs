//! How each kind of [`AppError`] is shown: its HTTP status, the message the user reads, and the error
//! page around it. 5xx answers are logged; their bodies never carry an internal message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ErrorPage;
pub use crate::error::AppError;

/// The HTTP status for `error`.
pub fn status(error: &AppError) -> StatusCode {
    match error {
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        error if error.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Database(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the user is told: specific for their own mistakes, generic for ours.
pub fn public_message(error: &AppError) -> String {
    match error {
        AppError::NotFound => "The page you asked for does not exist.".to_owned(),
        AppError::BadRequest(message) | AppError::Forbidden(message) => message.clone(),
        error if error.is_unavailable() => {
            "The portal cannot reach its database right now. Please try again in a moment."
                .to_owned()
        }
        _ => "Something went wrong on our side. It has been logged; please try again.".to_owned(),
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(error).context("cannot render a template"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status(&self);
        if status.is_server_error() {
            tracing::error!(error = %self, %status, "request failed");
        }
        ErrorPage::new(status, public_message(&self)).into_response()
    }
}
