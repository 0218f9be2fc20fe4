//! The audit log page: every administrative and account action and every workflow event, filtered by
//! actor, action, target and date range, exported as CSV, with the status of both hash chains.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::error::AppError;
use crate::format::{datetime, rfc3339};
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

/// One line of the log.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Entry {
    pub occurred_at: OffsetDateTime,
    pub actor: Option<String>,
    pub actor_closed: bool,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

impl Entry {
    pub fn actor_label(&self) -> String {
        match (&self.actor, self.actor_closed) {
            (Some(name), false) => name.clone(),
            (Some(name), true) => format!("{name} (closed account)"),
            (None, _) => "the portal".to_owned(),
        }
    }
}

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
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(raw, &format)
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("“{raw}” is not a date; use YYYY-MM-DD.")))
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

/// Administrative actions and workflow events, newest first, matching `filter`.
async fn entries(
    db: impl PgExecutor<'_>,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>, AppError> {
    let from = Filter::date(&filter.from)?;
    let to = Filter::date(&filter.to)?;
    let like = |text: &str| {
        format!(
            "%{}%",
            text.trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    };
    let (target_type, target_id) = match filter.target.trim().split_once(':') {
        Some((kind, id)) => (kind.trim().to_owned(), id.trim().to_owned()),
        None => (filter.target.trim().to_owned(), String::new()),
    };
    let rows = sqlx::query_as(
        "with log as (
             select a.occurred_at, a.actor_id, a.action, a.target_type, a.target_id, a.details from audit_log a
             union all
             select e.created_at, e.actor_id, e.kind,
                    case when e.request_id is not null then 'request' else 'grant' end,
                    coalesce(e.request_id, e.grant_id)::text, e.body || jsonb_build_object('event', e.id)
             from events e)
         select log.occurred_at, u.name as actor, (u.closed_at is not null) as actor_closed, log.action,
                log.target_type, log.target_id, log.details
         from log left join users u on u.id = log.actor_id
         where ($1 = '%%' or u.name ilike $1 or u.email::text ilike $1)
           and ($2 = '' or log.action like $2 || '%')
           and ($3 = '' or log.target_type = $3)
           and ($4 = '' or log.target_id = $4)
           and ($5::date is null or log.occurred_at >= $5::date)
           and ($6::date is null or log.occurred_at < $6::date + 1)
         order by log.occurred_at desc
         limit $7 offset $8",
    )
    .bind(like(&filter.actor))
    .bind(filter.action.trim())
    .bind(target_type)
    .bind(target_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

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
    let mut entries = entries(&state.db, &filter, PER_PAGE + 1, (page - 1) * PER_PAGE).await?;
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

/// The filtered log as CSV (up to 100,000 lines).
pub async fn csv(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(filter): Query<Filter>,
) -> Result<Response, AppError> {
    let entries = entries(&state.db, &filter, 100_000, 0).await?;
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
