//! All SQL of the catalog: datasets, organizations, revisions, search and the counts on the home page.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, PgPool, Postgres};

use super::model::{
    Dataset, DatasetFields, DatasetStatus, DatasetSummary, Organization, OrganizationRef,
};

/// What happened to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// The dataset columns behind `DatasetFields`, in its field order, without `organization_slug`.
const FIELD_COLUMNS: &[&str] = &[
    "slug",
    "title",
    "aliases",
    "summary",
    "description",
    "publisher_raw",
    "landing_url",
    "alt_urls",
    "doi",
    "citation",
    "source_kind",
    "record_type",
    "access_level",
    "access_raw",
    "license",
    "license_raw",
    "data_use_limitations",
    "access_instructions",
    "modalities",
    "modality_raw",
    "body_parts",
    "tasks",
    "annotation_objects",
    "conditions",
    "formats",
    "species",
    "dimensionality",
    "label_category_count",
    "challenge",
    "supporting_data",
    "subject_count",
    "study_count",
    "image_count",
    "case_count",
    "size_bytes",
    "count_notes",
    "deidentification",
    "contains_phi",
    "year",
    "release_date_raw",
    "last_updated_upstream",
    "upstream_status",
    "idc_collection_id",
    "idc_subject_count",
    "idc_image_types",
    "idc_supporting_data",
    "idc_access",
    "idc_updated",
    "notes",
    "sources",
];

/// Binds `fields` in `FIELD_COLUMNS` order.
fn bind_fields<'q>(
    query: Query<'q, Postgres, PgArguments>,
    fields: &'q DatasetFields,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(&fields.slug)
        .bind(&fields.title)
        .bind(&fields.aliases)
        .bind(&fields.summary)
        .bind(&fields.description)
        .bind(&fields.publisher_raw)
        .bind(&fields.landing_url)
        .bind(&fields.alt_urls)
        .bind(&fields.doi)
        .bind(&fields.citation)
        .bind(fields.source_kind)
        .bind(&fields.record_type)
        .bind(fields.access_level)
        .bind(&fields.access_raw)
        .bind(&fields.license)
        .bind(&fields.license_raw)
        .bind(&fields.data_use_limitations)
        .bind(&fields.access_instructions)
        .bind(&fields.modalities)
        .bind(&fields.modality_raw)
        .bind(&fields.body_parts)
        .bind(&fields.tasks)
        .bind(&fields.annotation_objects)
        .bind(&fields.conditions)
        .bind(&fields.formats)
        .bind(&fields.species)
        .bind(&fields.dimensionality)
        .bind(fields.label_category_count)
        .bind(&fields.challenge)
        .bind(&fields.supporting_data)
        .bind(fields.subject_count)
        .bind(fields.study_count)
        .bind(fields.image_count)
        .bind(fields.case_count)
        .bind(fields.size_bytes)
        .bind(&fields.count_notes)
        .bind(&fields.deidentification)
        .bind(fields.contains_phi)
        .bind(fields.year)
        .bind(&fields.release_date_raw)
        .bind(fields.last_updated_upstream)
        .bind(&fields.upstream_status)
        .bind(&fields.idc_collection_id)
        .bind(fields.idc_subject_count)
        .bind(&fields.idc_image_types)
        .bind(&fields.idc_supporting_data)
        .bind(&fields.idc_access)
        .bind(fields.idc_updated)
        .bind(&fields.notes)
        .bind(&fields.sources)
}

/// `d.slug, d.title, …, o.slug as organization_slug`.
static SELECT_FIELDS: LazyLock<String> = LazyLock::new(|| {
    let mut columns: Vec<String> = FIELD_COLUMNS.iter().map(|c| format!("d.{c}")).collect();
    columns.push("o.slug as organization_slug".to_owned());
    columns.join(", ")
});

/// `insert into datasets (organization_id, status, slug, …) values ($1, $2, $3, …) returning id`.
static INSERT_DATASET: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (3..FIELD_COLUMNS.len() + 3)
        .map(|n| format!("${n}"))
        .collect();
    format!(
        "insert into datasets (organization_id, status, {}) values ($1, $2, {}) returning id",
        FIELD_COLUMNS.join(", "),
        placeholders.join(", ")
    )
});

