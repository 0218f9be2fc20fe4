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
    /// No valid token was presented (401, with `WWW-Authenticate: Bearer`).
    Unauthorized(String),
    /// The token is valid but its scope does not allow this (403).
    InsufficientScope(String),
    /// The body's fields failed validation (422), each with its message.
    Invalid(Vec<crate::validation::FieldError>),
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<crate::validation::FieldError>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Parameter(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::App(error) => crate::web::error::status(error),
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
                fields: Vec::new(),
            },
            Self::Unauthorized(message) => ErrorBody {
                status: status.as_u16(),
                code: "unauthorized",
                message: message.clone(),
                parameter: None,
                fields: Vec::new(),
            },
            Self::InsufficientScope(message) => ErrorBody {
                status: status.as_u16(),
                code: "insufficient_scope",
                message: message.clone(),
                parameter: None,
                fields: Vec::new(),
            },
            Self::Invalid(fields) => ErrorBody {
                status: status.as_u16(),
                code: "invalid",
                message: "Some fields are not valid; see `fields`.".to_owned(),
                parameter: None,
                fields: fields.clone(),
            },
            Self::App(error) => ErrorBody {
                status: status.as_u16(),
                code: match status {
                    StatusCode::NOT_FOUND => "not_found",
                    StatusCode::BAD_REQUEST => "bad_request",
                    StatusCode::FORBIDDEN => "forbidden",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    _ => "internal_error",
                },
                message: crate::web::error::public_message(error),
                parameter: None,
                fields: Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::App(error) = &self {
            crate::web::error::record(error);
        }
        if let Self::App(error) = &self
            && status.is_server_error()
        {
            tracing::error!(error = %crate::web::error::cause_chain(error), %status, "API request failed");
        }
        let mut response =
            (status, Json(serde_json::json!({ "error": self.body() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"radportal\""),
            );
        }
        response
    }
}
