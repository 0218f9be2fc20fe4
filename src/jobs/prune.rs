//! Pruning: expired sessions, tokens and old throttling records.

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
        Ok(0)
    })
}
