//! SQL of the search log: writing a batch of searches in one statement, pruning what is older than
//! the retention, and the analytics read over a period (totals, and searches grouped by their
//! normalised text and filters).

use serde_json::Value;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::catalog::search_log::LoggedSearch;

/// Writes `searches` in one multi-row insert. Returns how many rows were written.
pub async fn insert(db: impl PgExecutor<'_>, searches: &[LoggedSearch]) -> sqlx::Result<u64> {
    if searches.is_empty() {
        return Ok(0);
    }
    let mut searched_at = Vec::with_capacity(searches.len());
    let mut texts = Vec::with_capacity(searches.len());
    let mut normalized = Vec::with_capacity(searches.len());
    let mut filters = Vec::with_capacity(searches.len());
    let mut result_counts = Vec::with_capacity(searches.len());
    let mut matched_counts = Vec::with_capacity(searches.len());
    for search in searches {
        searched_at.push(search.searched_at);
        texts.push(search.text.clone());
        normalized.push(search.normalized_text.clone());
        filters.push(search.filters.clone());
        result_counts.push(search.result_count);
        matched_counts.push(search.matched_count);
    }
    let written = sqlx::query!(
        "insert into search_log
             (searched_at, query_text, normalized_text, filters, result_count, matched_count)
         select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::jsonb[],
                              $5::int8[], $6::int8[])",
        &searched_at,
        &texts,
        &normalized,
        &filters,
        &result_counts,
        &matched_counts,
    )
    .execute(db)
    .await?;
    Ok(written.rows_affected())
}

/// Deletes the searches made more than `days` days ago (every search, with 0). Returns how many.
pub async fn prune(db: impl PgExecutor<'_>, days: u32) -> sqlx::Result<u64> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let deleted = sqlx::query!(
        "delete from search_log where searched_at < now() - make_interval(days => $1)",
        days
    )
    .execute(db)
    .await?;
    Ok(deleted.rows_affected())
}

/// The searches of a period, counted.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub searches: i64,
    /// Distinct normalised texts (searches by filters alone not counted).
    pub distinct_texts: i64,
    /// Searches that no dataset matched in full.
    pub without_match: i64,
}

/// Counts the searches of the last `days` days.
pub async fn totals(db: impl PgExecutor<'_>, days: i32) -> sqlx::Result<Totals> {
    sqlx::query_as!(
        Totals,
        r#"select count(*) as "searches!",
                  count(distinct normalized_text) filter (where normalized_text <> '') as "distinct_texts!",
                  count(*) filter (where matched_count = 0) as "without_match!"
           from search_log
           where searched_at >= now() - make_interval(days => $1)"#,
        days
    )
    .fetch_one(db)
    .await
}

/// One search (its normalised text and its filters) with how often it was made in a period, and
/// what it found the last time.
#[derive(Clone, Debug)]
pub struct SearchGroup {
    /// The text as it was sent most often (of several as often, the first in order).
    pub query_text: String,
    pub normalized_text: String,
    pub filters: Value,
    pub searches: i64,
    /// Datasets listed the last time (in the latest hour it was made in).
    pub result_count: i64,
    /// Of those, the datasets that matched all of it.
    pub matched_count: i64,
    /// The hour it was last made in.
    pub last_searched_at: OffsetDateTime,
}

/// The searches of the last `days` days whose latest full-match count lies in `matched`, most
/// frequent first, at most `limit` (one list, for a download).
///
/// Within one hour the order of searches is not kept, so "the last time" is the latest hour, and of
/// several searches in it the one that matched least. The text shown is the spelling sent most often.
pub async fn grouped(
    db: impl PgExecutor<'_>,
    days: i32,
    matched: std::ops::RangeInclusive<i64>,
    limit: i64,
) -> sqlx::Result<Vec<SearchGroup>> {
    sqlx::query_as!(
        SearchGroup,
        r#"with grouped as (
               select normalized_text, filters, count(*) as searches,
                      mode() within group (order by query_text) as query_text,
                      (array_agg(result_count order by searched_at desc, matched_count, result_count))[1] as result_count,
                      (array_agg(matched_count order by searched_at desc, matched_count))[1] as matched_count,
                      max(searched_at) as last_searched_at
               from search_log
               where searched_at >= now() - make_interval(days => $1)
               group by normalized_text, filters
           )
           select query_text as "query_text!", normalized_text, filters, searches as "searches!",
                  result_count as "result_count!", matched_count as "matched_count!",
                  last_searched_at as "last_searched_at!"
           from grouped
           where matched_count between $2 and $3
           order by searches desc, last_searched_at desc, normalized_text, filters
           limit $4"#,
        days,
        *matched.start(),
        *matched.end(),
        limit,
    )
    .fetch_all(db)
    .await
}

/// The three lists of the analytics page, each at most `limit` long, most frequent first.
#[derive(Clone, Debug, Default)]
pub struct Lists {
    pub frequent: Vec<SearchGroup>,
    /// Searches no dataset matched in full the last time.
    pub no_match: Vec<SearchGroup>,
    /// Searches that 1 to `few` datasets matched in full the last time.
    pub few_matches: Vec<SearchGroup>,
}

/// The three lists of the last `days` days in one statement, which groups the period's searches
/// once (as [`grouped`] does for one list).
pub async fn lists(
    db: impl PgExecutor<'_>,
    days: i32,
    few: i64,
    limit: i64,
) -> sqlx::Result<Lists> {
    let rows = sqlx::query!(
        r#"with grouped as materialized (
               select normalized_text, filters, count(*) as searches,
                      mode() within group (order by query_text) as query_text,
                      (array_agg(result_count order by searched_at desc, matched_count, result_count))[1] as result_count,
                      (array_agg(matched_count order by searched_at desc, matched_count))[1] as matched_count,
                      max(searched_at) as last_searched_at
               from search_log
               where searched_at >= now() - make_interval(days => $1)
               group by normalized_text, filters
           )
           (select 0 as "list!", normalized_text as "normalized_text!", filters as "filters!",
                   searches as "searches!", query_text as "query_text!",
                   result_count as "result_count!", matched_count as "matched_count!",
                   last_searched_at as "last_searched_at!"
            from grouped
            order by searches desc, last_searched_at desc, normalized_text, filters limit $3)
           union all
           (select 1, * from grouped where matched_count = 0
            order by searches desc, last_searched_at desc, normalized_text, filters limit $3)
           union all
           (select 2, * from grouped where matched_count between 1 and $2
            order by searches desc, last_searched_at desc, normalized_text, filters limit $3)"#,
        days,
        few,
        limit,
    )
    .fetch_all(db)
    .await?;
    let mut lists = Lists::default();
    for row in rows {
        let group = SearchGroup {
            query_text: row.query_text,
            normalized_text: row.normalized_text,
            filters: row.filters,
            searches: row.searches,
            result_count: row.result_count,
            matched_count: row.matched_count,
            last_searched_at: row.last_searched_at,
        };
        match row.list {
            0 => lists.frequent.push(group),
            1 => lists.no_match.push(group),
            _ => lists.few_matches.push(group),
        }
    }
    Ok(lists)
}
