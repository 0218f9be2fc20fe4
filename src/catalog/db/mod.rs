//! The catalog's SQL, checked against the schema when the crate compiles: datasets here, bulk imports,
//! organizations, revisions, import uploads, catalog health, link checks and the search log in the
//! submodules. (The search's own statements, text matching and the index load, stay with `search`
//! and `index`.)
//!
//! A dataset's fields are read into a row by column name, and written by name too: the fields go to
//! PostgreSQL as one JSON object that `jsonb_populate_record` turns into a `datasets` row, so no
//! statement depends on the order of fifty parameters.

pub mod bulk;
pub mod health;
pub mod links;
pub mod organizations;
pub mod revisions;
pub mod search_log;
pub mod uploads;

use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::{Date, OffsetDateTime};

use super::model::{
    AccessLevel, Dataset, DatasetFields, DatasetStatus, DatasetSummary, SourceKind,
};

/// A dataset row with its organization's slug, name and homepage, as `find_datasets_by_slug` reads it.
struct DatasetRow {
    id: i64,
    slug: String,
    title: String,
    aliases: Vec<String>,
    summary: String,
    description: String,
    organization_slug: String,
    publisher_raw: Option<String>,
    landing_url: Option<String>,
    alt_urls: Vec<String>,
    doi: Option<String>,
    citation: Option<String>,
    source_kind: SourceKind,
    record_type: Option<String>,
    access_level: Option<AccessLevel>,
    access_raw: Option<String>,
    license: Option<String>,
    license_raw: Option<String>,
    data_use_limitations: Vec<String>,
    access_instructions: String,
    modalities: Vec<String>,
    modality_raw: Option<String>,
    body_parts: Vec<String>,
    tasks: Vec<String>,
    annotation_objects: Vec<String>,
    conditions: Vec<String>,
    formats: Vec<String>,
    species: Option<String>,
    dimensionality: Option<String>,
    label_category_count: Option<i32>,
    challenge: Option<String>,
    supporting_data: Vec<String>,
    subject_count: Option<i64>,
    study_count: Option<i64>,
    image_count: Option<i64>,
    case_count: Option<i64>,
    size_bytes: Option<i64>,
    count_notes: Option<String>,
    deidentification: Option<String>,
    contains_phi: bool,
    year: Option<i32>,
    release_date_raw: Option<String>,
    last_updated_upstream: Option<Date>,
    upstream_status: Option<String>,
    idc_collection_id: Option<String>,
    idc_subject_count: Option<i64>,
    idc_image_types: Option<String>,
    idc_supporting_data: Option<String>,
    idc_access: Option<String>,
    idc_updated: Option<Date>,
    notes: Option<String>,
    sources: Vec<String>,
    organization_name: String,
    organization_homepage: Option<String>,
    status: DatasetStatus,
    version: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<DatasetRow> for Dataset {
    fn from(row: DatasetRow) -> Self {
        Self {
            id: row.id,
            fields: DatasetFields {
                slug: row.slug,
                title: row.title,
                aliases: row.aliases,
                summary: row.summary,
                description: row.description,
                organization_slug: row.organization_slug,
                publisher_raw: row.publisher_raw,
                landing_url: row.landing_url,
                alt_urls: row.alt_urls,
                doi: row.doi,
                citation: row.citation,
                source_kind: row.source_kind,
                record_type: row.record_type,
                access_level: row.access_level,
                access_raw: row.access_raw,
                license: row.license,
                license_raw: row.license_raw,
                data_use_limitations: row.data_use_limitations,
                access_instructions: row.access_instructions,
                modalities: row.modalities,
                modality_raw: row.modality_raw,
                body_parts: row.body_parts,
                tasks: row.tasks,
                annotation_objects: row.annotation_objects,
                conditions: row.conditions,
                formats: row.formats,
                species: row.species,
                dimensionality: row.dimensionality,
                label_category_count: row.label_category_count,
                challenge: row.challenge,
                supporting_data: row.supporting_data,
                subject_count: row.subject_count,
                study_count: row.study_count,
                image_count: row.image_count,
                case_count: row.case_count,
                size_bytes: row.size_bytes,
                count_notes: row.count_notes,
                deidentification: row.deidentification,
                contains_phi: row.contains_phi,
                year: row.year,
                release_date_raw: row.release_date_raw,
                last_updated_upstream: row.last_updated_upstream,
                upstream_status: row.upstream_status,
                idc_collection_id: row.idc_collection_id,
                idc_subject_count: row.idc_subject_count,
                idc_image_types: row.idc_image_types,
                idc_supporting_data: row.idc_supporting_data,
                idc_access: row.idc_access,
                idc_updated: row.idc_updated,
                notes: row.notes,
                sources: row.sources,
            },
            organization_name: row.organization_name,
            organization_homepage: row.organization_homepage,
            status: row.status,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Datasets by slug, in the order of `slugs`; drafts only `with_drafts`. The one statement that
/// reads whole datasets.
async fn find_datasets_by_slug(
    db: impl PgExecutor<'_>,
    slugs: &[String],
    with_drafts: bool,
) -> sqlx::Result<Vec<Dataset>> {
    let rows = sqlx::query_as!(
        DatasetRow,
        r#"select d.id,
             d.slug, d.title, d.aliases, d.summary, d.description,
             o.slug as organization_slug,
             d.publisher_raw, d.landing_url, d.alt_urls, d.doi, d.citation,
             d.source_kind as "source_kind: SourceKind", d.record_type,
             d.access_level as "access_level: AccessLevel", d.access_raw, d.license,
             d.license_raw, d.data_use_limitations, d.access_instructions,
             d.modalities, d.modality_raw, d.body_parts, d.tasks, d.annotation_objects,
             d.conditions, d.formats, d.species, d.dimensionality, d.label_category_count,
             d.challenge, d.supporting_data,
             d.subject_count, d.study_count, d.image_count, d.case_count, d.size_bytes,
             d.count_notes,
             d.deidentification, d.contains_phi,
             d.year, d.release_date_raw, d.last_updated_upstream, d.upstream_status,
             d.idc_collection_id, d.idc_subject_count, d.idc_image_types, d.idc_supporting_data,
             d.idc_access, d.idc_updated,
             d.notes, d.sources,
             o.name as organization_name, o.homepage as organization_homepage,
             d.status as "status: DatasetStatus", d.version, d.created_at, d.updated_at
         from unnest($1::text[]) with ordinality as wanted(slug, position)
         join datasets d on d.slug = wanted.slug
         join organizations o on o.id = d.organization_id
         where $2 or d.status <> 'draft'
         order by wanted.position"#,
        slugs,
        with_drafts,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Dataset::from).collect())
}

/// A dataset by slug, whatever its status.
pub async fn find_dataset(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Dataset>> {
    if !super::validate::is_valid_slug(slug) {
        // Nothing but a canonical slug can name a dataset (and PostgreSQL refuses NUL characters).
        return Ok(None);
    }
    let found = find_datasets_by_slug(db, &[slug.to_owned()], true).await?;
    Ok(found.into_iter().next())
}

/// Published or retired datasets by slug, in the order of `slugs`.
pub async fn find_datasets(
    db: impl PgExecutor<'_>,
    slugs: &[String],
) -> sqlx::Result<Vec<Dataset>> {
    find_datasets_by_slug(db, slugs, false).await
}

/// Summaries of datasets by id, in the order of `ids`.
pub async fn summaries_by_ids(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<DatasetSummary>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as!(
        DatasetSummary,
        r#"select d.slug, d.title, d.summary, o.slug as organization_slug,
                o.name as organization_name, d.source_kind as "source_kind: SourceKind",
                d.access_level as "access_level: AccessLevel", d.modalities, d.body_parts,
                d.subject_count, d.image_count, d.year, d.license, d.doi
         from datasets d join organizations o on o.id = d.organization_id
         join unnest($1::bigint[]) with ordinality as wanted(id, position) on wanted.id = d.id
         order by wanted.position"#,
        ids,
    )
    .fetch_all(db)
    .await
}

/// Summaries of the datasets with the given ids, in the order given, each with the prose a snippet is
/// cut from (summary, description and tasks).
pub async fn summaries_with_text_by_ids(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<(DatasetSummary, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"select d.slug, d.title, d.summary, o.slug as organization_slug,
                o.name as organization_name, d.source_kind as "source_kind: SourceKind",
                d.access_level as "access_level: AccessLevel", d.modalities, d.body_parts,
                d.subject_count, d.image_count, d.year, d.license, d.doi,
                d.summary || ' ' || d.description || ' ' || array_to_string(d.tasks, '; ') as "text!"
         from datasets d join organizations o on o.id = d.organization_id
         join unnest($1::bigint[]) with ordinality as wanted(id, position) on wanted.id = d.id
         order by wanted.position"#,
        ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                DatasetSummary {
                    slug: row.slug,
                    title: row.title,
                    summary: row.summary,
                    organization_slug: row.organization_slug,
                    organization_name: row.organization_name,
                    source_kind: row.source_kind,
                    access_level: row.access_level,
                    modalities: row.modalities,
                    body_parts: row.body_parts,
                    subject_count: row.subject_count,
                    image_count: row.image_count,
                    year: row.year,
                    license: row.license,
                    doi: row.doi,
                },
                row.text,
            )
        })
        .collect())
}

/// Slugs of published datasets, alphabetically.
pub async fn published_slugs(
    db: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select slug from datasets where status = 'published' order by slug limit $1 offset $2",
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// The id, version and status of a dataset, locked until the transaction ends, so that the version
/// read is the one a change builds on.
#[derive(Clone, Copy, Debug)]
pub struct Locked {
    pub id: i64,
    pub version: i32,
    pub status: DatasetStatus,
}

/// Locks the dataset with this slug for the rest of the transaction.
pub async fn lock_dataset(conn: &mut PgConnection, slug: &str) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"select id, version, status as "status: DatasetStatus" from datasets
           where slug = $1 for update"#,
        slug,
    )
    .fetch_optional(conn)
    .await
}

