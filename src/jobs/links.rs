//! Landing-URL checks: each published dataset's landing page, every `RADPORTAL_LINK_CHECK_HOURS`.

use std::time::Duration;

use super::{Job, JobContext, RunFuture};

/// How many landing pages one run checks.
const PER_RUN: i64 = 20;

/// Once a minute across all instances, checking the datasets whose last check is older than the
/// configured period.
pub fn job() -> Job {
    Job {
        name: "link_check",
        interval: Duration::from_secs(60),
        shared: true,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    let hours = i32::try_from(context.config.link_check_hours).unwrap_or(i32::MAX);
    Box::pin(crate::catalog::links::check_due(
        &context.db,
        hours,
        PER_RUN,
    ))
}
