//! Importing datasets from the catalog's JSON exchange format (the format of `seed/datasets.json`), and
//! bulk imports of uploaded JSON or CSV files.
//!
//! Every record is checked in full before anything is written; the records are then written in
//! batches of [`BATCH_RECORDS`], each in one transaction (see [`super::batch`]), and a rejected record
//! leaves nothing behind. Re-importing a file updates changed records (with a revision) and leaves
//! equal ones untouched. An uploaded file is written in one transaction, so its dry run says exactly
//! what its commit writes: the whole file, or nothing.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::Date;
use time::macros::format_description;

use super::batch::{self, Checked, Outcome, Written};
use super::db::{self, uploads};
use super::model::{
    AccessLevel, DatasetFields, OrganizationRef, SourceKind, UploadFormat, modality_name,
};
use super::organizations::normalise_publisher;
use super::validate::check_dataset;
use super::vocabulary::Vocabulary;
use crate::audit::{self, AuditAction, Target};
use crate::error::AppError;
use crate::format::{and_list, thousands};
use crate::validation::{FieldError, FieldErrors};

/// The catalog bundled with the binary: 320 real AI-radiology datasets.
pub const BUNDLED_CATALOG: &[u8] = include_bytes!("../../seed/datasets.json");

/// One record of the exchange format, as it arrives.
#[derive(Debug, Deserialize)]
pub struct SeedRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub citation: Option<String>,
    pub record_type: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub alt_urls: Option<Vec<String>>,
    pub doi: Option<String>,
    pub publisher_host: Option<String>,
    #[serde(default)]
    pub modalities: Option<Vec<String>>,
    pub modality_raw: Option<String>,
    #[serde(default)]
    pub annotation_objects: Option<Vec<String>>,
    #[serde(default)]
    pub body_parts: Option<Vec<String>>,
    #[serde(default)]
    pub tasks_annotations: Option<Vec<String>>,
    pub subjects_count: Option<u64>,
    pub images_count: Option<u64>,
    pub studies_count: Option<u64>,
    pub cases_count: Option<u64>,
    pub num_label_categories: Option<u32>,
    pub dimensionality: Option<String>,
    pub count_notes: Option<String>,
    pub access: Option<String>,
    pub access_raw: Option<String>,
    pub license: Option<String>,
    pub license_raw: Option<String>,
    pub year: Option<i32>,
    pub release_date_raw: Option<String>,
    pub challenge: Option<String>,
    pub notes: Option<String>,
    pub cancer_type: Option<String>,
    pub species: Option<String>,
    #[serde(default)]
    pub supporting_data: Option<Vec<String>>,
    pub tcia_status: Option<String>,
    pub last_updated: Option<String>,
    pub idc: Option<IdcView>,
    #[serde(default)]
    pub source_of_fact: Option<Vec<String>>,
}

/// The NCI Imaging Data Commons' view of the same collection.
#[derive(Debug, Deserialize)]
pub struct IdcView {
    pub collection_id: Option<String>,
    pub subjects_count: Option<u64>,
    pub image_types: Option<String>,
    pub supporting_data: Option<String>,
    pub date_updated: Option<String>,
    pub access: Option<String>,
}

/// A record that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Position in the file, counting from 1.
    pub position: usize,
    /// The record's `id`, when it had a readable one.
    pub id: Option<String>,
    pub field: String,
    pub reason: String,
}

/// The result of one import run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub rejected: Vec<Rejection>,
}

impl ImportReport {
    pub fn total(&self) -> usize {
        self.created.len() + self.updated.len() + self.unchanged.len() + self.rejected.len()
    }

    /// One line: `320 records: 318 created, 0 updated, 0 unchanged, 2 rejected`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} records: {} created, {} updated, {} unchanged, {} rejected",
            self.total(),
            self.created.len(),
            self.updated.len(),
            self.unchanged.len(),
            self.rejected.len()
        )
    }
}

/// Why a whole file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not valid JSON: {0}")]
    NotJson(String),
    #[error("the file must contain a JSON array of dataset records")]
    NotAnArray,
}

/// Receives progress while an import runs (the command line draws a progress bar with it).
pub trait Progress: Sync {
    fn start(&self, total: usize);
    fn advance(&self);
    fn finish(&self);
}

/// Progress that is not shown.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: usize) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// Records checked and written together, in one transaction.
pub const BATCH_RECORDS: usize = 2000;

