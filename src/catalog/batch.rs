//! Writing a batch of checked import records with a few set-based statements: the organizations
//! they name, the datasets that are new, the ones that changed, and one revision for each dataset
//! created or changed. A record equal to its dataset writes nothing, not even a row lock: only the
//! datasets that change are locked (and compared again once locked).
//!
//! A batch is written in one transaction (a savepoint inside the caller's transaction). When a
//! record breaks a rule of the database the batch is split and its halves written again, down to the
//! record that breaks it, which is rejected and leaves nothing behind, as if each record had had its
//! own transaction. A batch chosen as the victim of a deadlock is written again.

use std::collections::{HashMap, HashSet};

use serde_json::Map;
use sqlx::{Connection, PgConnection};

use super::db::bulk::{self, ChangedDataset, NewDataset, NewRevision};
use super::db::organizations;
use super::model::{Dataset, DatasetFields, DatasetStatus, OrganizationRef, RevisionOrigin};

/// A record that passed every check, ready to be written.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Position in the file, counting from 1.
    pub position: usize,
    pub fields: DatasetFields,
    pub organization: OrganizationRef,
}

/// What writing a record did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    Saved(Outcome),
    /// The record breaks this rule of the database; nothing of it was written.
    Refused {
        constraint: String,
    },
}

/// What saving a record did to its dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// The dataset already had the record's facts; nothing was written.
    Unchanged,
}

/// How often a batch is tried when PostgreSQL breaks a deadlock by cancelling it.
const DEADLOCK_ATTEMPTS: u32 = 5;

/// Writes `records` (each slug at most once); returns what happened to each, in their order.
pub async fn write(conn: &mut PgConnection, records: &[Checked]) -> sqlx::Result<Vec<Written>> {
    let mut written: Vec<Option<Written>> = vec![None; records.len()];
    // The parts still to write, the next one last.
    let mut pending: Vec<std::ops::Range<usize>> = Vec::new();
    if !records.is_empty() {
        pending.push(0..records.len());
    }
    while let Some(range) = pending.pop() {
        let part = &records[range.clone()];
        match write_retrying(conn, part).await {
            Ok(outcomes) => {
                for (index, outcome) in range.zip(outcomes) {
                    written[index] = Some(Written::Saved(outcome));
                }
            }
            Err(error) => match broken_rule(&error) {
                Some(constraint) if part.len() == 1 => {
                    written[range.start] = Some(Written::Refused { constraint });
                }
                // The first half is written first, so records go in in the file's order.
                Some(_) => {
                    let middle = range.start + part.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                None => return Err(error),
            },
        }
    }
    Ok(written
        .into_iter()
        .map(|outcome| outcome.expect("each record is written or rejected"))
        .collect())
}

/// The constraint a database error reports, when the error is a record breaking a rule.
fn broken_rule(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(error) => error.constraint().map(str::to_owned),
        _ => None,
    }
}

fn is_deadlock(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.code().as_deref() == Some("40P01"))
}

/// Writes `records` in one transaction, again when a deadlock cancels it.
async fn write_retrying(
    conn: &mut PgConnection,
    records: &[Checked],
) -> sqlx::Result<Vec<Outcome>> {
    let mut attempt = 1;
    loop {
        let mut tx = conn.begin().await?;
        match write_all(&mut tx, records).await {
            Ok(outcomes) => {
                tx.commit().await?;
                return Ok(outcomes);
            }
            Err(error) => {
                tx.rollback().await?;
                if attempt == DEADLOCK_ATTEMPTS || !is_deadlock(&error) {
                    return Err(error);
                }
                attempt += 1;
            }
        }
    }
}

/// A dataset changed by the batch, with the revision that records it.
struct Version<'a> {
    dataset_id: i64,
    version: i32,
    changes: Map<String, serde_json::Value>,
    snapshot: &'a DatasetFields,
}

