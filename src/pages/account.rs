//! The researcher's own account: profile, password, sessions, upstream credentials, personal API
//! tokens, a download of their data, closing the account, and the privacy notice.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::account::{self, check_new_password, check_profile};
use crate::auth::credentials::{self, CredentialText};
use crate::auth::db::{self, ApiToken, NewCredential};
use crate::auth::model::{CREDENTIAL_KINDS, Credential, TokenScope, User};
use crate::auth::tokens;
use crate::auth::{password, session};
use crate::error::AppError;
use crate::format::datetime;
use crate::validation::FieldErrors;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::{AppState, Layout, Nav, Notice, render, upload};

#[derive(Template)]
#[template(path = "auth/account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub user: User,
    pub credentials: Vec<Credential>,
    pub sessions: i64,
    pub live_tokens: usize,
    pub today: time::Date,
    /// Whether two-factor sign-in is on.
    pub two_factor: bool,
    /// Whether the account has a password here (an account made by an institution's sign-in has
    /// none).
    pub has_password: bool,
}

impl AccountPage {
    fn joined(&self) -> String {
        datetime(self.user.created_at)
    }
}

/// `GET /account`: the profile, credentials, sessions and tokens at a glance.
pub async fn account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let credentials = db::list_credentials(&state.db, user.id).await?;
    let sessions = session::count_for_user(&state.db, user.id).await?;
    let now = OffsetDateTime::now_utc();
    let live_tokens = db::list_api_tokens(&state.db, user.id)
        .await?
        .iter()
        .filter(|token| token.is_live(&now))
        .count();
    render(&AccountPage {
        layout: Layout::new("Your account", Nav::None)
            .with_user(Some(&user))
            .with_notice(notice),
        credentials,
        sessions,
        live_tokens,
        today: now.date(),
        two_factor: crate::auth::two_factor::is_enabled(&state.db, user.id).await?,
        has_password: db::password_hash(&state.db, user.id).await?.is_some(),
        user,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    pub name: String,
    pub institution: String,
    pub orcid: String,
}

#[derive(Template)]
#[template(path = "auth/profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub form: ProfileForm,
    pub errors: FieldErrors,
}

/// `GET /account/profile`: the profile form.
pub async fn profile_form(CurrentUser(user): CurrentUser) -> Result<Response, AppError> {
    render(&ProfilePage {
        layout: Layout::new("Edit your profile", Nav::None).with_user(Some(&user)),
        form: ProfileForm {
            name: user.name,
            institution: user.institution,
            orcid: user.orcid.unwrap_or_default(),
        },
        errors: FieldErrors::default(),
    })
}

/// `POST /account/profile`: saves the profile.
pub async fn update_profile(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<ProfileForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let orcid = check_profile(&form.name, &form.institution, &form.orcid, &mut errors);
    if !errors.is_empty() {
        let page = ProfilePage {
            layout: Layout::new("Edit your profile", Nav::None).with_user(Some(&user)),
            form,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    account::save_profile(
        &state.db,
        &user,
        form.name.trim(),
        form.institution.trim(),
        orcid.as_deref(),
    )
    .await?;
    Ok(Redirect::to(&Notice::ProfileSaved.on("/account")).into_response())
}

#[derive(Template)]
#[template(path = "auth/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub min_length: usize,
}

/// `GET /account/password`: the form to change the password.
pub async fn password_form(CurrentUser(user): CurrentUser) -> Result<Response, AppError> {
    render(&PasswordPage {
        layout: Layout::new("Change your password", Nav::None).with_user(Some(&user)),
        errors: FieldErrors::default(),
        min_length: password::MIN_LENGTH,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
}

/// `POST /account/password`: changes the password; other sessions end, this one is renewed.
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if !account::password_matches(&state.db, user.id, form.current_password).await? {
        errors.add("current_password", "This is not your current password.");
    }
    check_new_password(
        &form.password,
        &form.password_confirm,
        &user.email,
        &user.name,
        &mut errors,
    );
    if !errors.is_empty() {
        let page = PasswordPage {
            layout: Layout::new("Change your password", Nav::None).with_user(Some(&user)),
            errors,
            min_length: password::MIN_LENGTH,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    // Every other session ends; this browser gets a fresh one.
    let token =
        account::change_password(&state.db, &state.config.base_url, &user, form.password).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::cookie(&token, state.is_https()),
        )],
        Redirect::to(&Notice::PasswordChanged.on("/account")),
    )
        .into_response())
}

