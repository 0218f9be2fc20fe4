//! SQL of catalog health: datasets missing key facts and likely duplicates.

use sqlx::PgExecutor;

/// A published dataset and the key facts it lacks.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Missing {
    pub slug: String,
    pub title: String,
    pub missing: Vec<String>,
}

/// Published datasets lacking a summary, landing URL, access level, licence, modality, body part
/// or subject count, most gaps first.
pub async fn missing_facts(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Missing>> {
    sqlx::query_as!(
        Missing,
        r#"select slug as "slug!", title as "title!", missing as "missing!" from (
             select d.slug, d.title, array_remove(array[
                 case when btrim(d.summary) = '' then 'summary' end,
                 case when d.landing_url is null then 'landing URL' end,
                 case when d.access_level is null then 'access level' end,
                 case when d.license is null then 'licence' end,
                 case when cardinality(d.modalities) = 0 then 'modality' end,
                 case when cardinality(d.body_parts) = 0 then 'body part' end,
                 case when d.subject_count is null and d.image_count is null then 'size' end
             ], null) as missing
             from datasets d where d.status = 'published') m
         where cardinality(missing) > 0
         order by cardinality(missing) desc, title"#
    )
    .fetch_all(db)
    .await
}

/// Two datasets that look like the same one, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Duplicate {
    pub first: String,
    pub second: String,
    pub reason: String,
}

/// Most pairs of likely duplicates listed.
const MAX_DUPLICATES: i64 = 500;

/// Pairs of datasets (not retired) with the same DOI, the same landing URL, or nearly the same
/// title (trigram similarity of at least 0.8).
pub async fn duplicates(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Duplicate>> {
    sqlx::query_as!(
        Duplicate,
        r#"select a.slug as first, b.slug as second,
                case when lower(a.doi) = lower(b.doi) then 'same DOI ' || a.doi
                     when a.landing_url = b.landing_url then 'same landing URL ' || a.landing_url
                     else 'nearly the same title' end as "reason!"
         from datasets a join datasets b on a.id < b.id
         where a.status <> 'retired' and b.status <> 'retired'
           and (lower(a.doi) = lower(b.doi)
                or a.landing_url = b.landing_url
                or (a.title % b.title and similarity(a.title, b.title) >= 0.8))
         order by a.slug, b.slug
         limit $1"#,
        MAX_DUPLICATES,
    )
    .fetch_all(db)
    .await
}
