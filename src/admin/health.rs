//! The catalog health page: datasets missing key facts, and likely duplicates.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::catalog::db::health::{self, Duplicate, Missing};
use crate::catalog::db::links::{self, Broken};
use crate::error::AppError;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

#[derive(Template)]
#[template(path = "admin/health.html")]
pub struct HealthPage {
    pub layout: Layout,
    pub missing: Vec<Missing>,
    pub duplicates: Vec<Duplicate>,
    pub broken: Vec<Broken>,
    pub link_check_on: bool,
}

pub async fn page(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response, AppError> {
    render(&HealthPage {
        layout: Layout::new("Catalog health", Nav::None).with_user(Some(&admin)),
        missing: health::missing_facts(&state.db).await?,
        duplicates: health::duplicates(&state.db).await?,
        broken: links::broken(&state.db).await?,
        link_check_on: state.config.link_check_hours > 0,
    })
}
