//! Grants across the portal: search by holder or dataset, and revoke with a reason.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::access::db;
use crate::access::model::{Grant, GrantStatus};
use crate::error::AppError;
use crate::format::datetime;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

#[derive(Template)]
#[template(path = "admin/grants.html")]
pub struct GrantsPage {
    pub layout: Layout,
    pub q: String,
    pub live: bool,
    pub grants: Vec<(Grant, GrantStatus)>,
}

impl GrantsPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

/// The longest search text, in characters.
const MAX_QUERY_CHARS: usize = 200;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Params {
    q: String,
    live: Option<String>,
}

/// Grants matching the search, with a revoke form for each active one.
pub async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let q: String = params.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let live = params.live.is_some();
    let now = time::OffsetDateTime::now_utc();
    let grants = db::search_grants(&state.db, &q, live)
        .await?
        .into_iter()
        .map(|g| {
            let status = g.status(now);
            (g, status)
        })
        .collect();
    render(&GrantsPage {
        layout: Layout::new("Grants", Nav::None).with_user(Some(&admin)),
        q,
        live,
        grants,
    })
}