/// Imports every record of a JSON document in the exchange format.
///
/// Database failures (other than a record breaking a rule) abort the run with the error; batches
/// already written stay written, and re-running the import completes the rest.
pub async fn import_json(
    pool: &PgPool,
    bytes: &[u8],
    progress: &dyn Progress,
) -> Result<ImportReport, anyhow::Error> {
    let records = records_from_json(bytes)?;
    let mut conn = pool.acquire().await?;
    Ok(import_records(&mut conn, records, progress).await?)
}

/// Batches checked ahead of the one being written.
const BATCHES_AHEAD: usize = 2;

/// Records checked together, with the rejections of those that may not be written.
struct CheckedBatch {
    /// How many records of the file the batch covers.
    read: usize,
    checked: Vec<Checked>,
    rejected: Vec<Rejection>,
}

/// Checks and writes `records` batch by batch, each batch in a transaction of its own (a savepoint
/// when `conn` is in a transaction). The records are checked on a thread of their own, a few batches
/// ahead of the one being written.
async fn import_records(
    conn: &mut PgConnection,
    records: Vec<Value>,
    progress: &dyn Progress,
) -> sqlx::Result<ImportReport> {
    progress.start(records.len());
    let (batches, mut checked_batches) = tokio::sync::mpsc::channel(BATCHES_AHEAD);
    let checking = tokio::task::spawn_blocking(move || check_in_batches(records, &batches));
    let mut report = ImportReport::default();
    while let Some(batch) = checked_batches.recv().await {
        report.rejected.extend(batch.rejected);
        let written = batch::write(conn, &batch.checked).await?;
        for (record, written) in batch.checked.into_iter().zip(written) {
            match written {
                Written::Saved(Outcome::Created) => report.created.push(record.fields.slug),
                Written::Saved(Outcome::Updated) => report.updated.push(record.fields.slug),
                Written::Saved(Outcome::Unchanged) => report.unchanged.push(record.fields.slug),
                Written::Refused { constraint } => report.rejected.push(Rejection {
                    position: record.position,
                    field: constraint_field(&constraint).to_owned(),
                    reason: format!("breaks the catalog rule {constraint}"),
                    id: Some(record.fields.slug),
                }),
            }
        }
        for _ in 0..batch.read {
            progress.advance();
        }
    }
    if let Err(panicked) = checking.await {
        std::panic::resume_unwind(panicked.into_panic());
    }
    // A record the database refused is reported after the batch's other rejections: put it in its
    // place in the file.
    report.rejected.sort_by_key(|rejection| rejection.position);
    progress.finish();
    Ok(report)
}

/// Checks `records` and sends them on in batches of [`BATCH_RECORDS`]; stops early when nobody
/// receives them any more (the import failed).
fn check_in_batches(records: Vec<Value>, batches: &tokio::sync::mpsc::Sender<CheckedBatch>) {
    let mut seen = HashSet::new();
    let mut records = records.into_iter().enumerate().peekable();
    while records.peek().is_some() {
        let mut batch = CheckedBatch {
            read: 0,
            checked: Vec::new(),
            rejected: Vec::new(),
        };
        for (index, record) in records.by_ref().take(BATCH_RECORDS) {
            batch.read += 1;
            batch.checked.extend(checked_record(
                index,
                record,
                &mut seen,
                &mut batch.rejected,
            ));
        }
        if batches.blocking_send(batch).is_err() {
            return;
        }
    }
}

/// Parses record `index` and refuses a repeated id; the rejections go into `rejected`. Returns the
/// record when it may be saved.
fn checked_record(
    index: usize,
    record: Value,
    seen: &mut HashSet<String>,
    rejected: &mut Vec<Rejection>,
) -> Option<Checked> {
    let position = index + 1;
    let id = record.get("id").and_then(Value::as_str).map(str::to_owned);
    match parse_record(record) {
        Err(errors) => {
            rejected.extend(errors.into_iter().map(|e| Rejection {
                position,
                id: id.clone(),
                field: e.field,
                reason: e.message,
            }));
            None
        }
        Ok((fields, _)) if !seen.insert(fields.slug.clone()) => {
            rejected.push(Rejection {
                position,
                id,
                field: "id".to_owned(),
                reason: format!("'{}' appears more than once in this file", fields.slug),
            });
            None
        }
        Ok((fields, organization)) => Some(Checked {
            position,
            fields,
            organization,
        }),
    }
}