/// Whether a dataset has this slug.
pub async fn slug_taken(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from datasets where slug = $1) as "taken!""#,
        slug,
    )
    .fetch_one(db)
    .await
}

/// Adds a dataset at version 1; returns its id.
pub async fn insert_dataset(
    db: impl PgExecutor<'_>,
    organization_id: i64,
    status: DatasetStatus,
    fields: &DatasetFields,
) -> sqlx::Result<i64> {
    // Each column takes the field of its name (the JSON object's keys are the field names).
    sqlx::query_scalar!(
        "insert into datasets (organization_id, status,
                slug, title, aliases, summary, description,
                publisher_raw, landing_url, alt_urls, doi, citation,
                source_kind, record_type, access_level, access_raw, license,
                license_raw, data_use_limitations, access_instructions,
                modalities, modality_raw, body_parts, tasks, annotation_objects,
                conditions, formats, species, dimensionality, label_category_count,
                challenge, supporting_data,
                subject_count, study_count, image_count, case_count, size_bytes,
                count_notes,
                deidentification, contains_phi,
                year, release_date_raw, last_updated_upstream, upstream_status,
                idc_collection_id, idc_subject_count, idc_image_types, idc_supporting_data,
                idc_access, idc_updated,
                notes, sources)
         select $1, $2,
                r.slug, r.title, r.aliases, r.summary, r.description,
                r.publisher_raw, r.landing_url, r.alt_urls, r.doi, r.citation,
                r.source_kind, r.record_type, r.access_level, r.access_raw, r.license,
                r.license_raw, r.data_use_limitations, r.access_instructions,
                r.modalities, r.modality_raw, r.body_parts, r.tasks, r.annotation_objects,
                r.conditions, r.formats, r.species, r.dimensionality, r.label_category_count,
                r.challenge, r.supporting_data,
                r.subject_count, r.study_count, r.image_count, r.case_count, r.size_bytes,
                r.count_notes,
                r.deidentification, r.contains_phi,
                r.year, r.release_date_raw, r.last_updated_upstream, r.upstream_status,
                r.idc_collection_id, r.idc_subject_count, r.idc_image_types, r.idc_supporting_data,
                r.idc_access, r.idc_updated,
                r.notes, r.sources
         from jsonb_populate_record(null::datasets, $3) as r
         returning id",
        organization_id,
        status as _,
        Json(fields) as _,
    )
    .fetch_one(db)
    .await
}

