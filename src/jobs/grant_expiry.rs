//! Grant expiry and reminders: records grants past their end and reminds holders 30 and 7 days ahead.

use std::time::Duration;

use super::{Job, JobContext, RunFuture};
use crate::access::lifecycle;

/// Once a minute across all instances.
pub fn job() -> Job {
    Job {
        name: "grant_expiry",
        interval: Duration::from_secs(60),
        shared: true,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    Box::pin(async move {
        let site = &context.config.base_url;
        let expired = lifecycle::expire_grants(&context.db, site).await?;
        let reminded = lifecycle::send_expiry_reminders(&context.db, site).await?;
        Ok(expired + reminded)
    })
}