/// Loads the bundled catalog when the database has no datasets yet; `None` when it already has some.
///
/// Several instances starting at once take turns on an advisory lock, so only the first one loads.
/// The lock belongs to a transaction that stays open while loading (a session lock would stay behind
/// on a server connection of a pooler in transaction mode).
pub async fn seed_if_empty(pool: &PgPool) -> Result<Option<ImportReport>, anyhow::Error> {
    const SEED_LOCK: i64 = 0x7261_6470_6f72_7401;
    let mut turn = pool.begin().await?;
    sqlx::query!("select from pg_advisory_xact_lock($1)", SEED_LOCK)
        .execute(&mut *turn)
        .await?;
    if db::count_datasets(pool).await? > 0 {
        return Ok(None);
    }
    let report = import_json(pool, BUNDLED_CATALOG, &NoProgress).await?;
    turn.commit().await?;
    Ok(Some(report))
}

/// The field a database constraint guards, named as in the exchange format where it differs.
fn constraint_field(constraint: &str) -> &str {
    constraint
        .strip_prefix("datasets_")
        .and_then(|rest| rest.split('_').next())
        .unwrap_or(constraint)
}

/// Turns one JSON record into the catalog's fields and its organization, or says everything wrong with it.
pub fn parse_record(record: Value) -> Result<(DatasetFields, OrganizationRef), Vec<FieldError>> {
    let record: SeedRecord = serde_path_to_error::deserialize(record).map_err(|error| {
        let field = error.path().to_string();
        let field = if field == "." {
            "record".to_owned()
        } else {
            field
        };
        vec![FieldError::new(field, error.into_inner().to_string())]
    })?;
    to_fields(record)
}

