//! Who is asking: `MaybeUser` for pages anyone may see, `CurrentUser` for pages that need a signed-in
//! account (others are sent to sign in and brought back), `AdminUser` for the administrators' guard,
//! and `ClientAddr` for throttling.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::model::User;
use crate::auth::session;
use crate::error::AppError;
use crate::web::AppState;

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<User>);

/// A signed-in user; without one, the request is redirected to the sign-in page.
pub struct CurrentUser(pub User);

/// A signed-in administrator; others get 403 (or are sent to sign in).
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(Self(Some(user.clone())));
        }
        let Some(token) = session_token(&parts.headers) else {
            return Ok(Self(None));
        };
        let user = session::user(&state.db, token).await?;
        if let Some(user) = &user {
            // Later extractors of the same request reuse it instead of asking the database again.
            parts.extensions.insert(user.clone());
        }
        Ok(Self(user))
    }
}

/// Where to send someone who must sign in first, coming back to `parts`' URL afterwards.
fn sign_in_redirect(parts: &Parts) -> Response {
    let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    Redirect::to(&format!("/sign-in?{target}")).into_response()
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await {
            Ok(MaybeUser(Some(user))) => Ok(Self(user)),
            Ok(MaybeUser(None)) => Err(sign_in_redirect(parts)),
            Err(error) => Err(error.into_response()),
        }
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(Self(user))
        } else {
            Err(
                AppError::Forbidden("Only administrators may use this page.".to_owned())
                    .into_response(),
            )
        }
    }
}

/// The client's network address, for throttling: the peer address, or the last `X-Forwarded-For`
/// entry when the portal is configured to sit behind a trusted proxy.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_proxy
            && let Some(forwarded) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .rfind(|entry| !entry.is_empty())
        {
            return Ok(Self(forwarded.to_owned()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(Self(peer))
    }
}

/// The session token of a request, from any of its `Cookie` headers.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(session::token_from_cookies)
}