/// Replaces a dataset's fields if it is still at `expected_version`; returns the new version, or
/// `None` when someone else changed it first.
pub async fn update_dataset(
    db: impl PgExecutor<'_>,
    id: i64,
    expected_version: i32,
    organization_id: i64,
    fields: &DatasetFields,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "update datasets d set organization_id = $3, version = d.version + 1,
             slug = r.slug, title = r.title, aliases = r.aliases, summary = r.summary,
             description = r.description, publisher_raw = r.publisher_raw,
             landing_url = r.landing_url, alt_urls = r.alt_urls, doi = r.doi,
             citation = r.citation, source_kind = r.source_kind, record_type = r.record_type,
             access_level = r.access_level, access_raw = r.access_raw, license = r.license,
             license_raw = r.license_raw, data_use_limitations = r.data_use_limitations,
             access_instructions = r.access_instructions, modalities = r.modalities,
             modality_raw = r.modality_raw, body_parts = r.body_parts, tasks = r.tasks,
             annotation_objects = r.annotation_objects, conditions = r.conditions,
             formats = r.formats, species = r.species, dimensionality = r.dimensionality,
             label_category_count = r.label_category_count, challenge = r.challenge,
             supporting_data = r.supporting_data, subject_count = r.subject_count,
             study_count = r.study_count, image_count = r.image_count, case_count = r.case_count,
             size_bytes = r.size_bytes, count_notes = r.count_notes,
             deidentification = r.deidentification, contains_phi = r.contains_phi, year = r.year,
             release_date_raw = r.release_date_raw,
             last_updated_upstream = r.last_updated_upstream, upstream_status = r.upstream_status,
             idc_collection_id = r.idc_collection_id, idc_subject_count = r.idc_subject_count,
             idc_image_types = r.idc_image_types, idc_supporting_data = r.idc_supporting_data,
             idc_access = r.idc_access, idc_updated = r.idc_updated, notes = r.notes,
             sources = r.sources
         from jsonb_populate_record(null::datasets, $4) as r
         where d.id = $1 and d.version = $2
         returning d.version",
        id,
        expected_version,
        organization_id,
        Json(fields) as _,
    )
    .fetch_optional(db)
    .await
}

