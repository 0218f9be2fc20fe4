//! Pruning: expired sessions, tokens and old throttling records, searches older than the search
//! log's retention, and the catalog's change log after a day.

use std::time::Duration;

use super::{Job, JobContext, RunFuture};

/// Every ten minutes across all instances.
pub fn job() -> Job {
    Job {
        name: "prune",
        interval: Duration::from_secs(600),
        shared: true,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    Box::pin(async move {
        crate::auth::db::prune_expired(&context.db).await?;
        crate::catalog::db::prune_catalog_changes(&context.db).await?;
        // With recording off (0 days) nothing is kept: what an earlier setting kept goes too.
        let searches =
            crate::catalog::db::search_log::prune(&context.db, context.config.search_log_days)
                .await?;
        Ok(usize::try_from(searches).unwrap_or(usize::MAX))
    })
}
