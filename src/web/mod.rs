//! The HTTP machinery: the route table and its guard, middleware, extractors, the page layout, error
//! pages, uploads and static assets.

pub mod csrf;
pub mod edge;
pub mod enrolment;
pub mod error;
pub mod extract;
pub mod markdown;
pub mod metrics;
pub mod middleware;
pub mod notice;
pub mod redirect;
pub mod routes;
pub mod state;
pub mod upload;

pub use notice::Notice;
pub use state::AppState;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::AppError;

/// Which main navigation entry is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Home,
    Datasets,
    Organizations,
    None,
}

/// What every page's `base.html` reads: the title, the active navigation entry, who is signed in and
/// the notice after a redirect.
#[derive(Clone, Debug)]
pub struct Layout {
    pub title: String,
    pub nav: Nav,
    /// The search box in the header is prefilled with this.
    pub query: String,
    /// Fingerprint of the static files, for cache-busting their URLs.
    pub asset_version: &'static str,
    /// Who is signed in, for the header.
    pub user: Option<HeaderUser>,
    /// The message after a redirect, shown above the page's content.
    pub notice: Option<Notice>,
}

/// What the header shows of the signed-in account.
#[derive(Clone, Debug)]
pub struct HeaderUser {
    pub name: String,
    pub is_admin: bool,
    pub is_reviewer: bool,
    pub unread: i64,
    /// Datasets in the cart.
    pub cart: i64,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: Nav) -> Self {
        Self {
            title: title.into(),
            nav,
            query: String::new(),
            asset_version: middleware::asset_version(),
            user: None,
            notice: None,
        }
    }

    /// Shows `user` as signed in, in the header.
    pub fn with_user(mut self, user: Option<&crate::auth::model::User>) -> Self {
        self.user = user.map(|user| HeaderUser {
            name: user.name.clone(),
            is_admin: user.is_admin,
            is_reviewer: user.is_reviewer,
            unread: user.unread_notifications,
            cart: user.cart_items,
        });
        self
    }

    /// Shows `notice` above the page's content.
    pub fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.to_owned();
        self
    }

    pub fn is(&self, nav: Nav) -> bool {
        self.nav == nav
    }
}

/// Renders a template into an HTML response.
pub fn render(template: &impl Template) -> Result<Response, AppError> {
    Ok(Html(template.render()?).into_response())
}

/// The page shown for any error, with its status code.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub heading: String,
    pub message: String,
}

impl ErrorPage {
    pub fn new(status: StatusCode, message: String) -> Self {
        let heading = match status {
            StatusCode::NOT_FOUND => "Page not found".to_owned(),
            StatusCode::FORBIDDEN => "Not allowed".to_owned(),
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable".to_owned(),
            status if status.is_client_error() => "That request could not be handled".to_owned(),
            _ => "Something went wrong".to_owned(),
        };
        Self {
            layout: Layout::new(heading.clone(), Nav::None),
            status: status.as_u16(),
            heading,
            message,
        }
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(error) => {
                tracing::error!(%error, "cannot render the error page");
                (status, self.message).into_response()
            }
        }
    }
}

/// The fallback for every path no route matches.
pub async fn not_found() -> AppError {
    AppError::NotFound
}