/// Moves a dataset to another status (not a new version: the facts stay as they are).
pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: i64,
    status: DatasetStatus,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update datasets set status = $2 where id = $1",
        id,
        status as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Published datasets with the same main anatomy and main modality as `dataset`, largest first; when
/// there are too few, others with the same main anatomy. Each step reads one range of an index.
pub async fn related_datasets(
    db: &PgPool,
    dataset: &Dataset,
    limit: i64,
) -> sqlx::Result<Vec<DatasetSummary>> {
    let fields = &dataset.fields;
    let Some(body_part) = fields.body_parts.first() else {
        return Ok(Vec::new());
    };
    let modality = fields.modalities.first();
    let mut related = sqlx::query_as!(
        DatasetSummary,
        r#"select d.slug, d.title, d.summary, o.slug as organization_slug,
                o.name as organization_name, d.source_kind as "source_kind: SourceKind",
                d.access_level as "access_level: AccessLevel", d.modalities, d.body_parts,
                d.subject_count, d.image_count, d.year, d.license, d.doi
         from datasets d join organizations o on o.id = d.organization_id
         where d.status = 'published' and d.primary_body_part = $1 and d.primary_modality = $2
           and d.id <> $3
         order by d.subject_count desc nulls last, d.id limit $4"#,
        body_part,
        modality,
        dataset.id,
        limit,
    )
    .fetch_all(db)
    .await?;
    let wanted = limit - related.len() as i64;
    if wanted > 0 {
        let others = sqlx::query_as!(
            DatasetSummary,
            r#"select d.slug, d.title, d.summary, o.slug as organization_slug,
                    o.name as organization_name, d.source_kind as "source_kind: SourceKind",
                    d.access_level as "access_level: AccessLevel", d.modalities, d.body_parts,
                    d.subject_count, d.image_count, d.year, d.license, d.doi
             from datasets d join organizations o on o.id = d.organization_id
             where d.status = 'published' and d.primary_body_part = $1
               and d.primary_modality is distinct from $2 and d.id <> $3
             order by d.subject_count desc nulls last, d.id limit $4"#,
            body_part,
            modality,
            dataset.id,
            wanted,
        )
        .fetch_all(db)
        .await?;
        related.extend(others);
    }
    Ok(related)
}

