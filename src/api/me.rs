//! `/api/v1/me`: the account behind a personal API token. Reading needs any live token; changing the
//! profile needs a read-write one.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::auth::account::{check_profile, save_profile};
use crate::auth::db;
use crate::auth::model::{TokenScope, User};
use crate::validation::FieldErrors;
use crate::web::AppState;

/// Anything longer is no token of ours (they are 67 characters), and is refused without a query.
const MAX_TOKEN_LEN: usize = 200;

/// The caller of an API request, identified by `Authorization: Bearer <token>`.
pub struct TokenUser {
    pub user: User,
    pub scope: TokenScope,
}

impl TokenUser {
    /// Refuses the request unless the token may make changes.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.scope.can_write() {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(
                "This token is read-only; create a read-write token to make changes.".to_owned(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for TokenUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "Send a personal API token as 'Authorization: Bearer <token>'; create one on your account page."
                        .to_owned(),
                )
            })?;
        let invalid =
            || ApiError::Unauthorized("The token is unknown, expired or revoked.".to_owned());
        if !token.starts_with(db::API_TOKEN_PREFIX) || token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let (user, scope) = db::user_for_api_token(&state.db, token)
            .await?
            .ok_or_else(invalid)?;
        Ok(Self { user, scope })
    }
}

/// The account as the API shows it.
#[derive(Serialize)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub institution: String,
    pub orcid: Option<String>,
    pub role: &'static str,
    pub email_verified: bool,
    pub token_scope: TokenScope,
}

impl Me {
    fn new(user: &User, scope: TokenScope) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            institution: user.institution.clone(),
            orcid: user.orcid.clone(),
            role: match user.role() {
                crate::auth::model::Role::Admin => "admin",
                crate::auth::model::Role::Reviewer => "reviewer",
                crate::auth::model::Role::Researcher => "researcher",
            },
            email_verified: user.email_verified_at.is_some(),
            token_scope: scope,
        }
    }
}

/// `GET /api/v1/me`: the token's account.
pub async fn show(caller: TokenUser) -> Json<Me> {
    Json(Me::new(&caller.user, caller.scope))
}

/// Profile fields to change; those left out keep their value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeUpdate {
    name: Option<String>,
    institution: Option<String>,
    /// An ORCID iD, or an empty string to remove it.
    orcid: Option<String>,
}

/// `PATCH /api/v1/me`: changes profile fields (a read-write token).
pub async fn update(
    State(state): State<AppState>,
    caller: TokenUser,
    body: axum::body::Bytes,
) -> Result<Json<Me>, ApiError> {
    caller.require_write()?;
    let update: MeUpdate = serde_json::from_slice(&body).map_err(|error| {
        ApiError::App(crate::error::AppError::BadRequest(format!(
            "The body must be a JSON object with name, institution and/or orcid: {error}"
        )))
    })?;
    let user = &caller.user;
    let name = update.name.unwrap_or_else(|| user.name.clone());
    let institution = update
        .institution
        .unwrap_or_else(|| user.institution.clone());
    let orcid_text = update
        .orcid
        .unwrap_or_else(|| user.orcid.clone().unwrap_or_default());
    let mut errors = FieldErrors::default();
    let orcid = check_profile(&name, &institution, &orcid_text, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors.into_vec()));
    }
    save_profile(
        &state.db,
        user,
        name.trim(),
        institution.trim(),
        orcid.as_deref(),
    )
    .await?;
    let saved = db::find_user(&state.db, user.id)
        .await?
        .ok_or(crate::error::AppError::NotFound)?;
    Ok(Json(Me::new(&saved, caller.scope)))
}

/// A request as the API shows it to its applicant.
#[derive(Serialize)]
pub struct MyRequest {
    pub id: i64,
    pub state: crate::access::state::RequestState,
    pub project: String,
    pub committee: String,
    pub datasets: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<time::OffsetDateTime>,
}

/// `/api/v1/me/requests`: the token holder's requests.
pub async fn requests(
    State(state): State<AppState>,
    caller: TokenUser,
) -> Result<Json<Vec<MyRequest>>, ApiError> {
    let requests = crate::access::db::requests_of(&state.db, caller.user.id).await?;
    Ok(Json(
        requests
            .into_iter()
            .map(|r| MyRequest {
                id: r.id,
                state: r.state,
                project: r.project_title,
                committee: r.dac_name,
                datasets: r.dataset_titles,
                submitted_at: r.submitted_at,
                decided_at: r.decided_at,
            })
            .collect(),
    ))
}

/// A grant as the API shows it to its holder.
#[derive(Serialize)]
pub struct MyGrant {
    pub id: i64,
    pub dataset: String,
    pub title: String,
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    pub request_id: i64,
}

/// `/api/v1/me/grants`: the token holder's grants.
pub async fn grants(
    State(state): State<AppState>,
    caller: TokenUser,
) -> Result<Json<Vec<MyGrant>>, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let grants = crate::access::db::grants_of(&state.db, caller.user.id).await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|g| MyGrant {
                status: g.status(now).label(),
                id: g.id,
                dataset: g.slug,
                title: g.title,
                expires_at: g.expires_at,
                request_id: g.request_id,
            })
            .collect(),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EntitlementParams {
    dataset: Option<String>,
}

/// `/api/v1/entitlements`: who may use which controlled dataset now, for data hosts (a token with the
/// data-host scope).
pub async fn entitlements(
    State(state): State<AppState>,
    caller: TokenUser,
    axum::extract::Query(params): axum::extract::Query<EntitlementParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if caller.scope != TokenScope::DataHost {
        return Err(ApiError::InsufficientScope(
            "The entitlements API needs a data-host token; an administrator can create one."
                .to_owned(),
        ));
    }
    let dataset = params
        .dataset
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let entitlements = crate::access::db::entitlements(&state.db, dataset).await?;
    Ok(Json(serde_json::json!({
        "generated_at": crate::format::rfc3339(time::OffsetDateTime::now_utc()),
        "count": entitlements.len(),
        "entitlements": entitlements,
    })))
}