/// Maps a parsed record onto the catalog's fields.
pub fn to_fields(record: SeedRecord) -> Result<(DatasetFields, OrganizationRef), Vec<FieldError>> {
    let mut errors = FieldErrors::default();

    let organization = match record.publisher_host.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => normalise_publisher(raw),
        _ => None,
    };
    if organization.is_none() {
        errors.add(
            "publisher_host",
            "is required to know which organization publishes the dataset",
        );
    }

    let source_kind = match record.record_type.as_deref() {
        Some(record_type) => source_kind_for(
            record_type,
            record.challenge.as_deref(),
            organization.as_ref(),
        ),
        None => None,
    };
    if source_kind.is_none() {
        errors.add(
            "record_type",
            match &record.record_type {
                Some(value) => format!("'{value}' is not a record type this catalog knows"),
                None => "is required to know what kind of source the dataset is".to_owned(),
            },
        );
    }

    let access_level = match record.access.as_deref() {
        None => Ok(None),
        Some(value) => access_level_for(value),
    };
    let access_level = access_level.unwrap_or_else(|message| {
        errors.add("access", message);
        None
    });

    let mut parse_date = |field: &str, raw: Option<&str>| -> Option<Date> {
        let raw = raw?;
        Date::parse(raw.trim(), format_description!("[year]-[month]-[day]"))
            .map_err(|_| errors.add(field, format!("'{raw}' is not a date (YYYY-MM-DD)")))
            .ok()
    };
    let last_updated_upstream = parse_date("last_updated", record.last_updated.as_deref());
    let idc_updated = parse_date(
        "idc.date_updated",
        record
            .idc
            .as_ref()
            .and_then(|idc| idc.date_updated.as_deref()),
    );

    let mut count = |field: &str, value: Option<u64>| -> Option<i64> {
        value.and_then(|value| {
            i64::try_from(value)
                .map_err(|_| errors.add(field, "is too large"))
                .ok()
        })
    };
    let subject_count = count("subjects_count", record.subjects_count);
    let image_count = count("images_count", record.images_count);
    let study_count = count("studies_count", record.studies_count);
    let case_count = count("cases_count", record.cases_count);
    let idc_subject_count = count(
        "idc.subjects_count",
        record.idc.as_ref().and_then(|idc| idc.subjects_count),
    );

    let idc = record.idc.as_ref();
    let mut fields = DatasetFields {
        slug: record.id.trim().to_owned(),
        title: record.name.trim().to_owned(),
        aliases: clean_list(record.aliases, false),
        summary: clean(record.summary).unwrap_or_default(),
        description: clean(record.description).unwrap_or_default(),
        organization_slug: organization
            .as_ref()
            .map(|org| org.slug.clone())
            .unwrap_or_default(),
        publisher_raw: clean(record.publisher_host),
        landing_url: clean(record.url),
        alt_urls: clean_list(record.alt_urls, false),
        doi: clean(record.doi),
        citation: clean(record.citation),
        source_kind: source_kind.unwrap_or(SourceKind::AnnotatedDataset),
        record_type: clean(record.record_type),
        access_level,
        access_raw: clean(record.access_raw),
        license: clean(record.license),
        license_raw: clean(record.license_raw),
        data_use_limitations: Vec::new(),
        access_instructions: String::new(),
        modalities: clean_list(record.modalities, false)
            .into_iter()
            .map(|code| code.to_uppercase())
            .collect(),
        modality_raw: clean(record.modality_raw),
        body_parts: clean_list(record.body_parts, true),
        tasks: clean_list(record.tasks_annotations, false),
        annotation_objects: clean_list(record.annotation_objects, false),
        conditions: clean(record.cancer_type).into_iter().collect(),
        formats: Vec::new(),
        species: clean(record.species),
        dimensionality: clean(record.dimensionality),
        label_category_count: record
            .num_label_categories
            .and_then(|count| i32::try_from(count).ok()),
        challenge: clean(record.challenge),
        supporting_data: clean_list(record.supporting_data, false),
        subject_count,
        study_count,
        image_count,
        case_count,
        size_bytes: None,
        count_notes: clean(record.count_notes),
        deidentification: None,
        contains_phi: false,
        year: record.year,
        release_date_raw: clean(record.release_date_raw),
        last_updated_upstream,
        upstream_status: clean(record.tcia_status),
        idc_collection_id: idc.and_then(|idc| clean(idc.collection_id.clone())),
        idc_subject_count,
        idc_image_types: idc.and_then(|idc| clean(idc.image_types.clone())),
        idc_supporting_data: idc.and_then(|idc| clean(idc.supporting_data.clone())),
        idc_access: idc.and_then(|idc| clean(idc.access.clone())),
        idc_updated,
        notes: clean(record.notes),
        sources: clean_list(record.source_of_fact, false),
    };
    if let Some(organization) = &organization
        && fields.summary.is_empty()
    {
        fields.summary = factual_summary(&fields, &organization.name);
    }
    fields.normalise_facts(Vocabulary::builtin());
    // Exchange-format names for the fields the shared rules report on.
    let renamed = |field: &str| {
        match field {
            "slug" => "id",
            "title" => "name",
            "landing_url" => "url",
            "subject_count" => "subjects_count",
            "image_count" => "images_count",
            "study_count" => "studies_count",
            "case_count" => "cases_count",
            other => other,
        }
        .to_owned()
    };
    let mut rule_errors = FieldErrors::default();
    check_dataset(&fields, &mut rule_errors);
    for error in rule_errors.into_vec() {
        errors.add(renamed(&error.field), error.message);
    }
    errors.into_result((fields, organization.unwrap_or_else(placeholder_org)))
}

fn placeholder_org() -> OrganizationRef {
    OrganizationRef {
        slug: String::new(),
        name: String::new(),
        homepage: None,
    }
}

/// The source kind a record type stands for; `None` for a record type the catalog does not know.
///
/// A "dataset / challenge" record is a challenge when it names its challenge or is hosted on a challenge
/// platform, otherwise an annotated dataset.
pub fn source_kind_for(
    record_type: &str,
    challenge: Option<&str>,
    organization: Option<&OrganizationRef>,
) -> Option<SourceKind> {
    const CHALLENGE_PLATFORMS: [&str; 4] = ["grand-challenge", "kaggle", "codalab", "codabench"];
    let record_type = record_type.trim().to_lowercase();
    if let Some(kind) = SourceKind::parse(&record_type) {
        return Some(kind);
    }
    match record_type.as_str() {
        "tcia collection" | "idc collection" => Some(SourceKind::ImagingArchive),
        "image-text / vqa dataset" => Some(SourceKind::AnnotatedDataset),
        "dataset / challenge" => {
            let on_platform =
                organization.is_some_and(|org| CHALLENGE_PLATFORMS.contains(&org.slug.as_str()));
            if challenge.is_some_and(|c| !c.trim().is_empty()) || on_platform {
                Some(SourceKind::Challenge)
            } else {
                Some(SourceKind::AnnotatedDataset)
            }
        }
        other if other.starts_with("ehr") => Some(SourceKind::Ehr),
        _ => None,
    }
}