/// Number of datasets, to decide whether a fresh database needs the bundled catalog.
pub async fn count_datasets(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "count!" from datasets"#)
        .fetch_one(db)
        .await
}

/// The catalog's version: moves with every committed change of a dataset or an organization.
pub async fn catalog_version(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!("select version from catalog_state")
        .fetch_one(db)
        .await
}

/// How far the catalog moved past a version: the current version, how many dataset and organization
/// changes the change log records since, and whether it records every version in between.
pub struct CatalogLag {
    pub version: i64,
    pub datasets: i64,
    pub complete: bool,
}

/// The catalog's version and the changes since `since`, in one statement.
pub async fn catalog_lag(db: impl PgExecutor<'_>, since: i64) -> sqlx::Result<CatalogLag> {
    let row = sqlx::query!(
        r#"select s.version,
                  count(c.version) as "changes!",
                  count(distinct c.version) as "versions!"
           from catalog_state s
           left join catalog_changes c on c.version > $1 and c.version <= s.version
           group by s.version"#,
        since
    )
    .fetch_one(db)
    .await?;
    Ok(CatalogLag {
        version: row.version,
        datasets: row.changes,
        complete: row.versions == row.version - since,
    })
}

/// What changed in the catalog after a version, as the change log records it.
pub struct Changes {
    /// The version the changes lead to (the current one).
    pub version: i64,
    pub datasets: Vec<i64>,
    pub organizations: Vec<i64>,
}

