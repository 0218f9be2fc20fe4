//! Errors of the machine interfaces, answered as JSON: `{"error": {"status", "code", "message", "parameter"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::catalog::search::ParamError;
use crate::error::AppError;

/// An error answered as JSON.
#[derive(Debug)]
pub enum ApiError {
    /// A query parameter cannot be used.
    Parameter(ParamError),
    /// Anything else, with the status and message the HTML pages would give.
    App(AppError),
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        Self::Parameter(error)
    }
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self::App(error.into())
    }
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Parameter(_) => StatusCode::BAD_REQUEST,
            Self::App(error) => error.status(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        let status = self.status();
        match self {
            Self::Parameter(error) => ErrorBody {
                status: status.as_u16(),
                code: "invalid_parameter",
                message: error.message.clone(),
                parameter: Some(error.parameter.clone()),
            },
            Self::App(error) => ErrorBody {
                status: status.as_u16(),
                code: match status {
                    StatusCode::NOT_FOUND => "not_found",
                    StatusCode::BAD_REQUEST => "bad_request",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    _ => "internal_error",
                },
                message: error.public_message(),
                parameter: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::App(error) = &self
            && status.is_server_error()
        {
            tracing::error!(%error, %status, "API request failed");
        }
        (status, Json(serde_json::json!({ "error": self.body() }))).into_response()
    }
}
