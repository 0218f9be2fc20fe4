//! SQL of bulk imports: many datasets, and their revisions, per statement.
//!
//! The rows go to PostgreSQL as JSON arrays of objects keyed by column name (as the single-row
//! statements of [`super`] do with one object), each array at most [`MAX_STATEMENT_BYTES`] long: a
//! larger set of rows takes several statements.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::catalog::model::{Dataset, DatasetFields, DatasetStatus, RevisionOrigin};

/// The most JSON one statement carries. Statements of several megabytes were seen to stall the
/// connection; at this size a statement still carries about a hundred datasets.
pub const MAX_STATEMENT_BYTES: usize = 256 * 1024;

/// A dataset to add at version 1.
#[derive(Serialize)]
pub struct NewDataset<'a> {
    pub organization_id: i64,
    #[serde(flatten)]
    pub fields: &'a DatasetFields,
}

/// New fields for a dataset, written only if it is still at `version`.
#[derive(Serialize)]
pub struct ChangedDataset<'a> {
    pub id: i64,
    pub version: i32,
    pub organization_id: i64,
    #[serde(flatten)]
    pub fields: &'a DatasetFields,
}

/// A version of a dataset to record.
#[derive(Serialize)]
pub struct NewRevision<'a> {
    pub dataset_id: i64,
    pub version: i32,
    pub changes: &'a Map<String, Value>,
    pub snapshot: &'a DatasetFields,
}

/// `rows` as JSON arrays of at most [`MAX_STATEMENT_BYTES`] each (a single larger row gets an array
/// of its own).
fn json_arrays<T: Serialize>(rows: &[T]) -> Vec<String> {
    let new_array = || {
        let mut array = Vec::with_capacity(MAX_STATEMENT_BYTES);
        array.push(b'[');
        array
    };
    let mut arrays = Vec::new();
    let mut array = new_array();
    for row in rows {
        let end = array.len();
        if end > 1 {
            array.push(b',');
        }
        serde_json::to_writer(&mut array, row).expect("dataset rows serialize");
        if array.len() + 1 > MAX_STATEMENT_BYTES && end > 1 {
            // The row starts the next array.
            let mut next = new_array();
            next.extend_from_slice(&array[end + 1..]);
            array.truncate(end);
            arrays.push(array);
            array = next;
        }
    }
    if array.len() > 1 {
        arrays.push(array);
    }
    arrays
        .into_iter()
        .map(|mut array| {
            array.push(b']');
            String::from_utf8(array).expect("JSON is UTF-8")
        })
        .collect()
}

/// The datasets with these slugs, whatever their status.
pub async fn read(conn: &mut PgConnection, slugs: &[String]) -> sqlx::Result<Vec<Dataset>> {
    super::find_datasets_by_slug(conn, slugs, true).await
}

/// Locks the datasets with these slugs for the rest of the transaction, in the order of their slugs
/// (so that two imports never wait for each other in a circle), then reads them.
pub async fn lock_and_read(
    conn: &mut PgConnection,
    slugs: &[String],
) -> sqlx::Result<Vec<Dataset>> {
    let locked = sqlx::query_scalar!(
        "select slug from datasets where slug = any($1) order by slug for update",
        slugs,
    )
    .fetch_all(&mut *conn)
    .await?;
    super::find_datasets_by_slug(conn, &locked, true).await
}

