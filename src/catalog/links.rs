//! Checking landing URLs: a job, off unless the deployment allows outbound requests
//! (`RADPORTAL_LINK_CHECK_HOURS`), that asks each published dataset's landing page whether it still
//! answers, and records broken ones for the catalog health page.

use std::time::Duration;

use sqlx::PgPool;

use super::db::links::{self, Due};

/// How long a landing page has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Most redirects followed to reach a landing page.
const MAX_REDIRECTS: usize = 5;

/// Checks up to `limit` landing URLs not checked within `hours`. Returns how many were checked.
pub async fn check_due(db: &PgPool, hours: i32, limit: i64) -> anyhow::Result<usize> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent("radportal link check")
        .build()?;
    let due = links::due(db, hours, limit).await?;
    for Due { dataset_id, url } in &due {
        // Some servers refuse HEAD; a GET that is answered counts too.
        let answer = match client.head(url).send().await {
            Ok(response) if response.status() != reqwest::StatusCode::METHOD_NOT_ALLOWED => {
                Ok(response.status())
            }
            _ => client.get(url).send().await.map(|r| r.status()),
        };
        match answer {
            Ok(status) => {
                links::record(db, *dataset_id, url, Some(i32::from(status.as_u16())), None).await?
            }
            Err(error) => {
                let problem = if error.is_timeout() {
                    format!("did not answer within {} seconds", TIMEOUT.as_secs())
                } else if error.is_connect() {
                    "could not be reached".to_owned()
                } else {
                    "the request failed".to_owned()
                };
                links::record(db, *dataset_id, url, None, Some(&problem)).await?;
            }
        }
    }
    Ok(due.len())
}
