//! The time-driven work on grants: recording expiries, reminding holders before expiry, and suspending
//! grants whose new agreement version was not accepted in time. Each grant is claimed once across
//! instances (`for update skip locked`), in one transaction with its events and notifications.

use serde_json::json;
use sqlx::PgPool;
use url::Url;

use super::db;
use super::events::{self, NewEvent};
use super::workflow::notify;
use crate::error::AppError;

/// Records the expiry of every grant past its end, with an event and a notice to the holder.
#[tracing::instrument(skip_all)]
pub async fn expire_grants(db: &PgPool, site: &Url) -> Result<usize, AppError> {
    let mut tx = db.begin().await?;
    let mut handled = 0;
    for (grant_id, request_id) in db::jobs::claim_expired(&mut tx).await? {
        let grant = db::find_grant(&mut *tx, grant_id)
            .await?
            .ok_or(AppError::NotFound)?;
        events::append(
            &mut tx,
            NewEvent {
                request_id: Some(request_id),
                grant_id: Some(grant_id),
                actor_id: None,
                kind: "grant.expired",
                internal: false,
                body: json!({"dataset": grant.title}),
            },
        )
        .await?;
        notify(
            &mut tx,
            site,
            &[(grant.user_id, grant.holder_email.clone())],
            &format!("Access to {} has expired", grant.title),
            &format!(
                "Your access to {} ended on {}. Renew it from “My access”.",
                grant.title,
                crate::format::datetime(grant.expires_at)
            ),
            "/access",
        )
        .await?;
        handled += 1;
    }
    tx.commit().await?;
    Ok(handled)
}

/// Reminds holders 30 and 7 days before their grant ends, once each.
#[tracing::instrument(skip_all)]
pub async fn send_expiry_reminders(db: &PgPool, site: &Url) -> Result<usize, AppError> {
    let mut tx = db.begin().await?;
    let mut handled = 0;
    for days in [7, 30] {
        for (grant_id, _) in db::jobs::claim_reminders(&mut tx, days).await? {
            let grant = db::find_grant(&mut *tx, grant_id)
                .await?
                .ok_or(AppError::NotFound)?;
            notify(&mut tx, site, &[(grant.user_id, grant.holder_email.clone())], &format!("Access to {} ends within {days} days", grant.title), &format!("Your access to {} ends on {}. Renew it from “My access” if you still need the data.", grant.title, crate::format::datetime(grant.expires_at)), "/access").await?;
            handled += 1;
        }
    }
    tx.commit().await?;
    Ok(handled)
}

/// Suspends grants whose holder did not accept the agreement's new version within the grace period.
#[tracing::instrument(skip_all)]
pub async fn suspend_unaccepted(db: &PgPool, site: &Url) -> Result<usize, AppError> {
    let mut tx = db.begin().await?;
    let mut handled = 0;
    for (grant_id, request_id) in db::jobs::claim_suspensions(&mut tx).await? {
        let grant = db::find_grant(&mut *tx, grant_id)
            .await?
            .ok_or(AppError::NotFound)?;
        events::append(
            &mut tx,
            NewEvent {
                request_id: Some(request_id),
                grant_id: Some(grant_id),
                actor_id: None,
                kind: "grant.suspended",
                internal: false,
                body: json!({"dataset": grant.title}),
            },
        )
        .await?;
        notify(&mut tx, site, &[(grant.user_id, grant.holder_email.clone())], &format!("Access to {} suspended", grant.title), &format!("The agreement for {} has a new version that was not accepted in time. Accept it from “My access” to restore access.", grant.title), "/access").await?;
        handled += 1;
    }
    tx.commit().await?;
    Ok(handled)
}