/// Sets every field and bumps the version, only if the version is still the one read.
static UPDATE_DATASET: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> = FIELD_COLUMNS
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ${}", index + 4))
        .collect();
    format!(
        "update datasets set organization_id = $3, {}, version = version + 1 \
         where id = $1 and version = $2 returning version",
        assignments.join(", ")
    )
});

static SELECT_DATASET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select d.id, {}, o.name as organization_name, o.homepage as organization_homepage, d.status, d.version, d.created_at, d.updated_at \
         from datasets d join organizations o on o.id = d.organization_id",
        *SELECT_FIELDS
    )
});

/// Columns of `DatasetSummary`, for any query over `datasets d join organizations o`.
pub const SUMMARY_COLUMNS: &str = "d.slug, d.title, d.summary, o.slug as organization_slug, \
     o.name as organization_name, d.source_kind, d.access_level, d.modalities, d.body_parts, \
     d.subject_count, d.image_count, d.year, d.license, d.doi";

/// A dataset by slug, whatever its status.
pub async fn find_dataset(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Dataset>> {
    if !super::validate::is_valid_slug(slug) {
        // Nothing but a canonical slug can name a dataset (and PostgreSQL refuses NUL characters).
        return Ok(None);
    }
    sqlx::query_as(&format!("{} where d.slug = $1", *SELECT_DATASET))
        .bind(slug)
        .fetch_optional(db)
        .await
}

/// Summaries of published datasets by id, in the order of `ids`.
pub async fn summaries_by_ids(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<DatasetSummary>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "select {SUMMARY_COLUMNS} from datasets d join organizations o on o.id = d.organization_id
         join unnest($1::bigint[]) with ordinality as wanted(id, position) on wanted.id = d.id
         order by wanted.position"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Published or retired datasets by slug, in the order of `slugs`.
pub async fn find_datasets(
    db: impl PgExecutor<'_>,
    slugs: &[String],
) -> sqlx::Result<Vec<Dataset>> {
    sqlx::query_as(&format!(
        "{} join unnest($1::text[]) with ordinality as wanted(slug, position) on wanted.slug = d.slug
         where d.status <> 'draft' order by wanted.position",
        *SELECT_DATASET
    ))
    .bind(slugs)
    .fetch_all(db)
    .await
}

/// Slugs of published datasets, alphabetically.
pub async fn published_slugs(
    db: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select slug from datasets where status = 'published' order by slug limit $1 offset $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// Creates the organization if its slug is new; returns its id either way. Curated names are kept.
pub async fn ensure_organization(
    db: impl PgExecutor<'_>,
    organization: &OrganizationRef,
) -> sqlx::Result<i64> {
    // Reading first leaves an existing organization untouched (no write, no catalog version bump).
    sqlx::query_scalar(
        "with created as (
             insert into organizations (slug, name, homepage)
             select $1, $2, $3 where not exists (select 1 from organizations where slug = $1)
             on conflict (slug) do nothing
             returning id)
         select id from created union all select id from organizations where slug = $1
         limit 1",
    )
    .bind(&organization.slug)
    .bind(&organization.name)
    .bind(&organization.homepage)
    .fetch_one(db)
    .await
}

/// Writes one imported record in its own transaction: creates it, updates it with a revision, or
/// leaves it alone when nothing changed.
pub async fn save_imported(
    pool: &PgPool,
    organization: &OrganizationRef,
    fields: &DatasetFields,
) -> sqlx::Result<Outcome> {
    let mut tx = pool.begin().await?;
    let outcome = save_imported_in(&mut tx, organization, fields).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Creates or updates one imported record inside the caller's transaction.
pub async fn save_imported_in(
    tx: &mut sqlx::PgConnection,
    organization: &OrganizationRef,
    fields: &DatasetFields,
) -> sqlx::Result<Outcome> {
    let organization_id = ensure_organization(&mut *tx, organization).await?;
    let existing: Option<(i64, i32)> =
        sqlx::query_as("select id, version from datasets where slug = $1 for update")
            .bind(&fields.slug)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = match existing {
        None => {
            let id: i64 = bind_fields(
                sqlx::query(&INSERT_DATASET)
                    .bind(organization_id)
                    .bind(DatasetStatus::Published),
                fields,
            )
            .fetch_one(&mut *tx)
            .await
            .map(|row| sqlx::Row::get(&row, 0))?;
            let changes = diff_fields(None, fields);
            insert_revision(&mut *tx, id, 1, None, "import", &changes, fields).await?;
            Outcome::Created
        }
        Some((id, version)) => {
            let before = find_dataset(&mut *tx, &fields.slug)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?
                .fields;
            let fields = &keep_curated_fields(&before, fields);
            if before == *fields {
                Outcome::Unchanged
            } else {
                let new_version = update_dataset(&mut *tx, id, version, organization_id, fields)
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                let changes = diff_fields(Some(&before), fields);
                insert_revision(&mut *tx, id, new_version, None, "import", &changes, fields)
                    .await?;
                Outcome::Updated
            }
        }
    };
    Ok(outcome)
}

/// The imported record with the facts the exchange format does not carry (description, access
/// instructions, data-use limitations, citation, formats, size, de-identification, PHI) kept as curated.
fn keep_curated_fields(before: &DatasetFields, imported: &DatasetFields) -> DatasetFields {
    DatasetFields {
        description: before.description.clone(),
        access_instructions: before.access_instructions.clone(),
        data_use_limitations: before.data_use_limitations.clone(),
        citation: before.citation.clone(),
        formats: before.formats.clone(),
        size_bytes: before.size_bytes,
        deidentification: before.deidentification.clone(),
        contains_phi: before.contains_phi,
        ..imported.clone()
    }
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
    let row = bind_fields(
        sqlx::query(&UPDATE_DATASET)
            .bind(id)
            .bind(expected_version)
            .bind(organization_id),
        fields,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| sqlx::Row::get(&row, 0)))
}

/// Records one version of a dataset: what changed and the whole record after the change.
pub async fn insert_revision(
    db: impl PgExecutor<'_>,
    dataset_id: i64,
    version: i32,
    actor_id: Option<i64>,
    origin: &str,
    changes: &Map<String, Value>,
    snapshot: &DatasetFields,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into dataset_revisions (dataset_id, version, actor_id, origin, changes, snapshot)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(dataset_id)
    .bind(version)
    .bind(actor_id)
    .bind(origin)
    .bind(Value::Object(changes.clone()))
    .bind(sqlx::types::Json(snapshot))
    .execute(db)
    .await?;
    Ok(())
}

/// Per-field differences: `{"title": {"before": …, "after": …}}`; every field when there is no `before`.
pub fn diff_fields(before: Option<&DatasetFields>, after: &DatasetFields) -> Map<String, Value> {
    let after = serde_json::to_value(after).unwrap_or_default();
    let before = before
        .map(|before| serde_json::to_value(before).unwrap_or_default())
        .unwrap_or(Value::Null);
    let mut changes = Map::new();
    if let Value::Object(after) = after {
        for (field, new_value) in after {
            let old_value = before.get(&field).cloned().unwrap_or(Value::Null);
            if old_value != new_value {
                changes.insert(field, json!({ "before": old_value, "after": new_value }));
            }
        }
    }
    changes
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
    let same_modality = "d.primary_modality = $2";
    let other_modality = "d.primary_modality is distinct from $2";
    let mut related = Vec::new();
    for modality_condition in [same_modality, other_modality] {
        let wanted = limit - related.len() as i64;
        if wanted <= 0 {
            break;
        }
        let found: Vec<DatasetSummary> = sqlx::query_as(&format!(
            "select {SUMMARY_COLUMNS} from datasets d join organizations o on o.id = d.organization_id
             where d.status = 'published' and d.primary_body_part = $1 and {modality_condition}
               and d.id <> $3
             order by d.subject_count desc nulls last, d.id limit $4"
        ))
        .bind(body_part)
        .bind(fields.modalities.first())
        .bind(dataset.id)
        .bind(wanted)
        .fetch_all(db)
        .await?;
        related.extend(found);
    }
    Ok(related)
}

/// Number of datasets, to decide whether a fresh database needs the bundled catalog.
pub async fn count_datasets(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from datasets")
        .fetch_one(db)
        .await
}

/// A label and how many published datasets carry it.
#[derive(Clone, Debug, sqlx::FromRow)]
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

pub async fn overview(db: &PgPool) -> sqlx::Result<Overview> {
    let (total, organizations): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct organization_id) from datasets where status = 'published'",
    )
    .fetch_one(db)
    .await?;
    let by_kind = sqlx::query_as(
        "select source_kind::text as value, count(*) as count from datasets
         where status = 'published' group by 1 order by 2 desc, 1",
    )
    .fetch_all(db)
    .await?;
    let by_access = sqlx::query_as(
        "select coalesce(access_level::text, 'unknown') as value, count(*) as count from datasets
         where status = 'published' group by 1 order by 2 desc, 1",
    )
    .fetch_all(db)
    .await?;
    let by_modality = sqlx::query_as(
        "select m as value, count(*) as count from datasets, unnest(modalities) m
         where status = 'published' group by 1 order by 2 desc, 1 limit 12",
    )
    .fetch_all(db)
    .await?;
    Ok(Overview {
        total,
        organizations,
        by_kind,
        by_access,
        by_modality,
    })
}

