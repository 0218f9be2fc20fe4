//! Who is asking: `MaybeUser` for pages anyone may see, `CurrentUser` for pages that need a signed-in
//! account (others are sent to sign in and brought back).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::model::User;
use super::session;
use crate::error::AppError;
use crate::state::AppState;

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<User>);

/// A signed-in user; without one, the request is redirected to the sign-in page.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = session::token_from_headers(&parts.headers);
        match token {
            Some(token) => Ok(Self(session::user(&state.db, token).await?)),
            None => Ok(Self(None)),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await {
            Ok(MaybeUser(Some(user))) => Ok(Self(user)),
            Ok(MaybeUser(None)) => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let target = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                Err(Redirect::to(&format!("/sign-in?{target}")).into_response())
            }
            Err(error) => Err(error.into_response()),
        }
    }
}
