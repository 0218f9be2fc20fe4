//! The one error type handlers return, and how each kind of failure is shown to the user.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::web::ErrorPage;

/// Everything a handler can fail with. The response never carries an internal message.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("template error: {0}")]
    Render(#[from] askama::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Database(error) if is_unavailable(error) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Render(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// What the user is told: specific for their own mistakes, generic for ours.
    pub fn public_message(&self) -> String {
        match self {
            Self::NotFound => "The page you asked for does not exist.".to_owned(),
            Self::BadRequest(message) | Self::Forbidden(message) => message.clone(),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => {
                "The portal cannot reach its database right now. Please try again in a moment."
                    .to_owned()
            }
            _ => {
                "Something went wrong on our side. It has been logged; please try again.".to_owned()
            }
        }
    }
}

/// Whether a database error means "the database is away" rather than "the query is wrong".
fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    ) || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("57P") || code.starts_with("08")))
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, %status, "request failed");
        }
        ErrorPage::new(status, self.public_message()).into_response()
    }
}