/// The access level an `access` value stands for; `Ok(None)` when the source says it does not know.
pub fn access_level_for(access: &str) -> Result<Option<AccessLevel>, String> {
    let access = access.trim().to_lowercase();
    if let Some(level) = AccessLevel::parse(&access) {
        return Ok(Some(level));
    }
    match access.as_str() {
        "credentialed/dua" => Ok(Some(AccessLevel::Credentialed)),
        "restricted/unknown" | "unknown" | "" => Ok(None),
        other => Err(format!(
            "'{other}' is not an access level (open, registration, credentialed/DUA, controlled, restricted/unknown)"
        )),
    }
}

/// One sentence built only from the record's facts, for result lists.
pub fn factual_summary(fields: &DatasetFields, organization_name: &str) -> String {
    let modalities: Vec<String> = fields
        .modalities
        .iter()
        .filter(|code| {
            !matches!(
                code.as_str(),
                "SEG" | "SR" | "RTSTRUCT" | "RTDOSE" | "RTPLAN" | "PR" | "KO" | "REG" | "OT"
            )
        })
        .map(|code| modality_name(code).unwrap_or(code).to_owned())
        .collect();
    let mut sentence = if modalities.is_empty() {
        "Data".to_owned()
    } else {
        format!("{} imaging", and_list(&modalities))
    };
    if !fields.body_parts.is_empty() {
        sentence.push_str(&format!(" of the {}", and_list(&fields.body_parts)));
    }
    if let Some(condition) = fields.conditions.first() {
        sentence.push_str(&format!(" ({condition})"));
    }
    match (fields.subject_count, fields.image_count) {
        (Some(subjects), Some(images)) => sentence.push_str(&format!(
            " from {} subjects, {} images",
            thousands(subjects),
            thousands(images)
        )),
        (Some(subjects), None) => {
            sentence.push_str(&format!(" from {} subjects", thousands(subjects)))
        }
        (None, Some(images)) => sentence.push_str(&format!(", {} images", thousands(images))),
        (None, None) => {}
    }
    sentence.push_str(&format!(", published by {organization_name}."));
    sentence
}

fn clean(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Trims, drops empty entries and duplicates (keeping order), optionally lower-casing.
fn clean_list(values: Option<Vec<String>>, lower_case: bool) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .unwrap_or_default()
        .into_iter()
        .map(|value| {
            let value = value.trim();
            if lower_case {
                value.to_lowercase()
            } else {
                value.to_owned()
            }
        })
        .filter(|value| !value.is_empty() && seen.insert(value.clone()))
        .collect()
}

/// The records of a JSON document in the exchange format.
pub fn records_from_json(bytes: &[u8]) -> Result<Vec<Value>, ImportError> {
    let document: Value =
        serde_json::from_slice(bytes).map_err(|error| ImportError::NotJson(error.to_string()))?;
    match document {
        Value::Array(records) => Ok(records),
        _ => Err(ImportError::NotAnArray),
    }
}

/// The CSV columns the importer reads, with what each holds. Lists are separated by `;`.
pub const CSV_COLUMNS: &[(&str, &str)] = &[
    (
        "id",
        "catalog id: lower-case letters, digits and hyphens (required)",
    ),
    ("name", "title (required)"),
    ("aliases", "other names, separated by ;"),
    (
        "record_type",
        "e.g. TCIA collection, institutional, dataset / challenge",
    ),
    ("url", "landing page URL"),
    ("alt_urls", "other URLs, separated by ;"),
    ("doi", "DOI, e.g. 10.7937/K9/TCIA.2015.LO9QL9SX"),
    ("publisher_host", "publishing organization (required)"),
    ("modalities", "DICOM modality codes, separated by ;"),
    ("body_parts", "separated by ;"),
    ("tasks_annotations", "tasks, separated by ;"),
    ("subjects_count", "number of subjects"),
    ("studies_count", "number of studies"),
    ("images_count", "number of images"),
    (
        "access",
        "open, registration, credentialed/DUA, controlled or restricted/unknown",
    ),
    ("license", "licence"),
    ("year", "year of release"),
    ("cancer_type", "condition studied"),
    ("species", "e.g. Human"),
    ("notes", "curator's notes"),
];

