//! The administrators' overview at `/admin`: the work waiting for them and what needs their eye —
//! requests waiting by committee and overdue ones, catalog records missing facts, e-mail that could
//! not be sent, broken landing links, and the latest changes.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use time::OffsetDateTime;

use crate::access::model::{CommitteeQueue, REVIEW_DUE_DAYS};
use crate::auth::audit_log::{self, Entry, LogFilter};
use crate::catalog::db::health;
use crate::catalog::db::links::{self, Broken};
use crate::error::AppError;
use crate::format::datetime;
use crate::mail::FailedMail;
use crate::web::extract::AdminUser;
use crate::web::{AppState, Layout, Nav, render};

/// How many failed messages, broken links and changes the overview lists.
const LISTED: usize = 10;

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub committees: Vec<CommitteeQueue>,
    pub due_days: i32,
    /// Published records missing facts, and per fact how many lack it.
    pub incomplete: usize,
    pub gaps: Vec<(String, usize)>,
    pub failed_mail: Vec<FailedMail>,
    pub broken: Vec<Broken>,
    pub link_check_on: bool,
    pub changes: Vec<Entry>,
}

impl OverviewPage {
    fn when(&self, at: &OffsetDateTime) -> String {
        datetime(*at)
    }

    fn waiting(&self) -> i64 {
        self.committees.iter().map(|c| c.waiting).sum()
    }

    fn overdue(&self) -> i64 {
        self.committees.iter().map(|c| c.overdue).sum()
    }
}

/// `GET /admin`: the overview.
pub async fn page(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response, AppError> {
    let missing = health::missing_facts(&state.db).await?;
    let mut gaps: Vec<(String, usize)> = Vec::new();
    for fact in missing.iter().flat_map(|m| &m.missing) {
        match gaps.iter_mut().find(|(name, _)| name == fact) {
            Some((_, count)) => *count += 1,
            None => gaps.push((fact.clone(), 1)),
        }
    }
    gaps.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut broken = links::broken(&state.db).await?;
    broken.truncate(LISTED);
    render(&OverviewPage {
        layout: Layout::new("Overview", Nav::None).with_user(Some(&admin)),
        committees: crate::access::db::waiting_by_committee(&state.db, REVIEW_DUE_DAYS).await?,
        due_days: REVIEW_DUE_DAYS,
        incomplete: missing.len(),
        gaps,
        failed_mail: crate::mail::failed(&state.db, LISTED as i64).await?,
        broken,
        link_check_on: state.config.link_check_hours > 0,
        changes: audit_log::entries(&state.db, &LogFilter::default(), LISTED as i64, 0).await?,
    })
}