/// `POST /account/sign-out-everywhere`: ends every session, this one too.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    account::sign_out_everywhere(&state.db, user.id).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::clearing_cookie(state.is_https()),
        )],
        Redirect::to(&Notice::SignedOutEverywhere.on("/sign-in")),
    )
        .into_response())
}

/// The researcher's own data as one JSON file.
pub async fn export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    let data = account::export(&state.db, &user).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(anyhow::Error::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"radportal-account.json\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "auth/close.html")]
pub struct ClosePage {
    pub layout: Layout,
    pub errors: FieldErrors,
}

/// `GET /account/close`: what closing means, and the form to confirm it.
pub async fn close_form(CurrentUser(user): CurrentUser) -> Result<Response, AppError> {
    render(&ClosePage {
        layout: Layout::new("Close your account", Nav::None).with_user(Some(&user)),
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CloseForm {
    password: String,
    confirm: String,
}

/// `POST /account/close`: closes the account after the password and a typed confirmation.
pub async fn close(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CloseForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if !account::password_matches(&state.db, user.id, form.password).await? {
        errors.add("password", "This is not your current password.");
    }
    if form.confirm.trim() != "CLOSE" {
        errors.add("confirm", "Type CLOSE in capitals to confirm.");
    }
    if errors.is_empty() && account::is_only_admin(&state.db, &user).await? {
        errors.add(
            "confirm",
            "You are the only administrator. Make someone else an administrator first.",
        );
    }
    if !errors.is_empty() {
        let page = ClosePage {
            layout: Layout::new("Close your account", Nav::None).with_user(Some(&user)),
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    account::close(&state.db, user.id).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::clearing_cookie(state.is_https()),
        )],
        Redirect::to(&Notice::AccountClosed.on("/sign-in")),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub layout: Layout,
}

/// `GET /privacy`: the privacy notice.
pub async fn privacy(MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    render(&PrivacyPage {
        layout: Layout::new("Privacy notice", Nav::None).with_user(user.as_ref()),
    })
}

#[derive(Template)]
#[template(path = "auth/credentials.html")]
pub struct CredentialsPage {
    pub layout: Layout,
    pub credentials: Vec<Credential>,
    pub kinds: &'static [&'static str],
    pub form: CredentialInput,
    pub errors: FieldErrors,
    pub today: time::Date,
    pub max_mb: usize,
}

/// What the credential form holds, as typed.
#[derive(Default)]
pub struct CredentialInput {
    pub kind: String,
    pub issuer: String,
    pub identifier: String,
    pub issued_on: String,
    pub expires_on: String,
}

async fn credentials_page(
    state: &AppState,
    user: &User,
    form: CredentialInput,
    errors: FieldErrors,
) -> Result<CredentialsPage, AppError> {
    Ok(CredentialsPage {
        layout: Layout::new("Upstream credentials", Nav::None).with_user(Some(user)),
        credentials: db::list_credentials(&state.db, user.id).await?,
        kinds: CREDENTIAL_KINDS,
        form,
        errors,
        today: OffsetDateTime::now_utc().date(),
        max_mb: upload::MAX_UPLOAD_BYTES / (1024 * 1024),
    })
}

/// `GET /account/credentials`: the credentials and the form to add one.
pub async fn credentials(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    render(
        &credentials_page(
            &state,
            &user,
            CredentialInput::default(),
            FieldErrors::default(),
        )
        .await?,
    )
}

/// Reads the credential form (multipart, for the optional evidence file).
async fn read_credential_form(
    mut multipart: Multipart,
    errors: &mut FieldErrors,
) -> (CredentialInput, Option<(String, Vec<u8>)>) {
    let mut input = CredentialInput::default();
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                let message = if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    format!(
                        "The file is too large; the limit is {} MB.",
                        upload::MAX_UPLOAD_BYTES / (1024 * 1024)
                    )
                } else {
                    "The form could not be read; please try again.".to_owned()
                };
                errors.add("evidence", message);
                break;
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "evidence" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            match field.bytes().await {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) if bytes.len() > upload::MAX_UPLOAD_BYTES => errors.add(
                    "evidence",
                    format!(
                        "The file is too large; the limit is {} MB.",
                        upload::MAX_UPLOAD_BYTES / (1024 * 1024)
                    ),
                ),
                Ok(bytes) => file = Some((file_name, bytes.to_vec())),
                Err(_) => errors.add(
                    "evidence",
                    format!(
                        "The file could not be received (the limit is {} MB).",
                        upload::MAX_UPLOAD_BYTES / (1024 * 1024)
                    ),
                ),
            }
            continue;
        }
        let value = field.text().await.unwrap_or_default();
        match name.as_str() {
            "kind" => input.kind = value,
            "issuer" => input.issuer = value,
            "identifier" => input.identifier = value,
            "issued_on" => input.issued_on = value,
            "expires_on" => input.expires_on = value,
            _ => {}
        }
    }
    (input, file)
}

