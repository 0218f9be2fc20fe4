//! The time-driven work on grants: recording expiries, reminding holders before expiry, and suspending
//! grants whose new agreement version was not accepted in time. Each grant is claimed once across
//! instances (`for update skip locked`), in one transaction with its events and notifications.

use sqlx::{PgConnection, PgPool};
use url::Url;

use super::db;
use super::db::jobs::{Claimed, Reminder};
use super::events::{self, NewEvent};
use super::model::{Grant, Recipient};
use super::timeline::EventKind;
use super::workflow::notify;
use crate::error::AppError;

/// The claimed grant, read in the claiming transaction.
async fn claimed_grant(tx: &mut PgConnection, claimed: Claimed) -> Result<Grant, AppError> {
    db::find_grant(&mut *tx, claimed.grant_id)
        .await?
        .ok_or(AppError::NotFound)
}

fn holder(grant: &Grant) -> [Recipient; 1] {
    [Recipient {
        user_id: grant.user_id,
        email: grant.holder_email.clone(),
    }]
}

/// Records the expiry of every grant past its end, with an event and a notice to the holder.
#[tracing::instrument(skip_all)]
pub async fn expire_grants(db: &PgPool, site: &Url) -> Result<usize, AppError> {
    let mut tx = db.begin().await?;
    let mut handled = 0;
    for claimed in db::jobs::claim_expired(&mut tx).await? {
        let grant = claimed_grant(&mut tx, claimed).await?;
        events::append(
            &mut tx,
            NewEvent {
                request_id: Some(claimed.request_id),
                grant_id: Some(claimed.grant_id),
                ..EventKind::GrantExpired {
                    dataset: grant.title.clone(),
                }
                .into_event()
            },
        )
        .await?;
        notify(
            &mut tx,
            site,
            &holder(&grant),
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
    for reminder in Reminder::ALL {
        let days = reminder.days();
        for claimed in db::jobs::claim_reminders(&mut tx, reminder).await? {
            let grant = claimed_grant(&mut tx, claimed).await?;
            notify(
                &mut tx,
                site,
                &holder(&grant),
                &format!("Access to {} ends within {days} days", grant.title),
                &format!(
                    "Your access to {} ends on {}. Renew it from “My access” if you still need the data.",
                    grant.title,
                    crate::format::datetime(grant.expires_at)
                ),
                "/access",
            )
            .await?;
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
    for claimed in db::jobs::claim_suspensions(&mut tx).await? {
        let grant = claimed_grant(&mut tx, claimed).await?;
        events::append(
            &mut tx,
            NewEvent {
                request_id: Some(claimed.request_id),
                grant_id: Some(claimed.grant_id),
                ..EventKind::GrantSuspended {
                    dataset: grant.title.clone(),
                }
                .into_event()
            },
        )
        .await?;
        notify(
            &mut tx,
            site,
            &holder(&grant),
            &format!("Access to {} suspended", grant.title),
            &format!(
                "The agreement for {} has a new version that was not accepted in time. Accept it from “My access” to restore access.",
                grant.title
            ),
            "/access",
        )
        .await?;
        handled += 1;
    }
    tx.commit().await?;
    Ok(handled)
}