/// A CSV template: the header row and one example row.
pub fn csv_template() -> String {
    let header: Vec<&str> = CSV_COLUMNS.iter().map(|(name, _)| *name).collect();
    format!(
        "{}\nexample-knee-mri,Example knee MRI,,institutional,https://example.org/knee,,,Example University Hospital,MR,knee,segmentation,120,,,controlled,,2026,Osteoarthritis,Human,\n",
        header.join(",")
    )
}

/// The records of a CSV file with the columns of [`CSV_COLUMNS`], as exchange-format JSON records.
/// Unknown columns are refused, so a typo in a header does not silently drop a fact.
pub fn records_from_csv(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|error| format!("the CSV header cannot be read: {error}"))?
        .clone();
    for header in &headers {
        if !CSV_COLUMNS.iter().any(|(name, _)| *name == header) {
            return Err(format!(
                "unknown column '{header}'; the columns are: {}",
                CSV_COLUMNS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let lists = [
        "aliases",
        "alt_urls",
        "modalities",
        "body_parts",
        "tasks_annotations",
    ];
    let numbers = ["subjects_count", "studies_count", "images_count", "year"];
    let mut records = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|error| format!("row {} cannot be read: {error}", line + 2))?;
        let mut record = serde_json::Map::new();
        for (header, value) in headers.iter().zip(row.iter()) {
            let value = if value.is_empty() {
                Value::Null
            } else if lists.contains(&header) {
                Value::Array(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| Value::String(v.to_owned()))
                        .collect(),
                )
            } else if numbers.contains(&header) {
                match value.parse::<i64>() {
                    Ok(number) => Value::from(number),
                    // Left as text, the record check names the field and the problem.
                    Err(_) => Value::String(value.to_owned()),
                }
            } else {
                Value::String(value.to_owned())
            };
            record.insert(header.to_owned(), value);
        }
        records.push(Value::Object(record));
    }
    Ok(records)
}

/// The records of an uploaded file, or why it cannot be read.
pub fn records_of(format: UploadFormat, bytes: &[u8]) -> Result<Vec<Value>, String> {
    match format {
        UploadFormat::Json => records_from_json(bytes).map_err(|e| e.to_string()),
        UploadFormat::Csv => records_from_csv(bytes),
    }
}

/// What a dry run of an uploaded file found.
#[derive(Clone, Debug)]
pub enum DryRun {
    /// The file cannot be read as records: why, for the administrator.
    Unreadable(String),
    /// Every record was tried and nothing written; the file is kept as `upload_id` for the commit.
    Checked {
        upload_id: i64,
        report: ImportReport,
    },
}

/// The dry run of a bulk import: reads the file, tries every record in a transaction that is rolled
/// back, and keeps the file for the commit.
pub async fn dry_run_upload(
    pool: &PgPool,
    admin_id: i64,
    file_name: &str,
    bytes: &[u8],
) -> Result<DryRun, AppError> {
    let format = UploadFormat::detect(file_name, bytes);
    let records = match records_of(format, bytes) {
        Ok(records) => records,
        Err(message) => return Ok(DryRun::Unreadable(format!("{file_name}: {message}."))),
    };
    let mut tx = pool.begin().await?;
    let report = import_records(&mut tx, records, &NoProgress).await?;
    tx.rollback().await?;
    let upload_id = uploads::insert(pool, admin_id, file_name, format, bytes).await?;
    Ok(DryRun::Checked { upload_id, report })
}

/// What committing an uploaded file did.
#[derive(Clone, Debug)]
pub struct Commit {
    pub file_name: String,
    pub report: ImportReport,
    /// Whether the file was written; not when any record is refused now.
    pub written: bool,
}

