//! Signing in through an institution's provider: the sign-in page's link sends the browser there,
//! and the provider sends it back to the callback, which completes the sign-in or says plainly why
//! not. The start is a link, not a form: a browser refuses to follow a form's redirect to another
//! origin under the portal's `form-action 'self'` policy.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::MessagePage;
use crate::auth::oidc::{self, Callback, SignInRefusal};
use crate::auth::session;
use crate::config::OidcProvider;
use crate::error::AppError;
use crate::web::extract::session_token;
use crate::web::{AppState, render};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartParams {
    next: Option<String>,
}

/// The configured provider named in the URL.
fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a OidcProvider, AppError> {
    state.config.oidc_provider(id).ok_or(AppError::NotFound)
}

/// `GET /sign-in/oidc/{provider}`: sends the browser to the provider to sign in.
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<StartParams>,
) -> Result<Response, AppError> {
    let provider = provider(&state, &id)?;
    // Empty when there is nowhere to return to: the landing then depends on who signs in.
    let next = crate::web::redirect::safe_next(params.next.as_deref(), "");
    match oidc::start(
        &state.db,
        &state.oidc,
        provider,
        &state.config.base_url,
        &next,
    )
    .await
    {
        Ok(started) => Ok((
            [(
                header::SET_COOKIE,
                oidc::flow_cookie(&started.state, state.is_https()),
            )],
            Redirect::to(&started.authorization_url),
        )
            .into_response()),
        Err(refusal) => refused(provider, refusal),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackParams {
    code: String,
    state: String,
    error: String,
}

/// The sign-in's `state` in the browser's cookies.
fn browser_state(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(oidc::flow_from_cookies)
}

/// `GET /sign-in/oidc/{provider}/callback`: the provider's answer; signs in, or says why not.
pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let provider = provider(&state, &id)?;
    if !params.error.is_empty() {
        // The provider's error code, kept to the characters its specification uses.
        let code: String = params
            .error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(60)
            .collect();
        return refused(provider, SignInRefusal::ProviderSaidNo(code));
    }
    if params.code.is_empty() || params.state.is_empty() {
        return refused(provider, SignInRefusal::UnknownState);
    }
    let callback = Callback {
        state: &params.state,
        code: &params.code,
        browser_state: browser_state(&headers),
        old_session: session_token(&headers),
    };
    match oidc::finish(
        &state.db,
        &state.oidc,
        provider,
        &state.config.base_url,
        callback,
    )
    .await
    {
        Ok(signed_in) => Ok((
            AppendHeaders([
                (
                    header::SET_COOKIE,
                    session::cookie(&signed_in.session, state.is_https()),
                ),
                (
                    header::SET_COOKIE,
                    oidc::clearing_flow_cookie(state.is_https()),
                ),
            ]),
            Redirect::to(
                &super::auth::after_second_step(&state, &signed_in.session, &signed_in.next)
                    .await?,
            ),
        )
            .into_response()),
        Err(refusal) => refused(provider, refusal),
    }
}

/// The page for a sign-in that did not sign anyone in, with the reason in plain words.
fn refused(provider: &OidcProvider, refusal: SignInRefusal) -> Result<Response, AppError> {
    let name = &provider.name;
    let logged = refusal.to_string();
    let (status, reason) = match refusal {
        SignInRefusal::Internal(error) => return Err(error),
        SignInRefusal::UnknownState => (
            StatusCode::BAD_REQUEST,
            "This sign-in is unknown, has expired, was already completed, or was started in another browser. Please start again from the sign-in page.".to_owned(),
        ),
        SignInRefusal::ProviderSaidNo(code) => (
            StatusCode::UNAUTHORIZED,
            format!("{name} did not sign you in (it answered “{code}”)."),
        ),
        SignInRefusal::Provider(_) => (
            StatusCode::BAD_GATEWAY,
            format!("{name} could not be reached, or did not answer as expected. Please try again in a few minutes; if it goes on, tell the portal's operators."),
        ),
        SignInRefusal::Token(reason) => (
            StatusCode::UNAUTHORIZED,
            format!("The answer from {name} could not be trusted: {reason}. Nobody was signed in."),
        ),
        SignInRefusal::UserinfoMismatch => (
            StatusCode::UNAUTHORIZED,
            format!("The answer from {name} could not be trusted: it described two different people. Nobody was signed in."),
        ),
        SignInRefusal::UnverifiedEmail => (
            StatusCode::FORBIDDEN,
            format!("An account here already uses your e-mail address, but {name} does not confirm that the address is verified, so the two cannot be joined. Ask {name} to verify your address, or sign in with the account's password."),
        ),
        SignInRefusal::NoEmail => (
            StatusCode::FORBIDDEN,
            format!("{name} did not share your e-mail address, which an account here needs. Ask {name} to release it to this portal."),
        ),
        SignInRefusal::Disabled => (
            StatusCode::FORBIDDEN,
            "This account has been disabled by the portal's administrators. Please contact them.".to_owned(),
        ),
    };
    tracing::warn!(provider = %provider.id, refusal = %logged, "sign-in through a provider refused");
    let page = MessagePage::new(
        &format!("Signing in with {name} did not work"),
        vec![reason],
        Some(("/sign-in", "Back to sign in")),
    );
    Ok((status, render(&page)?).into_response())
}
