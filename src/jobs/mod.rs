//! Background jobs, one module each: mail delivery, grant expiry and reminders, suspension of grants
//! whose agreement was not re-accepted, landing-URL checks, writing the search log and pruning.
//! `serve` starts them and, at shutdown, lets a run in progress finish before it returns.
//!
//! A shutdown is seen inside a run too: a job that works through many items (mail delivery) stops
//! after the item it is on, leaving the rest, untouched, to the next run on any instance.
//!
//! Each job has its own interval. A periodic job is claimed across instances through `job_schedule`
//! (`for update skip locked`), so it runs once per interval however many instances there are; the
//! work inside a run is claimed row by row in the same way.

pub mod grant_expiry;
pub mod links;
pub mod mail;
pub mod prune;
pub mod search_log;
pub mod suspension;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::search_log::SearchLog;
use crate::config::Config;
use crate::mail::Mailer;

/// What a job run needs: the database, the configuration, the mailer and this instance's searches
/// held for the search log, and whether the jobs are being stopped.
#[derive(Clone)]
pub struct JobContext {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub mailer: Arc<Mailer>,
    pub search_log: Arc<SearchLog>,
    stopping: watch::Receiver<bool>,
}

impl JobContext {
    /// A context whose jobs run until [`Jobs::shutdown`] (or, outside [`Jobs`], are never stopped),
    /// with a search log of its own that holds nothing (see [`JobContext::with_search_log`]).
    pub fn new(db: PgPool, config: Arc<Config>, mailer: Arc<Mailer>) -> Self {
        Self {
            db,
            config,
            mailer,
            search_log: Arc::new(SearchLog::new(false)),
            stopping: watch::channel(false).1,
        }
    }

    /// The same context writing the searches `search_log` holds (the app state's).
    pub fn with_search_log(self, search_log: Arc<SearchLog>) -> Self {
        Self { search_log, ..self }
    }

    /// Whether the jobs were asked to stop: a run over many items returns after the one it is on.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}

/// The future of one run: how many items it handled.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send + 'a>>;

/// A background job: its name (its row in `job_schedule`), how often it runs, and one run.
pub struct Job {
    pub name: &'static str,
    pub interval: Duration,
    /// Whether instances share the schedule (one run per interval in all) or each instance runs it at
    /// every interval (mail delivery: messages are claimed one by one anyway).
    pub shared: bool,
    pub run: for<'a> fn(&'a JobContext) -> RunFuture<'a>,
}

/// Every job, with the intervals the configuration asks for.
pub fn all(config: &Config) -> Vec<Job> {
    let mut jobs = vec![
        mail::job(config.outbox_poll),
        grant_expiry::job(),
        suspension::job(),
        prune::job(),
    ];
    if config.link_check_hours > 0 {
        jobs.push(links::job());
    }
    if config.search_log_days > 0 {
        jobs.push(search_log::job(config.search_log_flush));
    }
    jobs
}

/// The running jobs; [`Jobs::shutdown`] stops them after their current run.
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Starts every job of `jobs` on its own task.
    pub fn start(mut context: JobContext, jobs: Vec<Job>) -> Self {
        let (stop, stopped) = watch::channel(false);
        context.stopping = stopped.clone();
        for job in &jobs {
            crate::metrics::job_known(job.name);
        }
        let tasks = jobs
            .into_iter()
            .map(|job| tokio::spawn(run_forever(context.clone(), job, stopped.clone())))
            .collect();
        Self { stop, tasks }
    }

    /// Asks every job to stop and waits until each has finished the run (or, for a job over many
    /// items, the item) it was in.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn run_forever(context: JobContext, job: Job, mut stopped: watch::Receiver<bool>) {
    loop {
        if *stopped.borrow() {
            return;
        }
        if let Err(error) = run_if_due(&context, &job).await {
            tracing::warn!(job = job.name, error = %format!("{error:#}"), "job failed; will retry");
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(job.interval) => {}
        }
    }
}

/// Runs `job` once if it is due (for a shared job: if no other instance ran it within its interval),
/// recording the run in `job_schedule`. Returns how many items it handled (0 when it was not due).
#[tracing::instrument(skip_all, fields(job = job.name))]
pub async fn run_if_due(context: &JobContext, job: &Job) -> anyhow::Result<usize> {
    if job.shared && !claim(&context.db, job).await? {
        return Ok(0);
    }
    let started = Instant::now();
    let outcome = (job.run)(context).await;
    crate::metrics::job_ran(job.name, started.elapsed(), outcome.is_err());
    if job.shared {
        record(&context.db, job.name, outcome.as_ref().err()).await?;
    }
    outcome
}

/// Runs `job` now, whether or not it is due (for tests and the command line).
pub async fn run_now(context: &JobContext, job: &Job) -> anyhow::Result<usize> {
    (job.run)(context).await
}

/// Claims a due shared job for this instance: moves its next run one interval ahead.
async fn claim(db: &PgPool, job: &Job) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "insert into job_schedule (name) values ($1) on conflict (name) do nothing",
        job.name
    )
    .execute(&mut *tx)
    .await?;
    let due = sqlx::query_scalar!(
        "select name from job_schedule where name = $1 and next_run_at <= now()
         for update skip locked",
        job.name
    )
    .fetch_optional(&mut *tx)
    .await?;
    if due.is_none() {
        return Ok(false);
    }
    sqlx::query!(
        "update job_schedule
         set next_run_at = now() + make_interval(secs => $2), last_started_at = now()
         where name = $1",
        job.name,
        job.interval.as_secs_f64()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The schedule of the shared jobs among `jobs` as of now, for the metrics: how long each has been due
/// without a run, and when its last run finished.
pub async fn schedule_readings(
    db: &PgPool,
    jobs: &[Job],
) -> sqlx::Result<Vec<crate::metrics::JobReading>> {
    let names: Vec<String> = jobs
        .iter()
        .filter(|job| job.shared)
        .map(|job| job.name.to_owned())
        .collect();
    let rows = sqlx::query!(
        r#"select name,
                extract(epoch from greatest(now() - next_run_at, interval '0'))::float8 as "lag_seconds!",
                extract(epoch from last_finished_at)::float8 as last_finished_seconds
         from job_schedule
         where name = any($1)
         order by name"#,
        &names
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| crate::metrics::JobReading {
            job: row.name,
            lag_seconds: row.lag_seconds,
            last_finished_seconds: row.last_finished_seconds,
        })
        .collect())
}

async fn record(db: &PgPool, name: &str, error: Option<&anyhow::Error>) -> sqlx::Result<()> {
    sqlx::query!(
        "update job_schedule
         set last_finished_at = now(), runs = runs + 1, last_error = $2,
             failures = failures + case when $2::text is null then 0 else 1 end
         where name = $1",
        name,
        error.map(|error| format!("{error:#}"))
    )
    .execute(db)
    .await?;
    Ok(())
}