/// Writes the whole uploaded file, or nothing when any record is refused now. A written file is
/// audited and its upload deleted in the same transaction.
pub async fn commit_upload(
    pool: &PgPool,
    admin_id: i64,
    upload_id: i64,
) -> Result<Commit, AppError> {
    let mut tx = pool.begin().await?;
    let upload = uploads::find(&mut *tx, upload_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let records = records_of(upload.format, &upload.bytes).map_err(AppError::BadRequest)?;
    let report = import_records(&mut tx, records, &NoProgress).await?;
    if !report.rejected.is_empty() {
        tx.rollback().await?;
        return Ok(Commit {
            file_name: upload.file_name,
            report,
            written: false,
        });
    }
    audit::record(
        &mut *tx,
        Some(admin_id),
        AuditAction::CatalogImported,
        Target::Import(upload_id),
        json!({
            "file": upload.file_name,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged.len(),
        }),
    )
    .await?;
    uploads::delete(&mut *tx, upload_id).await?;
    tx.commit().await?;
    Ok(Commit {
        file_name: upload.file_name,
        report,
        written: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "id": "lidc-idri",
            "name": "LIDC-IDRI",
            "record_type": "TCIA collection",
            "url": "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX",
            "doi": "10.7937/K9/TCIA.2015.LO9QL9SX",
            "publisher_host": "TCIA (The Cancer Imaging Archive)",
            "modalities": ["CT", "CR", "DX"],
            "body_parts": ["Chest"],
            "subjects_count": 1010,
            "access": "open",
            "last_updated": "2012-03-21",
            "source_of_fact": ["a list"]
        })
    }

    #[test]
    fn maps_a_tcia_record() {
        let (fields, org) = parse_record(minimal()).expect("valid");
        assert_eq!(fields.slug, "lidc-idri");
        assert_eq!(org.slug, "tcia");
        assert_eq!(fields.source_kind, SourceKind::ImagingArchive);
        assert_eq!(fields.access_level, Some(AccessLevel::Open));
        assert_eq!(fields.body_parts, vec!["chest"]);
        assert_eq!(fields.subject_count, Some(1010));
        assert_eq!(
            fields.summary,
            "Computed tomography, Computed radiography and Digital radiography imaging of the chest from 1,010 subjects, published by The Cancer Imaging Archive (TCIA)."
        );
    }

    #[test]
    fn access_values_map_and_unknown_stays_unknown() {
        assert_eq!(access_level_for("open"), Ok(Some(AccessLevel::Open)));
        assert_eq!(
            access_level_for("registration"),
            Ok(Some(AccessLevel::Registration))
        );
        assert_eq!(
            access_level_for("credentialed/DUA"),
            Ok(Some(AccessLevel::Credentialed))
        );
        assert_eq!(access_level_for("restricted/unknown"), Ok(None));
        assert!(access_level_for("free-ish").is_err());
    }

    #[test]
    fn record_types_map_to_source_kinds() {
        let kaggle = normalise_publisher("Kaggle");
        let github = normalise_publisher("GitHub");
        assert_eq!(
            source_kind_for("IDC collection", None, None),
            Some(SourceKind::ImagingArchive)
        );
        assert_eq!(
            source_kind_for("EHR (non-imaging; includes imaging reports)", None, None),
            Some(SourceKind::Ehr)
        );
        assert_eq!(
            source_kind_for("dataset / challenge", None, kaggle.as_ref()),
            Some(SourceKind::Challenge)
        );
        assert_eq!(
            source_kind_for("dataset / challenge", Some("MICCAI'2022"), github.as_ref()),
            Some(SourceKind::Challenge)
        );
        assert_eq!(
            source_kind_for("dataset / challenge", None, github.as_ref()),
            Some(SourceKind::AnnotatedDataset)
        );
        assert_eq!(source_kind_for("a novel", None, None), None);
    }

    #[test]
    fn wrong_type_names_the_field() {
        let mut record = minimal();
        record["subjects_count"] = json!("many");
        let errors = parse_record(record).unwrap_err();
        assert_eq!(errors[0].field, "subjects_count");
        assert!(
            errors[0].message.contains("invalid type"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let mut record = minimal();
        record["modalities"] = json!(["CT", "XRAY"]);
        record["url"] = json!("not a url");
        record["last_updated"] = json!("March 2012");
        record["access"] = json!("sometimes");
        let errors = parse_record(record).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in ["modalities", "url", "last_updated", "access"] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn every_bundled_record_is_accepted() {
        let records: Vec<Value> = serde_json::from_slice(BUNDLED_CATALOG).unwrap();
        assert_eq!(records.len(), 320);
        for record in records {
            let id = record["id"].clone();
            if let Err(errors) = parse_record(record) {
                panic!("{id}: {errors:?}");
            }
        }
    }
}