/// Writes `records` inside the caller's transaction.
async fn write_all(conn: &mut PgConnection, records: &[Checked]) -> sqlx::Result<Vec<Outcome>> {
    let organization_ids = organization_ids(conn, records).await?;
    let organization_id = |record: &Checked| {
        organization_ids
            .get(&record.organization.slug)
            .copied()
            .ok_or(sqlx::Error::RowNotFound)
    };
    let mut sorted: Vec<&Checked> = records.iter().collect();
    sorted.sort_by(|a, b| a.fields.slug.cmp(&b.fields.slug));
    let by_slug: HashMap<&str, &Checked> = sorted
        .iter()
        .map(|record| (record.fields.slug.as_str(), *record))
        .collect();
    let slugs: Vec<String> = sorted.iter().map(|r| r.fields.slug.clone()).collect();

    // The stored datasets are read without a lock: one the record leaves as it is is not written
    // to at all.
    let stored: HashMap<String, Dataset> = bulk::read(&mut *conn, &slugs)
        .await?
        .into_iter()
        .map(|dataset| (dataset.fields.slug.clone(), dataset))
        .collect();

    // New slugs are added (in slug order, like every lock taken here, so that imports running at
    // once cannot wait for each other in a circle); a slug another import adds first is compared
    // below like the others.
    let mut new = Vec::new();
    for record in sorted
        .iter()
        .filter(|r| !stored.contains_key(&r.fields.slug))
    {
        new.push(NewDataset {
            organization_id: organization_id(record)?,
            fields: &record.fields,
        });
    }
    let added: HashMap<String, i64> = if new.is_empty() {
        HashMap::new()
    } else {
        bulk::insert_datasets(
            &mut *conn,
            DatasetStatus::Published,
            RevisionOrigin::Import,
            &new,
        )
        .await?
        .into_iter()
        .collect()
    };
    let mut outcomes: HashMap<&str, Outcome> = HashMap::new();
    for slug in added.keys() {
        outcomes.insert(&by_slug[slug.as_str()].fields.slug, Outcome::Created);
    }

    // The datasets the records change, or may change, are locked and read again, compared again,
    // and written.
    let mut to_lock = Vec::new();
    for slug in slugs.iter().filter(|slug| !added.contains_key(*slug)) {
        let record = by_slug[slug.as_str()];
        match stored.get(slug) {
            Some(dataset) if imported_change(dataset, record).is_none() => {
                outcomes.insert(&record.fields.slug, Outcome::Unchanged);
            }
            _ => to_lock.push(slug.clone()),
        }
    }
    let current = if to_lock.is_empty() {
        Vec::new()
    } else {
        bulk::lock_and_read(&mut *conn, &to_lock).await?
    };
    if current.len() != to_lock.len() {
        // Datasets are never deleted, so a slug seen or taken is there to lock.
        return Err(sqlx::Error::RowNotFound);
    }
    let mut after = Vec::new();
    for dataset in &current {
        let record = by_slug[dataset.fields.slug.as_str()];
        match imported_change(dataset, record) {
            None => {
                outcomes.insert(&record.fields.slug, Outcome::Unchanged);
            }
            Some((fields, changes)) => {
                outcomes.insert(&record.fields.slug, Outcome::Updated);
                after.push((dataset, organization_id(record)?, fields, changes));
            }
        }
    }
    let mut versions = Vec::new();
    if !after.is_empty() {
        let changed: Vec<ChangedDataset> = after
            .iter()
            .map(|(dataset, organization_id, fields, _)| ChangedDataset {
                id: dataset.id,
                version: dataset.version,
                organization_id: *organization_id,
                fields,
            })
            .collect();
        let written: HashMap<i64, i32> = bulk::update_datasets(&mut *conn, &changed)
            .await?
            .into_iter()
            .collect();
        for (dataset, _, fields, changes) in after.iter_mut() {
            // Locked above, so still at the version read.
            let version = *written.get(&dataset.id).ok_or(sqlx::Error::RowNotFound)?;
            versions.push(Version {
                dataset_id: dataset.id,
                version,
                changes: std::mem::take(changes),
                snapshot: fields,
            });
        }
    }

    if !versions.is_empty() {
        let revisions: Vec<NewRevision> = versions
            .iter()
            .map(|v| NewRevision {
                dataset_id: v.dataset_id,
                version: v.version,
                changes: &v.changes,
                snapshot: v.snapshot,
            })
            .collect();
        bulk::insert_revisions(&mut *conn, RevisionOrigin::Import, &revisions).await?;
    }
    Ok(records
        .iter()
        .map(|record| outcomes[record.fields.slug.as_str()])
        .collect())
}

/// The fields `record` gives `dataset`, with what changes, when they differ from its fields.
fn imported_change(
    dataset: &Dataset,
    record: &Checked,
) -> Option<(DatasetFields, Map<String, serde_json::Value>)> {
    let fields = keep_curated_fields(&dataset.fields, &record.fields);
    if fields == dataset.fields {
        return None;
    }
    let changes = fields.changes_since(Some(&dataset.fields));
    (!changes.is_empty()).then_some((fields, changes))
}

/// The id of each organization `records` name, creating the new ones (named as the first record
/// naming each one says). An organization already there is left as it is, curated name and all.
async fn organization_ids(
    conn: &mut PgConnection,
    records: &[Checked],
) -> sqlx::Result<HashMap<String, i64>> {
    let mut seen = HashSet::new();
    let mut wanted: Vec<&OrganizationRef> = records
        .iter()
        .map(|record| &record.organization)
        .filter(|organization| seen.insert(organization.slug.as_str()))
        .collect();
    wanted.sort_by(|a, b| a.slug.cmp(&b.slug));
    let slugs: Vec<String> = wanted.iter().map(|o| o.slug.clone()).collect();
    let mut ids: HashMap<String, i64> = organizations::ids_by_slugs(&mut *conn, &slugs)
        .await?
        .into_iter()
        .collect();
    let missing: Vec<&OrganizationRef> = wanted
        .into_iter()
        .filter(|organization| !ids.contains_key(&organization.slug))
        .collect();
    if !missing.is_empty() {
        ids.extend(organizations::insert_missing(&mut *conn, &missing).await?);
        // Added by another import since the first look.
        let taken: Vec<String> = missing
            .iter()
            .filter(|organization| !ids.contains_key(&organization.slug))
            .map(|organization| organization.slug.clone())
            .collect();
        if !taken.is_empty() {
            ids.extend(organizations::ids_by_slugs(&mut *conn, &taken).await?);
        }
    }
    Ok(ids)
}

/// The imported record with the facts the exchange format does not carry (access instructions,
/// data-use limitations, formats, size, de-identification, PHI) kept as curated; the file's description
/// and citation fill empty ones but never replace what is there (a curator may have written it).
fn keep_curated_fields(before: &DatasetFields, imported: &DatasetFields) -> DatasetFields {
    let kept =
        |before: &str, imported: &str| if before.is_empty() { imported } else { before }.to_owned();
    DatasetFields {
        description: kept(&before.description, &imported.description),
        access_instructions: before.access_instructions.clone(),
        data_use_limitations: before.data_use_limitations.clone(),
        citation: imported
            .citation
            .clone()
            .or_else(|| before.citation.clone()),
        formats: before.formats.clone(),
        size_bytes: before.size_bytes,
        deidentification: before.deidentification.clone(),
        contains_phi: before.contains_phi,
        ..imported.clone()
    }
}
