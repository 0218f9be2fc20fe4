//! When the operator requires a second factor for administrators and committee members, such an
//! account that signed in with its password and has not set one up is sent to set it up before it
//! may do anything else: every page but the setup pages and signing out answers with a redirect
//! there. A session signed in through an institution's provider is the provider's to secure.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::extract::session_token;
use super::state::AppState;
use crate::auth::{session, two_factor};
use crate::error::AppError;

/// Where an account's two-factor settings live, and where accounts that must set it up are sent.
pub const PATH: &str = "/account/two-factor";

/// What an account that must set up a second factor may still reach.
fn is_exempt(path: &str) -> bool {
    path == PATH
        || path.starts_with("/account/two-factor/")
        || path == "/sign-out"
        || path.starts_with("/static/")
        // The machine interfaces take tokens, not the session's authority.
        || path.starts_with("/api/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware. The account it looks up is kept for the request's handler.
pub async fn require_second_factor(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !state.config.require_two_factor || is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(token) = session_token(request.headers()) else {
        return next.run(request).await;
    };
    let user = match session::user(&state.db, token).await {
        Ok(Some(user)) => user,
        Ok(None) => return next.run(request).await,
        Err(error) => return AppError::from(error).into_response(),
    };
    if two_factor::role_requires(&user) {
        let must_enrol = async {
            Ok::<_, sqlx::Error>(
                session::provider(&state.db, token).await?.is_none()
                    && !two_factor::is_enabled(&state.db, user.id).await?,
            )
        };
        match must_enrol.await {
            Ok(false) => {}
            Ok(true) => return Redirect::to(PATH).into_response(),
            Err(error) => return AppError::from(error).into_response(),
        }
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}
