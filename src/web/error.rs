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

/// Counts what operators watch for in a failed request: one that gave up waiting for a database
/// connection. Each interface's answer to an error calls it once.
pub fn record(error: &AppError) {
    if matches!(error, AppError::Database(sqlx::Error::PoolTimedOut)) {
        crate::metrics::db_acquire_timed_out();
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
        record(&self);
        if status.is_server_error() {
            tracing::error!(error = %cause_chain(&self), %status, "request failed");
        }
        ErrorPage::new(status, public_message(&self)).into_response()
    }
}

/// An error with every cause under it, for the log: `outer: inner: innermost`.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_carries_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = AppError::Database(sqlx::Error::Io(io));
        let chain = cause_chain(&error);
        assert!(chain.starts_with("database error"), "{chain}");
        assert!(chain.contains("connection refused"), "{chain}");
        let nested = AppError::Internal(
            anyhow::anyhow!("innermost")
                .context("middle")
                .context("outer"),
        );
        let chain = cause_chain(&nested);
        assert!(
            chain.contains("outer") && chain.contains("middle") && chain.contains("innermost"),
            "{chain}"
        );
    }
}
