//! Following the catalog's version without asking PostgreSQL on every request: a listener on the
//! `radportal_catalog` notification channel keeps the latest version in memory. While the listener is
//! not connected the version is unknown, and callers ask the database instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// The notification channel the catalog-version trigger notifies.
pub const CHANNEL: &str = "radportal_catalog";

/// The latest catalog version this instance has heard of.
#[derive(Default)]
pub struct CatalogWatch {
    /// 0 while unknown.
    version: AtomicI64,
}

impl CatalogWatch {
    /// The current catalog version, when the listener is connected.
    pub fn version(&self) -> Option<i64> {
        let version = self.version.load(Ordering::Acquire);
        (version > 0).then_some(version)
    }

    fn raise_to(&self, version: i64) {
        self.version.fetch_max(version, Ordering::AcqRel);
    }

    fn forget(&self) {
        self.version.store(0, Ordering::Release);
    }

    /// Listens for catalog changes for as long as the process runs, reconnecting after failures.
    pub fn spawn(self: &Arc<Self>, db: PgPool) {
        let watch = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = watch.listen(&db).await {
                    tracing::warn!(%error, "catalog listener lost its connection; retrying");
                }
                watch.forget();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen(&self, db: &PgPool) -> sqlx::Result<()> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        // Anything committed before LISTEN took effect is in the table.
        let current: i64 = sqlx::query_scalar("select version from catalog_state")
            .fetch_one(db)
            .await?;
        self.raise_to(current);
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
