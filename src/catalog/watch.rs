//! Following the catalog's version without asking PostgreSQL on every request: a listener on the
//! `radportal_catalog` notification channel keeps the latest version in memory, and the version is
//! also read every few seconds, so that a lost notification (or a connection that silently stopped
//! delivering) delays a change by at most that long. While neither works, the version is unknown and
//! callers read the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;

/// The notification channel the catalog-version trigger notifies.
pub const CHANNEL: &str = "radportal_catalog";

/// How often the version is read even when notifications arrive.
const REFRESH: Duration = Duration::from_secs(10);
/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The latest catalog version this instance has heard of.
#[derive(Default)]
pub struct CatalogWatch {
    /// 0 while unknown.
    version: AtomicI64,
    /// Woken whenever a notification raises the version.
    raised: Notify,
}

impl CatalogWatch {
    /// The current catalog version, when the listener is connected.
    pub fn version(&self) -> Option<i64> {
        let version = self.version.load(Ordering::Acquire);
        (version > 0).then_some(version)
    }

    fn raise_to(&self, version: i64) {
        if self.version.fetch_max(version, Ordering::AcqRel) < version {
            self.raised.notify_waiters();
        }
    }

    /// Waits for the next notification of a catalog change.
    pub async fn changed(&self) {
        self.raised.notified().await;
    }

    fn forget(&self) {
        self.version.store(0, Ordering::Release);
    }

    /// After this instance changed the catalog: until the change's notification arrives, nothing
    /// read at the old version is reused (so the next page shows the change).
    pub fn invalidate(&self) {
        self.forget();
    }

    /// Takes the database's version as authoritative: higher ones raise, a lower one (a restored
    /// database) replaces.
    fn observe(&self, current: i64) {
        if current < self.version.load(Ordering::Acquire) {
            self.version.store(current, Ordering::Release);
        } else {
            self.raise_to(current);
        }
    }

    /// Listens for catalog changes for as long as the process runs, reconnecting after failures.
    pub fn spawn(self: &Arc<Self>, db: PgPool) {
        let refresher = Arc::clone(self);
        let refresh_db = db.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH);
            loop {
                ticks.tick().await;
                match super::db::catalog_version(&refresh_db).await {
                    Ok(current) => refresher.observe(current),
                    Err(_) => refresher.forget(),
                }
            }
        });
        let watch = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = watch.listen(&db).await {
                    tracing::warn!(%error, "catalog listener lost its connection; retrying");
                }
                watch.forget();
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        });
    }

    async fn listen(&self, db: &PgPool) -> sqlx::Result<()> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        // Anything committed before LISTEN took effect is in the table.
        let current = super::db::catalog_version(db).await?;
        self.observe(current);
        loop {
            match listener.try_recv().await? {
                Some(notification) => match notification.payload().parse::<i64>() {
                    Ok(version) => self.raise_to(version),
                    Err(_) => tracing::warn!(
                        payload = notification.payload(),
                        "unexpected catalog notification"
                    ),
                },
                // The connection dropped (and was re-established): notifications may have been missed.
                None => return Ok(()),
            }
        }
    }
}