/// Adds the datasets whose slug is free, in the order given, at version 1 with their first revision
/// (with `origin`, no actor, and every field that has a value as changed from nothing, as
/// [`DatasetFields::changes_since`] describes a new dataset); returns the (slug, id) of each one
/// added. A slug another transaction takes first is left out, once that transaction has committed.
pub async fn insert_datasets(
    conn: &mut PgConnection,
    status: DatasetStatus,
    origin: RevisionOrigin,
    rows: &[NewDataset<'_>],
) -> sqlx::Result<Vec<(String, i64)>> {
    let mut added = Vec::with_capacity(rows.len());
    for array in json_arrays(rows) {
        let rows = sqlx::query!(
            r#"with new as (
                 select row.value - 'organization_id' as snapshot, r.*
                 from jsonb_array_elements($3::text::jsonb) with ordinality as row(value, position),
                      jsonb_populate_record(null::datasets, row.value) as r
                 order by row.position),
             added as (
                 insert into datasets (organization_id, status,
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
                 select n.organization_id, $1,
                        n.slug, n.title, n.aliases, n.summary, n.description,
                        n.publisher_raw, n.landing_url, n.alt_urls, n.doi, n.citation,
                        n.source_kind, n.record_type, n.access_level, n.access_raw, n.license,
                        n.license_raw, n.data_use_limitations, n.access_instructions,
                        n.modalities, n.modality_raw, n.body_parts, n.tasks, n.annotation_objects,
                        n.conditions, n.formats, n.species, n.dimensionality,
                        n.label_category_count, n.challenge, n.supporting_data,
                        n.subject_count, n.study_count, n.image_count, n.case_count, n.size_bytes,
                        n.count_notes,
                        n.deidentification, n.contains_phi,
                        n.year, n.release_date_raw, n.last_updated_upstream, n.upstream_status,
                        n.idc_collection_id, n.idc_subject_count, n.idc_image_types,
                        n.idc_supporting_data, n.idc_access, n.idc_updated,
                        n.notes, n.sources
                 from new n
                 on conflict (slug) do nothing
                 returning slug, id),
             revisions as (
                 insert into dataset_revisions (dataset_id, version, origin, changes, snapshot)
                 select a.id, 1, $2,
                        (select coalesce(jsonb_object_agg(
                                    field.key, jsonb_build_object('before', null, 'after', field.value)),
                                    '{}')
                         from jsonb_each(n.snapshot) as field
                         where field.value <> 'null'::jsonb),
                        n.snapshot
                 from added a join new n on n.slug = a.slug)
             select slug as "slug!", id as "id!" from added"#,
            status as _,
            origin as _,
            array,
        )
        .fetch_all(&mut *conn)
        .await?;
        added.extend(rows.into_iter().map(|row| (row.slug, row.id)));
    }
    Ok(added)
}

/// Replaces the fields of each dataset still at the version given; returns the (id, new version) of
/// each one written.
pub async fn update_datasets(
    conn: &mut PgConnection,
    rows: &[ChangedDataset<'_>],
) -> sqlx::Result<Vec<(i64, i32)>> {
    let mut written = Vec::with_capacity(rows.len());
    for array in json_arrays(rows) {
        let rows = sqlx::query!(
            "update datasets d set organization_id = r.organization_id, version = d.version + 1,
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
                 study_count = r.study_count, image_count = r.image_count,
                 case_count = r.case_count, size_bytes = r.size_bytes,
                 count_notes = r.count_notes, deidentification = r.deidentification,
                 contains_phi = r.contains_phi, year = r.year,
                 release_date_raw = r.release_date_raw,
                 last_updated_upstream = r.last_updated_upstream,
                 upstream_status = r.upstream_status, idc_collection_id = r.idc_collection_id,
                 idc_subject_count = r.idc_subject_count, idc_image_types = r.idc_image_types,
                 idc_supporting_data = r.idc_supporting_data, idc_access = r.idc_access,
                 idc_updated = r.idc_updated, notes = r.notes, sources = r.sources
             from jsonb_populate_recordset(null::datasets, $1::text::jsonb) as r
             where d.id = r.id and d.version = r.version
             returning d.id, d.version",
            array,
        )
        .fetch_all(&mut *conn)
        .await?;
        written.extend(rows.into_iter().map(|row| (row.id, row.version)));
    }
    Ok(written)
}

/// Records new versions of datasets, all with the same origin and no actor.
pub async fn insert_revisions(
    conn: &mut PgConnection,
    origin: RevisionOrigin,
    revisions: &[NewRevision<'_>],
) -> sqlx::Result<()> {
    for array in json_arrays(revisions) {
        sqlx::query!(
            "insert into dataset_revisions (dataset_id, version, origin, changes, snapshot)
             select r.dataset_id, r.version, $1, r.changes, r.snapshot
             from jsonb_to_recordset($2::text::jsonb)
                 as r(dataset_id bigint, version integer, changes jsonb, snapshot jsonb)",
            origin as _,
            array,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_into_arrays_of_bounded_size() {
        let rows: Vec<String> = (0..1000).map(|i| format!("{i:0>1000}")).collect();

        let arrays = json_arrays(&rows);

        assert!(arrays.len() > 1);
        assert!(arrays.iter().all(|a| a.len() <= MAX_STATEMENT_BYTES));
        let parsed: Vec<String> = arrays
            .iter()
            .flat_map(|a| serde_json::from_str::<Vec<String>>(a).unwrap())
            .collect();
        assert_eq!(parsed, rows);
        assert!(json_arrays::<String>(&[]).is_empty());
        let large = vec!["x".repeat(MAX_STATEMENT_BYTES * 2)];
        assert_eq!(json_arrays(&large).len(), 1);
    }
}
