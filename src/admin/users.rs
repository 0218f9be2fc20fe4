//! Administering accounts: the user list, one user's page, disabling and enabling, the admin flag.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::admin::{disable_user, enable_user, set_admin_flag};
use crate::auth::db::{self, ApiToken, UserRow};
use crate::auth::model::{Credential, User};
use crate::auth::session;
use crate::error::AppError;
use crate::format::datetime;
use crate::pagination::{MAX_PAGE, Pagination};
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListParams {
    q: String,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub q: String,
    pub rows: Vec<UserRow>,
    pub total: i64,
    pub pagination: Pagination,
}

impl UsersPage {
    fn when(&self, user: &User) -> String {
        datetime(user.created_at)
    }

    fn page_href(&self, page: i64) -> String {
        url::form_urlencoded::Serializer::new("/admin/users?".to_owned())
            .append_pair("q", &self.q)
            .append_pair("page", &page.to_string())
            .finish()
    }
}

const PER_PAGE: i64 = 50;
/// The longest search text looked for, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// `GET /admin/users`: accounts, searched and paged.
pub async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let q: String = params.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let page = params
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_PAGE);
    let (rows, total) = db::list_users(&state.db, &q, PER_PAGE, (page - 1) * PER_PAGE).await?;
    render(&UsersPage {
        layout: Layout::new("Users", Nav::None).with_user(Some(&admin)),
        q,
        pagination: Pagination::new(page, PER_PAGE, total),
        rows,
        total,
    })
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    pub layout: Layout,
    pub user: User,
    pub is_self: bool,
    pub sessions: i64,
    pub credentials: Vec<Credential>,
    pub tokens: Vec<ApiToken>,
    pub today: time::Date,
    pub requests: Vec<crate::access::model::RequestSummary>,
    pub grants: Vec<crate::access::model::Grant>,
    pub now: time::OffsetDateTime,
}

impl UserPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

/// `GET /admin/users/{id}`: one account with its sessions, credentials, tokens, requests and grants.
pub async fn show(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = db::find_user(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    render(&UserPage {
        layout: Layout::new(format!("User: {}", user.name), Nav::None).with_user(Some(&admin)),
        is_self: user.id == admin.id,
        sessions: session::count_for_user(&state.db, user.id).await?,
        credentials: db::list_credentials(&state.db, user.id).await?,
        tokens: db::list_api_tokens(&state.db, user.id).await?,
        today: time::OffsetDateTime::now_utc().date(),
        requests: crate::access::db::requests_of(&state.db, user.id).await?,
        grants: crate::access::db::grants_of(&state.db, user.id).await?,
        now: time::OffsetDateTime::now_utc(),
        user,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReasonForm {
    reason: String,
}

/// `POST /admin/users/{id}/disable`: disables the account with a reason.
pub async fn disable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, AppError> {
    disable_user(&state.db, admin.id, id, &form.reason).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

/// `POST /admin/users/{id}/enable`: lets a disabled account sign in again.
pub async fn enable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    enable_user(&state.db, admin.id, id).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AdminFlagForm {
    admin: String,
}

/// `POST /admin/users/{id}/admin`: grants or removes the administrator flag.
pub async fn set_admin(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Form(form): Form<AdminFlagForm>,
) -> Result<Response, AppError> {
    let make_admin = match form.admin.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(AppError::BadRequest(
                "Choose whether the account is an administrator.".to_owned(),
            ));
        }
    };
    set_admin_flag(&state.db, admin.id, id, make_admin).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}
