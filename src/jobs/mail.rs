//! Mail delivery: sends what is due in the outbox, each message once across instances.

use std::time::Duration;

use super::{Job, JobContext, RunFuture};

/// Runs at the outbox poll interval on every instance (messages are claimed one by one).
pub fn job(interval: Duration) -> Job {
    Job {
        name: "mail",
        interval,
        shared: false,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    Box::pin(crate::mail::deliver_due_while(
        &context.db,
        &context.mailer,
        || !context.is_stopping(),
    ))
}
