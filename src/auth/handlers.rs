//! Signing in and out, and the account page.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{CurrentUser, MaybeUser};
use super::model::User;
use super::{db, password, session};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::{Layout, Nav, render};

#[derive(Template)]
#[template(path = "auth/sign_in.html")]
pub struct SignInPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Only a path on this site may be returned to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

pub async fn sign_in_form(
    MaybeUser(user): MaybeUser,
    Query(params): Query<NextParam>,
) -> Result<Response, AppError> {
    let next = safe_next(params.next.as_deref());
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    render(&SignInPage {
        layout: Layout::new("Sign in", Nav::None),
        email: String::new(),
        next,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim();
    let found = if email.is_empty() || email.len() > 254 || form.password.len() > 1024 {
        None
    } else {
        db::find_for_sign_in(&state.db, email).await?
    };
    // The same work and the same answer whether or not the address has an account.
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, password::UNKNOWN_USER_HASH.to_owned()),
    };
    let matches = password::verify(form.password, stored).await?;
    let user = match user {
        Some(user) if matches && user.disabled_at.is_none() => user,
        _ => {
            let page = SignInPage {
                layout: Layout::new("Sign in", Nav::None),
                email: email.to_owned(),
                next,
                error: Some("The e-mail address or the password is not right.".to_owned()),
            };
            return Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response());
        }
    };
    // A new session at every sign-in: a token planted before sign-in is worth nothing after it.
    if let Some(old) = session::token_from_headers(&headers) {
        session::delete(&state.db, old).await?;
    }
    let token = session::create(&state.db, user.id).await?;
    let secure = state.config.base_url.scheme() == "https";
    Ok((
        [(header::SET_COOKIE, session::cookie(&token, secure))],
        Redirect::to(&next),
    )
        .into_response())
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = session::token_from_headers(&headers) {
        session::delete(&state.db, token).await?;
    }
    let secure = state.config.base_url.scheme() == "https";
    Ok((
        [(header::SET_COOKIE, session::clearing_cookie(secure))],
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "auth/account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub user: User,
}

pub async fn account(CurrentUser(user): CurrentUser) -> Result<Response, AppError> {
    render(&AccountPage {
        layout: Layout::new("Your account", Nav::None),
        user,
    })
}
