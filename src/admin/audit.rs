//! The audit log page: every administrative and account action and every workflow event, filtered by
//! actor, action, target and date range, exported as CSV, with the status of both hash chains.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::audit_log::{self, Entry, LogFilter};
use crate::error::AppError;
use crate::format::{datetime, rfc3339};
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

/// The filters, as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Filter {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub from: String,
    pub to: String,
    pub page: Option<String>,
}

impl Filter {
    fn date(raw: &str) -> Result<Option<time::Date>, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        crate::validation::parse_date(raw)
            .map(Some)
            .map_err(|message| AppError::BadRequest(format!("“{raw}”: {message}")))
    }

    /// The filter as the log is searched with: dates read, the target split into type and id.
    fn parse(&self) -> Result<LogFilter, AppError> {
        let (target_type, target_id) = match self.target.trim().split_once(':') {
            Some((kind, id)) => (kind.trim().to_owned(), id.trim().to_owned()),
            None => (self.target.trim().to_owned(), String::new()),
        };
        Ok(LogFilter {
            actor: self.actor.trim().to_owned(),
            action: self.action.trim().to_owned(),
            target_type,
            target_id,
            from: Self::date(&self.from)?,
            to: Self::date(&self.to)?,
        })
    }

    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &self.actor)
            .append_pair("action", &self.action)
            .append_pair("target", &self.target)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .finish()
    }
}

const PER_PAGE: i64 = 100;
/// The most lines one CSV export holds.
const MAX_CSV_LINES: i64 = 100_000;

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub filter: Filter,
    pub entries: Vec<Entry>,
    pub chain: crate::access::events::Verification,
    /// The audit log's own chain.
    pub log_chain: crate::audit::chain::Verification,
    pub page: i64,
    pub has_next: bool,
}

impl AuditPage {
    fn when(&self, at: &OffsetDateTime) -> String {
        datetime(*at)
    }

    fn csv_href(&self) -> String {
        format!("/admin/audit.csv?{}", self.filter.query_string())
    }

    fn page_href(&self, page: i64) -> String {
        format!("/admin/audit?{}&page={page}", self.filter.query_string())
    }
}

/// `GET /admin/audit`: the filtered log, a page at a time, with the status of both hash chains.
pub async fn page(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(filter): Query<Filter>,
) -> Result<Response, AppError> {
    let page = filter
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, crate::pagination::MAX_PAGE);
    let mut entries = audit_log::entries(
        &state.db,
        &filter.parse()?,
        PER_PAGE + 1,
        (page - 1) * PER_PAGE,
    )
    .await?;
    let has_next = entries.len() as i64 > PER_PAGE;
    entries.truncate(PER_PAGE as usize);
    render(&AuditPage {
        layout: Layout::new("Audit log", Nav::None).with_user(Some(&admin)),
        chain: crate::access::events::verify(&state.db).await?,
        log_chain: crate::audit::verify(&state.db).await?,
        filter,
        entries,
        page,
        has_next,
    })
}

/// The filtered log as CSV (up to [`MAX_CSV_LINES`] lines).
pub async fn csv(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(filter): Query<Filter>,
) -> Result<Response, AppError> {
    let entries = audit_log::entries(&state.db, &filter.parse()?, MAX_CSV_LINES, 0).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let defuse = crate::catalog::metadata::defuse_formula;
    writer
        .write_record([
            "occurred_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "details",
        ])
        .map_err(anyhow::Error::from)?;
    for entry in &entries {
        writer
            .write_record([
                rfc3339(entry.occurred_at),
                defuse(&entry.actor_label()),
                defuse(&entry.action),
                defuse(&entry.target_type),
                defuse(&entry.target_id),
                defuse(&entry.details.to_string()),
            ])
            .map_err(anyhow::Error::from)?;
    }
    let body = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"radportal-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        body,
    )
        .into_response())
}
