//! Two-factor sign-in on the account pages: setting up an authenticator app (the QR code and the
//! secret shown once, then a code to confirm), the recovery codes (shown once, replaceable), and
//! turning it off.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde::Deserialize;

use super::auth::code_refusal;
use crate::auth::model::User;
use crate::auth::two_factor::{self, Proven, Status};
use crate::error::AppError;
use crate::format::datetime;
use crate::validation::FieldErrors;
use crate::web::extract::{ClientAddr, CurrentUser};
use crate::web::{AppState, Layout, Nav, Notice, render};

pub use crate::web::enrolment::PATH;

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub status: Status,
    /// Whether the operator configured the key that two-factor sign-in needs.
    pub available: bool,
    /// Whether the operator requires a second factor for this account's role.
    pub required: bool,
    pub errors: FieldErrors,
}

impl TwoFactorPage {
    fn enabled_on(&self) -> String {
        self.status.enabled_at.map(datetime).unwrap_or_default()
    }
}

async fn two_factor_page(
    state: &AppState,
    user: &User,
    errors: FieldErrors,
) -> Result<TwoFactorPage, AppError> {
    Ok(TwoFactorPage {
        layout: Layout::new("Two-factor sign-in", Nav::None).with_user(Some(user)),
        status: two_factor::status(&state.db, user.id).await?,
        available: state.config.secret_key.is_some(),
        required: state.config.require_two_factor && two_factor::role_requires(user),
        errors,
    })
}

/// `GET /account/two-factor`: whether two-factor sign-in is on, and the forms to change it.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let mut page = two_factor_page(&state, &user, FieldErrors::default()).await?;
    page.layout = page.layout.with_notice(notice);
    render(&page)
}

#[derive(Template)]
#[template(path = "auth/two_factor_setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    /// The QR code of the `otpauth://` address, as a `data:` URL of an SVG image; `None` on a page
    /// that asks for the code again (the secret is shown only once).
    pub qr_code: Option<String>,
    pub secret: Option<String>,
    pub error: Option<String>,
}

impl SetupPage {
    fn new(user: &User, qr_code: Option<String>, secret: Option<String>) -> Self {
        Self {
            layout: Layout::new("Set up two-factor sign-in", Nav::None).with_user(Some(user)),
            qr_code,
            secret,
            error: None,
        }
    }

    /// The secret in groups of four, easier to type.
    fn grouped_secret(&self) -> String {
        self.secret
            .as_deref()
            .unwrap_or_default()
            .as_bytes()
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The QR code of `text` as an SVG image in a `data:` URL.
fn qr_data_url(text: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(anyhow::Error::from)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The portal's name in authenticator apps: its host.
fn issuer(state: &AppState) -> String {
    match state.config.base_url.host_str() {
        Some(host) => format!("radportal ({host})"),
        None => "radportal".to_owned(),
    }
}

/// `POST /account/two-factor/setup`: a new secret, shown this once with its QR code.
pub async fn begin_setup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    let Some(key) = state.config.secret_key.as_ref() else {
        return Err(AppError::BadRequest(
            "Two-factor sign-in is not switched on for this portal; please ask its operators."
                .to_owned(),
        ));
    };
    let Some(setup) = two_factor::begin(&state.db, key, &user, &issuer(&state)).await? else {
        return Ok(Redirect::to(PATH).into_response());
    };
    let page = SetupPage::new(
        &user,
        Some(qr_data_url(&setup.uri)?),
        Some(setup.secret_base32),
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "auth/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub layout: Layout,
    pub codes: Vec<String>,
    /// Whether two-factor sign-in was just turned on (rather than the codes replaced).
    pub just_enabled: bool,
}

fn recovery_codes_page(user: &User, codes: Vec<String>, just_enabled: bool) -> Response {
    let page = RecoveryCodesPage {
        layout: Layout::new("Your recovery codes", Nav::None).with_user(Some(user)),
        codes,
        just_enabled,
    };
    match render(&page) {
        Ok(body) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            body,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// A code typed into one of the forms (the two-factor page has two, whose fields need their own ids).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    #[serde(alias = "disable_code", alias = "regenerate_code")]
    code: String,
}

/// `POST /account/two-factor/confirm`: a code from the app turns two-factor sign-in on; the recovery
/// codes are shown this once.
pub async fn confirm_setup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientAddr(client): ClientAddr,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let key = state.config.secret_key.as_ref();
    match two_factor::confirm(&state.db, key, &user, &client, &form.code).await? {
        Proven::Done(codes) => Ok(recovery_codes_page(&user, codes, true)),
        Proven::NotSetUp => Ok(Redirect::to(PATH).into_response()),
        Proven::Throttled => {
            let (status, message) = code_refusal(&Proven::Throttled);
            let mut page = SetupPage::new(&user, None, None);
            page.error = Some(message);
            Ok((status, render(&page)?).into_response())
        }
        Proven::WrongCode | Proven::ReusedCode => {
            let mut page = SetupPage::new(&user, None, None);
            page.error = Some(
                "That code is not right. Enter the six digits your app shows now for this portal."
                    .to_owned(),
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

/// A refused code on the two-factor page, next to the form it was typed into.
async fn refused(
    state: &AppState,
    user: &User,
    field: &str,
    refusal: Proven<()>,
) -> Result<Response, AppError> {
    let (status, message) = code_refusal(&refusal);
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    let page = two_factor_page(state, user, errors).await?;
    let status = if status == StatusCode::UNAUTHORIZED {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    };
    Ok((status, render(&page)?).into_response())
}

/// `POST /account/two-factor/disable`: turns two-factor sign-in off after a code, unless the
/// operator requires it for the account's role.
pub async fn disable(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientAddr(client): ClientAddr,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if state.config.require_two_factor && two_factor::role_requires(&user) {
        let mut errors = FieldErrors::default();
        errors.add(
            "disable_code",
            "This portal requires two-factor sign-in for administrators and committee members, so it cannot be turned off. You can replace your recovery codes below.",
        );
        let page = two_factor_page(&state, &user, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let key = state.config.secret_key.as_ref();
    match two_factor::disable(&state.db, key, &user, &client, &form.code).await? {
        Proven::Done(()) => Ok(Redirect::to(&Notice::TwoFactorDisabled.on(PATH)).into_response()),
        Proven::NotSetUp => Ok(Redirect::to(PATH).into_response()),
        refusal => refused(&state, &user, "disable_code", refusal).await,
    }
}

/// `POST /account/two-factor/recovery-codes`: new recovery codes in place of the old ones, after a
/// code; shown this once.
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ClientAddr(client): ClientAddr,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let key = state.config.secret_key.as_ref();
    match two_factor::regenerate_recovery_codes(&state.db, key, &user, &client, &form.code).await? {
        Proven::Done(codes) => Ok(recovery_codes_page(&user, codes, false)),
        Proven::NotSetUp => Ok(Redirect::to(PATH).into_response()),
        refusal => refused(&state, &user, "regenerate_code", refusal.without_value()).await,
    }
}