/// `POST /account/credentials`: adds a credential with its optional evidence file.
pub async fn add_credential(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let (input, file) = read_credential_form(multipart, &mut errors).await;
    let dates = credentials::check(
        &CredentialText {
            kind: &input.kind,
            issuer: &input.issuer,
            identifier: &input.identifier,
            issued_on: &input.issued_on,
            expires_on: &input.expires_on,
        },
        &mut errors,
    );
    let evidence = match &file {
        Some((name, bytes)) => match upload::sniff(bytes) {
            Some(content_type) => Some((
                upload::safe_file_name(name, content_type),
                content_type,
                bytes,
            )),
            None => {
                errors.add("evidence", "Upload a PDF, PNG or JPEG file.");
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        let page = credentials_page(&state, &user, input, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    credentials::add(
        &state.db,
        user.id,
        &NewCredential {
            kind: input.kind.trim(),
            issuer: input.issuer.trim(),
            identifier: input.identifier.trim(),
            issued_on: dates.issued_on,
            expires_on: dates.expires_on,
            evidence: evidence.as_ref().map(|(name, content_type, bytes)| {
                (name.as_str(), *content_type, bytes.as_slice())
            }),
        },
    )
    .await?;
    Ok(Redirect::to(&Notice::CredentialAdded.on("/account")).into_response())
}

/// `POST /account/credentials/{id}/delete`: removes one of the account's credentials.
pub async fn delete_credential(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !credentials::remove(&state.db, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&Notice::CredentialRemoved.on("/account")).into_response())
}

/// A credential's evidence file, for its owner, administrators, and reviewers on a committee the owner
/// has asked for access. Anyone else is told it does not exist.
pub async fn evidence(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let evidence = db::credential_evidence(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let allowed = evidence.owner_id == user.id
        || user.is_admin
        || crate::access::db::reviews_applicant(&state.db, user.id, evidence.owner_id).await?;
    if !allowed {
        return Err(AppError::NotFound);
    }
    Ok(upload::download(
        &evidence.name,
        &evidence.content_type,
        evidence.bytes,
    ))
}

#[derive(Template)]
#[template(path = "auth/tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<ApiToken>,
    pub scopes: Vec<TokenScope>,
    pub name: String,
    pub errors: FieldErrors,
    /// A token just created, shown this once.
    pub created: Option<String>,
    pub now: OffsetDateTime,
}

impl TokensPage {
    fn when(&self, at: &OffsetDateTime) -> String {
        datetime(*at)
    }
}

async fn tokens_page(
    state: &AppState,
    user: &User,
    name: String,
    errors: FieldErrors,
    created: Option<String>,
) -> Result<TokensPage, AppError> {
    Ok(TokensPage {
        layout: Layout::new("API tokens", Nav::None).with_user(Some(user)),
        tokens: db::list_api_tokens(&state.db, user.id).await?,
        scopes: TokenScope::available_to(user),
        name,
        errors,
        created,
        now: OffsetDateTime::now_utc(),
    })
}

/// `GET /account/tokens`: the API tokens and the form to create one.
pub async fn tokens(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    render(&tokens_page(&state, &user, String::new(), FieldErrors::default(), None).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    scope: String,
    days: String,
}

/// `POST /account/tokens`: creates a token and shows it this once.
pub async fn create_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let name = form.name.trim();
    let Some(settings) = tokens::check(&user, name, &form.scope, &form.days, &mut errors) else {
        let page = tokens_page(&state, &user, name.to_owned(), errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let (_, token) = tokens::create(&state.db, user.id, name, settings).await?;
    let page = tokens_page(
        &state,
        &user,
        String::new(),
        FieldErrors::default(),
        Some(token),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        render(&page)?,
    )
        .into_response())
}

/// `POST /account/tokens/{id}/revoke`: revokes one of the account's tokens.
pub async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !tokens::revoke(&state.db, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/account/tokens").into_response())
}
