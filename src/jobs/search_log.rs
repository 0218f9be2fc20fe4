//! Writing the search log: every `RADPORTAL_SEARCH_LOG_FLUSH_SECS`, each instance writes the searches
//! it holds in memory in one multi-row insert, so that no search waits for the database.

use std::time::Duration;

use anyhow::Context;

use super::{Job, JobContext, RunFuture};
use crate::catalog::db::search_log;

/// Runs at the configured interval on every instance: each holds its own searches.
pub fn job(interval: Duration) -> Job {
    Job {
        name: "search_log",
        interval,
        shared: false,
        run,
    }
}

fn run(context: &JobContext) -> RunFuture<'_> {
    Box::pin(flush(context))
}

/// Writes every search held; a batch that cannot be written is held again for the next run.
/// Returns how many searches were written.
pub async fn flush(context: &JobContext) -> anyhow::Result<usize> {
    let batch = context.search_log.take_batch();
    if batch.is_empty() {
        return Ok(0);
    }
    match search_log::insert(&context.db, &batch).await {
        Ok(_) => Ok(batch.len()),
        Err(error) => {
            let held = batch.len();
            context.search_log.put_back(batch);
            Err(error).with_context(|| format!("cannot write {held} searches to the search log"))
        }
    }
}
