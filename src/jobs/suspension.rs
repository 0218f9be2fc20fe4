//! Suspension: grants whose agreement has a new version that was not accepted within the grace period.

use std::time::Duration;

use super::{Job, JobContext, RunFuture};
use crate::access::lifecycle;

/// Once a minute across all instances.
pub fn job() -> Job {
    Job {
        name: "suspension",
        interval: Duration::from_secs(60),
        shared: true,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    Box::pin(async move {
        Ok(lifecycle::suspend_unaccepted(&context.db, &context.config.base_url).await?)
    })
}
