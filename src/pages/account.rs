//! The researcher's own account: profile, password, sessions, upstream credentials, personal API
//! tokens, a download of their data, closing the account, and the privacy notice.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Target};
use crate::auth::account::{check_new_password, check_profile, save_profile};
use crate::auth::db::{self, ApiToken, NewCredential};
use crate::auth::model::{CREDENTIAL_KINDS, Credential, TokenScope, User};
use crate::auth::{password, session};
use crate::error::AppError;
use crate::format::datetime;
use crate::validation::FieldErrors;
use crate::web::AppState;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::{Layout, Nav, Notice, render, upload};

#[derive(Template)]
#[template(path = "auth/account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub user: User,
    pub credentials: Vec<Credential>,
    pub sessions: i64,
    pub live_tokens: usize,
    pub today: time::Date,
}

impl AccountPage {
    fn joined(&self) -> String {
        datetime(self.user.created_at)
    }
}

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
    save_profile(
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

/// Whether `given` is the account's current password.
async fn password_matches(state: &AppState, user: &User, given: String) -> Result<bool, AppError> {
    let stored = db::password_hash(&state.db, user.id)
        .await?
        .unwrap_or_else(|| password::UNKNOWN_USER_HASH.to_owned());
    if given.len() > 1024 {
        return Ok(false);
    }
    Ok(password::verify(given, stored).await?)
}

pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if !password_matches(&state, &user, form.current_password).await? {
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
    let hash = password::hash(form.password).await?;
    let mut tx = state.db.begin().await?;
    db::set_password(&mut *tx, user.id, &hash).await?;
    // Every other session ends; this browser gets a fresh one.
    session::delete_all_for_user(&mut *tx, user.id).await?;
    let token = session::create(&mut *tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        "account.password_changed",
        Target::User(user.id),
        json!({}),
    )
    .await?;
    crate::mail::enqueue(
        &mut *tx,
        &crate::auth::mails::password_changed(&state.config.base_url, &user.email, &user.name),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::cookie(&token, state.is_https()),
        )],
        Redirect::to(&Notice::PasswordChanged.on("/account")),
    )
        .into_response())
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    let ended = session::delete_all_for_user(&mut *tx, user.id).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        "account.signed_out_everywhere",
        Target::User(user.id),
        json!({"sessions": ended}),
    )
    .await?;
    tx.commit().await?;
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
    let mut conn = state.db.acquire().await?;
    let data = db::export_account(&mut conn, &user).await?;
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

pub async fn close(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CloseForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    if !password_matches(&state, &user, form.password).await? {
        errors.add("password", "This is not your current password.");
    }
    if form.confirm.trim() != "CLOSE" {
        errors.add("confirm", "Type CLOSE in capitals to confirm.");
    }
    if errors.is_empty() && user.is_admin && db::other_admins(&state.db, user.id).await? == 0 {
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
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        "account.closed",
        Target::User(user.id),
        json!({}),
    )
    .await?;
    db::close_account(&mut tx, user.id).await?;
    tx.commit().await?;
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

fn parse_date(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<time::Date> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(raw, &format) {
        Ok(date) => Some(date),
        Err(_) => {
            errors.add(field, "Enter a date as YYYY-MM-DD, e.g. 2026-03-31.");
            None
        }
    }
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

pub async fn add_credential(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let (input, file) = read_credential_form(multipart, &mut errors).await;
    let kind = input.kind.trim();
    if kind.is_empty() {
        errors.add(
            "kind",
            "Name the credential, e.g. PhysioNet credentialed user.",
        );
    } else if kind.chars().count() > 100 {
        errors.add("kind", "Use at most 100 characters.");
    }
    for (field, value) in [("issuer", &input.issuer), ("identifier", &input.identifier)] {
        if value.trim().chars().count() > 200 {
            errors.add(field, "Use at most 200 characters.");
        }
    }
    let issued_on = parse_date(&input.issued_on, "issued_on", &mut errors);
    let expires_on = parse_date(&input.expires_on, "expires_on", &mut errors);
    if let (Some(issued), Some(expires)) = (issued_on, expires_on)
        && expires < issued
    {
        errors.add("expires_on", "The expiry date is before the issue date.");
    }
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
    let mut tx = state.db.begin().await?;
    let id = db::add_credential(
        &mut *tx,
        user.id,
        &NewCredential {
            kind,
            issuer: input.issuer.trim(),
            identifier: input.identifier.trim(),
            issued_on,
            expires_on,
            evidence: evidence.as_ref().map(|(name, content_type, bytes)| {
                (name.as_str(), *content_type, bytes.as_slice())
            }),
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        "credential.added",
        Target::Credential(id),
        json!({"kind": kind, "expires_on": expires_on.map(|d| d.to_string()), "evidence": evidence.is_some()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&Notice::CredentialAdded.on("/account")).into_response())
}

pub async fn delete_credential(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    if !db::delete_credential(&mut *tx, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(user.id),
        "credential.removed",
        Target::Credential(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
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

/// Lifetimes offered for a new token, in days.
pub const TOKEN_DAYS: [i32; 4] = [7, 30, 90, 365];

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

pub async fn create_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let name = form.name.trim();
    if name.is_empty() {
        errors.add(
            "name",
            "Name the token after where you will use it, e.g. 'lab laptop'.",
        );
    } else if name.chars().count() > 100 {
        errors.add("name", "Use at most 100 characters.");
    }
    let scope = TokenScope::parse(&form.scope)
        .filter(|scope| TokenScope::available_to(&user).contains(scope));
    if scope.is_none() {
        errors.add("scope", "Choose read only, or read and write.");
    }
    let days = form
        .days
        .parse::<i32>()
        .ok()
        .filter(|d| TOKEN_DAYS.contains(d));
    if days.is_none() {
        errors.add(
            "days",
            "Choose how long the token works: 7, 30, 90 or 365 days.",
        );
    }
    let (Some(scope), Some(days), true) = (scope, days, errors.is_empty()) else {
        let page = tokens_page(&state, &user, name.to_owned(), errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let mut tx = state.db.begin().await?;
    let (id, token) = db::create_api_token(&mut *tx, user.id, name, scope, days).await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        "api_token.created",
        Target::ApiToken(id),
        json!({"name": name, "scope": scope.as_str(), "days": days}),
    )
    .await?;
    tx.commit().await?;
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

pub async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    if !db::revoke_api_token(&mut *tx, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut *tx,
        Some(user.id),
        "api_token.revoked",
        Target::ApiToken(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/account/tokens").into_response())
}