/// The datasets and organizations changed after catalog version `since` up to the current version,
/// read in the caller's transaction; `None` when the log does not record every version in between
/// (a restored database, a truncation, a log pruned since).
pub async fn catalog_changes_since(
    tx: &mut PgConnection,
    since: i64,
) -> sqlx::Result<Option<Changes>> {
    let version = catalog_version(&mut *tx).await?;
    if version < since {
        return Ok(None);
    }
    let rows = sqlx::query!(
        "select version, dataset_id, organization_id from catalog_changes
         where version > $1 and version <= $2",
        since,
        version
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut versions = std::collections::HashSet::new();
    let mut changes = Changes {
        version,
        datasets: Vec::new(),
        organizations: Vec::new(),
    };
    for row in rows {
        versions.insert(row.version);
        match (row.dataset_id, row.organization_id) {
            (Some(dataset), _) => changes.datasets.push(dataset),
            (None, Some(organization)) => changes.organizations.push(organization),
            // A truncation: everything changed.
            (None, None) => return Ok(None),
        }
    }
    if versions.len() as i64 != version - since {
        return Ok(None);
    }
    changes.datasets.sort_unstable();
    changes.datasets.dedup();
    changes.organizations.sort_unstable();
    changes.organizations.dedup();
    Ok(Some(changes))
}

/// Forgets changes older than a day: an instance further behind reads the whole catalog.
pub async fn prune_catalog_changes(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from catalog_changes where changed_at < now() - interval '1 day'
         and version < (select version from catalog_state)"
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A label and how many published datasets carry it.
#[derive(Clone, Debug)]
pub struct Count {
    pub value: String,
    pub count: i64,
}

/// The home page's overview: counts by source kind, access level and modality.
pub struct Overview {
    pub total: i64,
    pub organizations: i64,
    pub by_kind: Vec<Count>,
    pub by_access: Vec<Count>,
    pub by_modality: Vec<Count>,
}

/// Modalities the overview counts, the most frequent first.
const OVERVIEW_MODALITIES: i64 = 12;

pub async fn overview(db: &PgPool) -> sqlx::Result<Overview> {
    let totals = sqlx::query!(
        r#"select count(*) as "total!", count(distinct organization_id) as "organizations!"
           from datasets where status = 'published'"#
    )
    .fetch_one(db)
    .await?;
    let by_kind = sqlx::query_as!(
        Count,
        r#"select source_kind::text as "value!", count(*) as "count!" from datasets
           where status = 'published' group by 1 order by 2 desc, 1"#
    )
    .fetch_all(db)
    .await?;
    let by_access = sqlx::query_as!(
        Count,
        r#"select coalesce(access_level::text, 'unknown') as "value!", count(*) as "count!"
           from datasets where status = 'published' group by 1 order by 2 desc, 1"#
    )
    .fetch_all(db)
    .await?;
    let by_modality = sqlx::query_as!(
        Count,
        r#"select m as "value!", count(*) as "count!" from datasets, unnest(modalities) m
           where status = 'published' group by 1 order by 2 desc, 1 limit $1"#,
        OVERVIEW_MODALITIES,
    )
    .fetch_all(db)
    .await?;
    Ok(Overview {
        total: totals.total,
        organizations: totals.organizations,
        by_kind,
        by_access,
        by_modality,
    })
}

/// The most recently changed published datasets.
pub async fn recently_updated(db: &PgPool, limit: i64) -> sqlx::Result<Vec<DatasetSummary>> {
    sqlx::query_as!(
        DatasetSummary,
        r#"select d.slug, d.title, d.summary, o.slug as organization_slug,
                o.name as organization_name, d.source_kind as "source_kind: SourceKind",
                d.access_level as "access_level: AccessLevel", d.modalities, d.body_parts,
                d.subject_count, d.image_count, d.year, d.license, d.doi
         from datasets d join organizations o on o.id = d.organization_id
         where d.status = 'published'
         order by coalesce(d.last_updated_upstream, d.idc_updated) desc nulls last,
                  d.updated_at desc, d.slug
         limit $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}

/// One row of the administrators' dataset list.
#[derive(Clone, Debug)]
pub struct AdminRow {
    pub slug: String,
    pub title: String,
    pub organization_name: String,
    pub status: DatasetStatus,
    pub version: i32,
    pub updated_at: OffsetDateTime,
}

/// Datasets of any status matching `text` (title or slug), most recently changed first.
pub async fn admin_list(
    db: impl PgExecutor<'_>,
    text: &str,
    status: Option<DatasetStatus>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<AdminRow>> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as!(
        AdminRow,
        r#"select d.slug, d.title, o.name as organization_name,
                d.status as "status: DatasetStatus", d.version, d.updated_at
         from datasets d join organizations o on o.id = d.organization_id
         where ($1 = '%%' or d.title ilike $1 or d.slug ilike $1)
           and ($2::dataset_status is null or d.status = $2)
         order by d.updated_at desc, d.id desc limit $3 offset $4"#,
        pattern,
        status as _,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}
