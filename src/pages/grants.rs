//! Granted access: the researcher's "My access" page, renewal, accepting a new agreement version,
//! revocation by the committee, the agreements' pages and the in-app notifications.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::access::db;
use crate::access::model::{DuaVersion, Grant, GrantStatus, Notification};
use crate::access::workflow::{self, MAX_REVOKE_REASON_CHARS};
use crate::error::AppError;
use crate::format::datetime;
use crate::web::AppState;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::markdown::to_safe_html;
use crate::web::{ErrorPage, Layout, Nav, Notice, render};

#[derive(Template)]
#[template(path = "access/my_access.html")]
pub struct MyAccessPage {
    pub layout: Layout,
    pub grants: Vec<(Grant, GrantStatus, String)>,
}

impl MyAccessPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

/// The researcher's grants, with how to reach the data.
pub async fn my_access(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let grants = db::grants_of(&state.db, user.id)
        .await?
        .into_iter()
        .map(|grant| {
            let status = grant.status(now);
            let instructions = to_safe_html(&grant.access_instructions);
            (grant, status, instructions)
        })
        .collect();
    render(&MyAccessPage {
        layout: Layout::new("My access", Nav::None)
            .with_user(Some(&user))
            .with_notice(notice),
        grants,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReasonForm {
    reason: String,
    signature: String,
}

/// Revokes a grant: a member of the granting committee or an administrator, with a reason.
pub async fn revoke(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, AppError> {
    let grant = db::find_grant(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REVOKE_REASON_CHARS {
        return Ok(ErrorPage::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Give the reason for revoking access (at most {MAX_REVOKE_REASON_CHARS} characters); the holder is told."
            ),
        )
        .into_response());
    }
    Ok(
        match workflow::revoke(&state.db, &state.config.base_url, &user, id, reason).await {
            Ok(()) => {
                Redirect::to(&Notice::AccessRevoked.on(&format!("/requests/{}", grant.request_id)))
                    .into_response()
            }
            Err(error) => error.into_response(),
        },
    )
}

/// Renewal starts a new request in the cart, prefilled from the old one and linked to it.
pub async fn renew(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let request = workflow::start_renewal(&state.db, user.id, id).await?;
    Ok(Redirect::to(&format!(
        "/cart?project={}&days={}&renewal_of={}",
        request.project_id, request.requested_days, request.id
    ))
    .into_response())
}

/// The holder accepts the agreement version now in force.
pub async fn reaccept(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, AppError> {
    Ok(
        match workflow::reaccept(&state.db, &user, id, &form.signature).await {
            Ok(()) => Redirect::to(&Notice::AgreementAccepted.on("/access")).into_response(),
            Err(error) => error.into_response(),
        },
    )
}

#[derive(Template)]
#[template(path = "access/dua.html")]
pub struct DuaPage {
    pub layout: Layout,
    pub versions: Vec<DuaVersion>,
    pub shown: DuaVersion,
    pub body_html: String,
    pub today: time::Date,
}

impl DuaPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VersionParams {
    version: Option<String>,
}

/// An agreement: the version in force (or the one asked for), and every version.
pub async fn dua(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
    Query(params): Query<VersionParams>,
) -> Result<Response, AppError> {
    let versions = db::dua_versions(&state.db, &slug).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let shown = match params.version.as_deref() {
        Some(raw) => {
            let number: i32 = raw.parse().map_err(|_| AppError::NotFound)?;
            versions.iter().find(|v| v.version == number).cloned()
        }
        None => versions
            .iter()
            .find(|v| v.effective_on <= today)
            .or(versions.first())
            .cloned(),
    }
    .ok_or(AppError::NotFound)?;
    render(&DuaPage {
        layout: Layout::new(
            format!("{} (version {})", shown.dua_title, shown.version),
            Nav::None,
        )
        .with_user(user.as_ref()),
        body_html: to_safe_html(&shown.body),
        shown,
        versions,
        today,
    })
}

/// One line of a difference between two texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// A line-by-line difference (longest common subsequence).
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(DiffLine::Removed(a[i].to_owned()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_owned()));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| DiffLine::Removed((*l).to_owned())));
    out.extend(b[j..].iter().map(|l| DiffLine::Added((*l).to_owned())));
    out
}

#[derive(Template)]
#[template(path = "access/dua_diff.html")]
pub struct DuaDiffPage {
    pub layout: Layout,
    pub from: DuaVersion,
    pub to: DuaVersion,
    pub lines: Vec<DiffLine>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DiffParams {
    from: String,
    to: String,
}

/// Two versions of an agreement, line by line.
pub async fn dua_diff(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
    Query(params): Query<DiffParams>,
) -> Result<Response, AppError> {
    let versions = db::dua_versions(&state.db, &slug).await?;
    if versions.is_empty() {
        return Err(AppError::NotFound);
    }
    let pick = |raw: &str| -> Result<DuaVersion, AppError> {
        let number: i32 = raw
            .parse()
            .map_err(|_| AppError::BadRequest("Choose two versions to compare.".to_owned()))?;
        versions
            .iter()
            .find(|v| v.version == number)
            .cloned()
            .ok_or_else(|| AppError::BadRequest(format!("There is no version {number}.")))
    };
    let (from, to) = (pick(&params.from)?, pick(&params.to)?);
    render(&DuaDiffPage {
        layout: Layout::new(
            format!(
                "{}: version {} → {}",
                from.dua_title, from.version, to.version
            ),
            Nav::None,
        )
        .with_user(user.as_ref()),
        lines: diff_lines(&from.body, &to.body),
        from,
        to,
    })
}

#[derive(Template)]
#[template(path = "access/notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    pub notifications: Vec<Notification>,
}

impl NotificationsPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

/// The researcher's notifications.
pub async fn notifications(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    render(&NotificationsPage {
        layout: Layout::new("Notifications", Nav::None).with_user(Some(&user)),
        notifications: db::notifications(&state.db, user.id).await?,
    })
}

/// `GET /notifications/{id}`: opens a notification, which marks it read, by going where it points.
pub async fn open_notification(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let link = db::open_notification(&state.db, user.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Redirect::to(&crate::web::redirect::safe_next(
        Some(&link),
        "/notifications",
    ))
    .into_response())
}

/// Marks every notification read.
pub async fn mark_read(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    db::mark_notifications_read(&state.db, user.id).await?;
    Ok(Redirect::to("/notifications").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_removed_and_added_lines_in_order() {
        let old = "# Agreement\nUse the data for research.\nDo not share it.\n";
        let new = "# Agreement\nUse the data for approved research.\nDo not share it.\nDelete it when done.\n";
        assert_eq!(
            diff_lines(old, new),
            vec![
                DiffLine::Same("# Agreement".to_owned()),
                DiffLine::Removed("Use the data for research.".to_owned()),
                DiffLine::Added("Use the data for approved research.".to_owned()),
                DiffLine::Same("Do not share it.".to_owned()),
                DiffLine::Added("Delete it when done.".to_owned()),
            ]
        );
        assert!(
            diff_lines("a\nb", "a\nb")
                .iter()
                .all(|l| matches!(l, DiffLine::Same(_)))
        );
    }
}
