//! SQL of landing-URL checks.

use sqlx::PgExecutor;

/// A published dataset's landing URL that is due for a check.
#[derive(Clone, Debug)]
pub struct Due {
    pub dataset_id: i64,
    pub url: String,
}

/// Published datasets whose landing URL was not checked within `hours`, least recently checked
/// first.
pub async fn due(db: impl PgExecutor<'_>, hours: i32, limit: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"select d.id as dataset_id, d.landing_url as "url!"
         from datasets d left join link_checks c on c.dataset_id = d.id
         where d.status = 'published' and d.landing_url is not null
           and (c.checked_at is null or c.url <> d.landing_url
                or c.checked_at < now() - make_interval(hours => $1))
         order by c.checked_at nulls first limit $2"#,
        hours,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Records the answer to a check: an HTTP status, or what went wrong.
pub async fn record(
    db: impl PgExecutor<'_>,
    dataset_id: i64,
    url: &str,
    status: Option<i32>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into link_checks (dataset_id, url, status, error) values ($1, $2, $3, $4)
         on conflict (dataset_id) do update
             set url = excluded.url, status = excluded.status, error = excluded.error,
                 checked_at = now()",
        dataset_id,
        url,
        status,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A landing URL that failed its last check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Broken {
    pub slug: String,
    pub title: String,
    pub url: String,
    pub problem: String,
}

/// Published datasets whose current landing URL failed its last check, by title.
pub async fn broken(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Broken>> {
    sqlx::query_as!(
        Broken,
        r#"select d.slug, d.title, c.url,
                coalesce(c.error, 'answered HTTP ' || c.status) as "problem!"
         from link_checks c join datasets d on d.id = c.dataset_id
         where d.status = 'published' and c.url = d.landing_url
           and (c.error is not null or c.status >= 400)
         order by d.title"#
    )
    .fetch_all(db)
    .await
}