/// The most recently changed published datasets.
pub async fn recently_updated(db: &PgPool, limit: i64) -> sqlx::Result<Vec<DatasetSummary>> {
    sqlx::query_as(&format!(
        "select {SUMMARY_COLUMNS} from datasets d join organizations o on o.id = d.organization_id
         where d.status = 'published'
         order by coalesce(d.last_updated_upstream, d.idc_updated) desc nulls last, d.updated_at desc, d.slug
         limit $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Organizations with their number of published datasets, by name.
pub async fn list_organizations(db: &PgPool) -> sqlx::Result<Vec<Organization>> {
    sqlx::query_as(
        "select o.id, o.slug, o.name, o.homepage, o.description,
                count(d.id) filter (where d.status = 'published') as dataset_count
         from organizations o left join datasets d on d.organization_id = o.id
         group by o.id order by dataset_count desc, lower(o.name)",
    )
    .fetch_all(db)
    .await
}

pub async fn find_organization(db: &PgPool, slug: &str) -> sqlx::Result<Option<Organization>> {
    if slug.contains('\0') {
        return Ok(None);
    }
    sqlx::query_as(
        "select o.id, o.slug, o.name, o.homepage, o.description,
                count(d.id) filter (where d.status = 'published') as dataset_count
         from organizations o left join datasets d on d.organization_id = o.id
         where o.slug = $1 group by o.id",
    )
    .bind(slug)
    .fetch_optional(db)
    .await
}

/// Curating datasets: creating, changing status, listing for administrators, and revision history.
pub mod curation {
    use serde_json::{Map, Value};
    use sqlx::{PgConnection, PgExecutor};
    use time::OffsetDateTime;

    use super::super::model::{DatasetFields, DatasetStatus};
    use super::{INSERT_DATASET, bind_fields, diff_fields, insert_revision};

    /// Creates (`id` = None) or updates an organization; `None` when the slug is taken.
    pub async fn save_organization(
        db: impl PgExecutor<'_>,
        id: Option<i64>,
        slug: &str,
        name: &str,
        homepage: Option<&str>,
        description: &str,
    ) -> sqlx::Result<Option<i64>> {
        match id {
            None => sqlx::query_scalar(
                "insert into organizations (slug, name, homepage, description) values ($1, $2, $3, $4)
                 on conflict (slug) do nothing returning id",
            ),
            Some(_) => sqlx::query_scalar(
                "update organizations set name = $2, homepage = $3, description = $4 where id = $5 returning id",
            ),
        }
        .bind(slug)
        .bind(name)
        .bind(homepage)
        .bind(description)
        .bind(id)
        .fetch_optional(db)
        .await
    }

    /// The id of the organization with this slug.
    pub async fn organization_id(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar("select id from organizations where slug = $1")
            .bind(slug)
            .fetch_optional(db)
            .await
    }

    /// Creates a draft dataset with its first revision; `None` when the slug is taken.
    pub async fn create(
        tx: &mut PgConnection,
        organization_id: i64,
        fields: &DatasetFields,
        actor: i64,
    ) -> sqlx::Result<Option<i64>> {
        let taken: bool =
            sqlx::query_scalar("select exists (select 1 from datasets where slug = $1)")
                .bind(&fields.slug)
                .fetch_one(&mut *tx)
                .await?;
        if taken {
            return Ok(None);
        }
        let id: i64 = bind_fields(
            sqlx::query(&INSERT_DATASET)
                .bind(organization_id)
                .bind(DatasetStatus::Draft),
            fields,
        )
        .fetch_one(&mut *tx)
        .await
        .map(|row| sqlx::Row::get(&row, 0))?;
        insert_revision(
            &mut *tx,
            id,
            1,
            Some(actor),
            "editor",
            &diff_fields(None, fields),
            fields,
        )
        .await?;
        Ok(Some(id))
    }

    pub async fn set_status(
        db: impl PgExecutor<'_>,
        id: i64,
        status: DatasetStatus,
    ) -> sqlx::Result<()> {
        sqlx::query("update datasets set status = $2 where id = $1")
            .bind(id)
            .bind(status)
            .execute(db)
            .await?;
        Ok(())
    }

    /// One row of the administrators' dataset list.
    #[derive(Clone, Debug, sqlx::FromRow)]
    pub struct Row {
        pub slug: String,
        pub title: String,
        pub organization_name: String,
        pub status: DatasetStatus,
        pub version: i32,
        pub updated_at: OffsetDateTime,
    }

    /// Datasets of any status matching `text` (title or slug), most recently changed first.
    pub async fn list(
        db: impl PgExecutor<'_>,
        text: &str,
        status: Option<DatasetStatus>,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<Vec<Row>> {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        sqlx::query_as(
            "select d.slug, d.title, o.name as organization_name, d.status, d.version, d.updated_at
             from datasets d join organizations o on o.id = d.organization_id
             where ($1 = '%%' or d.title ilike $1 or d.slug ilike $1)
               and ($2::dataset_status is null or d.status = $2)
             order by d.updated_at desc, d.id desc limit $3 offset $4",
        )
        .bind(pattern)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
    }

    /// A recorded version of a dataset.
    #[derive(Clone, Debug, sqlx::FromRow)]
    pub struct Revision {
        pub id: i64,
        pub version: i32,
        pub actor_name: Option<String>,
        pub origin: String,
        pub changes: Value,
        pub created_at: OffsetDateTime,
    }

    impl Revision {
        /// (field, before, after) for each changed field, as short text.
        pub fn changed_fields(&self) -> Vec<(String, String, String)> {
            let shorten = |value: &Value| {
                let text = match value {
                    Value::Null => "—".to_owned(),
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                if text.chars().count() > 300 {
                    format!("{}…", text.chars().take(300).collect::<String>())
                } else {
                    text
                }
            };
            let Value::Object(map) = &self.changes else {
                return Vec::new();
            };
            map.iter()
                .map(|(field, change)| {
                    (
                        field.clone(),
                        shorten(&change["before"]),
                        shorten(&change["after"]),
                    )
                })
                .collect()
        }
    }

    pub async fn revisions(
        db: impl PgExecutor<'_>,
        dataset_id: i64,
    ) -> sqlx::Result<Vec<Revision>> {
        sqlx::query_as(
            "select r.id, r.version, u.name as actor_name, r.origin, r.changes, r.created_at
             from dataset_revisions r left join users u on u.id = r.actor_id
             where r.dataset_id = $1 order by r.version desc",
        )
        .bind(dataset_id)
        .fetch_all(db)
        .await
    }

    /// The whole record as it was at a revision.
    pub async fn snapshot(
        db: impl PgExecutor<'_>,
        dataset_id: i64,
        version: i32,
    ) -> sqlx::Result<Option<DatasetFields>> {
        let value: Option<Value> = sqlx::query_scalar(
            "select snapshot from dataset_revisions where dataset_id = $1 and version = $2",
        )
        .bind(dataset_id)
        .bind(version)
        .fetch_optional(db)
        .await?;
        Ok(value.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Per-field changes between two records.
    pub fn changes(before: &DatasetFields, after: &DatasetFields) -> Map<String, Value> {
        diff_fields(Some(before), after)
    }
}

/// Catalog health: datasets missing key facts and likely duplicates.
pub mod health {
    use sqlx::PgExecutor;

    /// A published dataset and the key facts it lacks.
    #[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
    pub struct Missing {
        pub slug: String,
        pub title: String,
        pub missing: Vec<String>,
    }

    /// Published datasets lacking a summary, landing URL, access level, licence, modality, body part
    /// or subject count, most gaps first.
    pub async fn missing_facts(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Missing>> {
        sqlx::query_as(
            "select slug, title, missing from (
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
             order by cardinality(missing) desc, title",
        )
        .fetch_all(db)
        .await
    }

    /// Two datasets that look like the same one, and why.
    #[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
    pub struct Duplicate {
        pub first: String,
        pub second: String,
        pub reason: String,
    }

    /// Pairs of datasets (not retired) with the same DOI, the same landing URL, or nearly the same
    /// title (trigram similarity of at least 0.8).
    pub async fn duplicates(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Duplicate>> {
        sqlx::query_as(
            "select a.slug as first, b.slug as second,
                    case when lower(a.doi) = lower(b.doi) then 'same DOI ' || a.doi
                         when a.landing_url = b.landing_url then 'same landing URL ' || a.landing_url
                         else 'nearly the same title' end as reason
             from datasets a join datasets b on a.id < b.id
             where a.status <> 'retired' and b.status <> 'retired'
               and (lower(a.doi) = lower(b.doi)
                    or a.landing_url = b.landing_url
                    or (a.title % b.title and similarity(a.title, b.title) >= 0.8))
             order by a.slug, b.slug
             limit 500",
        )
        .fetch_all(db)
        .await
    }
}

/// Checks of landing URLs.
pub mod links {
    use sqlx::PgExecutor;

    /// Published datasets whose landing URL was not checked within `hours`: (id, url).
    pub async fn due(
        db: impl PgExecutor<'_>,
        hours: i32,
        limit: i64,
    ) -> sqlx::Result<Vec<(i64, String)>> {
        sqlx::query_as(
            "select d.id, d.landing_url from datasets d left join link_checks c on c.dataset_id = d.id
             where d.status = 'published' and d.landing_url is not null
               and (c.checked_at is null or c.url <> d.landing_url
                    or c.checked_at < now() - make_interval(hours => $1))
             order by c.checked_at nulls first limit $2",
        )
        .bind(hours)
        .bind(limit)
        .fetch_all(db)
        .await
    }

    pub async fn record(
        db: impl PgExecutor<'_>,
        dataset_id: i64,
        url: &str,
        status: Option<i32>,
        error: Option<&str>,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "insert into link_checks (dataset_id, url, status, error) values ($1, $2, $3, $4)
             on conflict (dataset_id) do update
                 set url = excluded.url, status = excluded.status, error = excluded.error, checked_at = now()",
        )
        .bind(dataset_id)
        .bind(url)
        .bind(status)
        .bind(error)
        .execute(db)
        .await?;
        Ok(())
    }

    /// A landing URL that failed its last check.
    #[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
    pub struct Broken {
        pub slug: String,
        pub title: String,
        pub url: String,
        pub problem: String,
    }

    pub async fn broken(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Broken>> {
        sqlx::query_as(
            "select d.slug, d.title, c.url,
                    coalesce(c.error, 'answered HTTP ' || c.status) as problem
             from link_checks c join datasets d on d.id = c.dataset_id
             where d.status = 'published' and c.url = d.landing_url
               and (c.error is not null or c.status >= 400)
             order by d.title",
        )
        .fetch_all(db)
        .await
    }
}
