//! The dataset editor: every field of a dataset with server-side checks and messages by the fields,
//! Markdown preview, draft / published / retired, optimistic concurrency (a second save over someone
//! else's change is refused and shows what they changed), and the revision history with restore.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::model::User;
use crate::catalog::curation::{self, Created, Restored, Updated};
use crate::catalog::db::{self as catalog, AdminRow, organizations, revisions};
use crate::catalog::model::{
    AccessLevel, Dataset, DatasetFields, DatasetStatus, SourceKind, describe_changes,
};
use crate::catalog::validate::check_dataset;
use crate::catalog::vocabulary::Vocabulary;
use crate::error::AppError;
use crate::format::datetime;
use crate::validation::FieldErrors;
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::markdown::to_safe_html;
use crate::web::{Layout, Nav, Notice, render};

/// How a field is typed and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Required text.
    Text,
    /// Optional text (empty means not stated).
    OptText,
    /// Markdown, shown with a preview.
    Markdown,
    /// A list, one item per line.
    List,
    /// An optional whole number.
    Number,
    /// An optional date, YYYY-MM-DD.
    Date,
    Bool,
    SourceKind,
    AccessLevel,
}

/// One field of the editor.
pub struct Spec {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
}

const fn spec(name: &'static str, label: &'static str, kind: Kind) -> Spec {
    Spec { name, label, kind }
}

/// Every field of a dataset, in the editor's order (grouped as DESIGN.md groups them).
pub const FIELDS: &[Spec] = &[
    spec("slug", "Catalog id", Kind::Text),
    spec("title", "Title", Kind::Text),
    spec("aliases", "Other names (one per line)", Kind::List),
    spec("summary", "Summary (one sentence)", Kind::Text),
    spec("description", "Description (Markdown)", Kind::Markdown),
    spec(
        "organization_slug",
        "Organization (its catalog id)",
        Kind::Text,
    ),
    spec(
        "publisher_raw",
        "Publisher as stated by the source",
        Kind::OptText,
    ),
    spec("landing_url", "Landing page URL", Kind::OptText),
    spec("alt_urls", "Other URLs (one per line)", Kind::List),
    spec("doi", "DOI", Kind::OptText),
    spec("citation", "Citation", Kind::OptText),
    spec("source_kind", "Source kind", Kind::SourceKind),
    spec("record_type", "Record type", Kind::OptText),
    spec("access_level", "Access level", Kind::AccessLevel),
    spec(
        "access_raw",
        "Access as stated by the source",
        Kind::OptText,
    ),
    spec("license", "Licence", Kind::OptText),
    spec(
        "license_raw",
        "Licence as stated by the source",
        Kind::OptText,
    ),
    spec(
        "data_use_limitations",
        "Data-use limitations (DUO ids, one per line)",
        Kind::List,
    ),
    spec(
        "access_instructions",
        "Access instructions (Markdown)",
        Kind::Markdown,
    ),
    spec(
        "modalities",
        "Modalities (DICOM codes, one per line)",
        Kind::List,
    ),
    spec(
        "modality_raw",
        "Modalities as stated by the source",
        Kind::OptText,
    ),
    spec("body_parts", "Body parts (one per line)", Kind::List),
    spec("tasks", "Tasks (one per line)", Kind::List),
    spec(
        "annotation_objects",
        "Annotation objects (one per line)",
        Kind::List,
    ),
    spec("conditions", "Conditions (one per line)", Kind::List),
    spec("formats", "Formats (one per line)", Kind::List),
    spec("species", "Species", Kind::OptText),
    spec("dimensionality", "Dimensionality", Kind::OptText),
    spec(
        "label_category_count",
        "Number of label categories",
        Kind::Number,
    ),
    spec("challenge", "Challenge", Kind::OptText),
    spec(
        "supporting_data",
        "Supporting data (one per line)",
        Kind::List,
    ),
    spec("subject_count", "Subjects", Kind::Number),
    spec("study_count", "Studies", Kind::Number),
    spec("image_count", "Images", Kind::Number),
    spec("case_count", "Cases", Kind::Number),
    spec("size_bytes", "Size in bytes", Kind::Number),
    spec("count_notes", "Notes on the counts", Kind::OptText),
    spec("deidentification", "De-identification", Kind::OptText),
    spec(
        "contains_phi",
        "Contains protected health information",
        Kind::Bool,
    ),
    spec("year", "Year", Kind::Number),
    spec("release_date_raw", "Release date as stated", Kind::OptText),
    spec("last_updated_upstream", "Last updated upstream", Kind::Date),
    spec("upstream_status", "Status upstream", Kind::OptText),
    spec("idc_collection_id", "NCI IDC collection id", Kind::OptText),
    spec("idc_subject_count", "NCI IDC subjects", Kind::Number),
    spec("idc_image_types", "NCI IDC image types", Kind::OptText),
    spec(
        "idc_supporting_data",
        "NCI IDC supporting data",
        Kind::OptText,
    ),
    spec("idc_access", "NCI IDC access", Kind::OptText),
    spec("idc_updated", "NCI IDC updated", Kind::Date),
    spec("notes", "Curator's notes", Kind::OptText),
    spec("sources", "Sources of the facts (one per line)", Kind::List),
];

/// A part of the editor: its anchor, its heading and the field it starts with (it runs to the next
/// part's first field).
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub first: &'static str,
}

/// The editor's parts, in the order of [`FIELDS`].
pub const SECTIONS: &[Section] = &[
    Section {
        id: "identity",
        title: "Name and description",
        first: "slug",
    },
    Section {
        id: "publisher",
        title: "Publisher and links",
        first: "organization_slug",
    },
    Section {
        id: "access",
        title: "Kind, access and licence",
        first: "source_kind",
    },
    Section {
        id: "imaging",
        title: "Imaging facts",
        first: "modalities",
    },
    Section {
        id: "size",
        title: "Size",
        first: "subject_count",
    },
    Section {
        id: "privacy",
        title: "Privacy",
        first: "deidentification",
    },
    Section {
        id: "dates",
        title: "Dates and status upstream",
        first: "year",
    },
    Section {
        id: "idc",
        title: "NCI Imaging Data Commons",
        first: "idc_collection_id",
    },
    Section {
        id: "provenance",
        title: "Notes and sources",
        first: "notes",
    },
];

/// A part of the editor with its fields as the form shows them.
pub struct SectionView {
    pub id: &'static str,
    pub title: &'static str,
    pub fields: Vec<FieldView>,
}

impl SectionView {
    /// Whether a field of this part has a mistake to correct.
    pub fn has_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

/// The fields, in order, split into [`SECTIONS`].
fn sectioned(fields: Vec<FieldView>) -> Vec<SectionView> {
    let mut sections: Vec<SectionView> = Vec::new();
    for field in fields {
        if let Some(section) = SECTIONS.iter().find(|s| s.first == field.name) {
            sections.push(SectionView {
                id: section.id,
                title: section.title,
                fields: Vec::new(),
            });
        }
        if let Some(current) = sections.last_mut() {
            current.fields.push(field);
        }
    }
    sections
}

/// A field as the form shows it.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub value: String,
    pub error: Option<String>,
    pub preview: Option<String>,
}

impl FieldView {
    pub fn is(&self, kind: &str) -> bool {
        matches!(
            (kind, self.kind),
            (
                "text",
                Kind::Text | Kind::OptText | Kind::Number | Kind::Date
            ) | ("area", Kind::Markdown | Kind::List)
                | ("bool", Kind::Bool)
                | ("source_kind", Kind::SourceKind)
                | ("access_level", Kind::AccessLevel)
        )
    }

    pub fn input_type(&self) -> &'static str {
        match self.kind {
            Kind::Number => "number",
            Kind::Date => "date",
            _ => "text",
        }
    }

    pub fn rows(&self) -> usize {
        if self.kind == Kind::Markdown { 8 } else { 3 }
    }
}

/// The typed values of the form, by field name.
type Typed = Vec<(String, String)>;

fn typed_value<'a>(typed: &'a Typed, name: &str) -> &'a str {
    typed
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The form's text for each field of a stored record.
fn values_of(fields: &DatasetFields) -> Typed {
    let value = serde_json::to_value(fields).unwrap_or_default();
    FIELDS
        .iter()
        .map(|spec| {
            let text = match &value[spec.name] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Bool(b) => {
                    if *b {
                        "on".to_owned()
                    } else {
                        String::new()
                    }
                }
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => other.to_string(),
            };
            (spec.name.to_owned(), text)
        })
        .collect()
}

/// Reads the typed form into a record, with a message per field that cannot be read or fails the
/// catalog's checks.
fn parse(typed: &Typed, errors: &mut FieldErrors) -> Option<DatasetFields> {
    let mut object = Map::new();
    for spec in FIELDS {
        let raw = typed_value(typed, spec.name).trim();
        let value = match spec.kind {
            Kind::Text | Kind::Markdown => Value::String(raw.to_owned()),
            Kind::OptText => {
                if raw.is_empty() {
                    Value::Null
                } else {
                    Value::String(raw.to_owned())
                }
            }
            Kind::List => Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| Value::String(l.to_owned()))
                    .collect(),
            ),
            Kind::Number => match raw {
                "" => Value::Null,
                raw => match raw.parse::<i64>() {
                    Ok(n)
                        if n >= 0
                            && (spec.name.contains("count")
                                || spec.name == "size_bytes"
                                || n <= i64::from(i32::MAX)) =>
                    {
                        json!(n)
                    }
                    _ => {
                        errors.add(spec.name, "Enter a whole number of at least 0.");
                        Value::Null
                    }
                },
            },
            Kind::Date => match raw {
                "" => Value::Null,
                raw => {
                    let format = time::macros::format_description!("[year]-[month]-[day]");
                    if time::Date::parse(raw, &format).is_ok() {
                        Value::String(raw.to_owned())
                    } else {
                        errors.add(spec.name, "Enter a date as YYYY-MM-DD.");
                        Value::Null
                    }
                }
            },
            Kind::Bool => Value::Bool(!raw.is_empty()),
            Kind::SourceKind => match SourceKind::parse(raw) {
                Some(kind) => json!(kind),
                None => {
                    errors.add(spec.name, "Choose the kind of source.");
                    json!(SourceKind::Institutional)
                }
            },
            Kind::AccessLevel => match raw {
                "" => Value::Null,
                raw => match AccessLevel::parse(raw) {
                    Some(level) => json!(level),
                    None => {
                        errors.add(spec.name, "Choose an access level.");
                        Value::Null
                    }
                },
            },
        };
        object.insert(spec.name.to_owned(), value);
    }
    let mut fields: DatasetFields = match serde_json::from_value(Value::Object(object)) {
        Ok(fields) => fields,
        Err(error) => {
            errors.add("title", format!("The record could not be read: {error}"));
            return None;
        }
    };
    fields.normalise_facts(Vocabulary::builtin());
    check_dataset(&fields, errors);
    errors.is_empty().then_some(fields)
}

#[derive(Template)]
#[template(path = "admin/datasets.html")]
pub struct DatasetsPage {
    pub layout: Layout,
    pub rows: Vec<AdminRow>,
    pub q: String,
    pub status: String,
}

impl DatasetsPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

/// Longest search text of the dataset list, in characters.
const MAX_LIST_QUERY_CHARS: usize = 200;
/// Most datasets the list shows.
const LIST_ROWS: i64 = 200;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListParams {
    q: String,
    status: String,
}

pub async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let status = DatasetStatus::parse(&params.status);
    let q: String = params.q.trim().chars().take(MAX_LIST_QUERY_CHARS).collect();
    render(&DatasetsPage {
        layout: Layout::new("Datasets", Nav::None).with_user(Some(&admin)),
        rows: catalog::admin_list(&state.db, &q, status, LIST_ROWS, 0).await?,
        q,
        status: params.status,
    })
}

#[derive(Template)]
#[template(path = "admin/dataset_form.html")]
pub struct EditorPage {
    pub layout: Layout,
    /// The slug of the dataset being edited; `None` for a new one.
    pub slug: Option<String>,
    pub status: Option<DatasetStatus>,
    pub version: i32,
    /// The form's fields in its parts.
    pub sections: Vec<SectionView>,
    pub has_errors: bool,
    /// Someone else's changes since the form was opened: (field, their value).
    pub conflict: Vec<(String, String, String)>,
}

fn views(typed: &Typed, errors: &FieldErrors, preview: bool) -> Vec<FieldView> {
    FIELDS
        .iter()
        .map(|spec| {
            let value = typed_value(typed, spec.name).to_owned();
            FieldView {
                name: spec.name,
                label: spec.label,
                kind: spec.kind,
                preview: (preview && spec.kind == Kind::Markdown).then(|| to_safe_html(&value)),
                error: errors.get(spec.name).map(str::to_owned),
                value,
            }
        })
        .collect()
}

fn editor(
    admin: &User,
    dataset: Option<&Dataset>,
    typed: &Typed,
    errors: &FieldErrors,
    preview: bool,
) -> EditorPage {
    let title = dataset.map_or_else(
        || "New dataset".to_owned(),
        |d| format!("Edit: {}", d.fields.title),
    );
    EditorPage {
        layout: Layout::new(title, Nav::None).with_user(Some(admin)),
        slug: dataset.map(|d| d.fields.slug.clone()),
        status: dataset.map(|d| d.status),
        version: dataset.map_or(0, |d| d.version),
        sections: sectioned(views(typed, errors, preview)),
        has_errors: !errors.is_empty(),
        conflict: Vec::new(),
    }
}

pub async fn new_form(AdminUser(admin): AdminUser) -> Result<Response, AppError> {
    let typed = vec![("source_kind".to_owned(), "institutional".to_owned())];
    render(&editor(
        &admin,
        None,
        &typed,
        &FieldErrors::default(),
        false,
    ))
}

async fn dataset(state: &AppState, slug: &str) -> Result<Dataset, AppError> {
    catalog::find_dataset(&state.db, slug)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn edit_form(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
    notice: Option<Notice>,
) -> Result<Response, AppError> {
    let dataset = dataset(&state, &slug).await?;
    let mut page = editor(
        &admin,
        Some(&dataset),
        &values_of(&dataset.fields),
        &FieldErrors::default(),
        false,
    );
    page.layout = page.layout.with_notice(notice);
    render(&page)
}

/// Reads the form and looks up its organization; a message by the field when there is none.
async fn parse_with_organization(
    state: &AppState,
    typed: &Typed,
    errors: &mut FieldErrors,
) -> Result<(Option<DatasetFields>, Option<i64>), AppError> {
    let parsed = parse(typed, errors);
    let organization = match &parsed {
        Some(fields) => organizations::id_by_slug(&state.db, &fields.organization_slug).await?,
        None => None,
    };
    if parsed.is_some() && organization.is_none() {
        errors.add("organization_slug", "No organization has this catalog id.");
    }
    Ok((parsed, organization))
}

fn wants_preview(typed: &Typed) -> bool {
    typed_value(typed, "intent") == "preview"
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Form(typed): Form<Typed>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let (parsed, organization) = parse_with_organization(&state, &typed, &mut errors).await?;
    let (Some(fields), Some(organization), false) = (parsed, organization, wants_preview(&typed))
    else {
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return Ok((
            status,
            render(&editor(&admin, None, &typed, &errors, true))?,
        )
            .into_response());
    };
    let created = curation::create_dataset(&state.db, admin.id, organization, &fields).await?;
    state.catalog_watch.invalidate();
    match created {
        Created::Created { .. } => Ok(Redirect::to(
            &Notice::DatasetCreated.on(&format!("/admin/datasets/{}/edit", fields.slug)),
        )
        .into_response()),
        Created::SlugTaken => {
            errors.add("slug", "Another dataset has this catalog id.");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&editor(&admin, None, &typed, &errors, false))?,
            )
                .into_response())
        }
    }
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
    Form(mut typed): Form<Typed>,
) -> Result<Response, AppError> {
    let current = dataset(&state, &slug).await?;
    // The catalog id is the dataset's identity; the editor does not change it.
    typed.retain(|(k, _)| k != "slug");
    typed.push(("slug".to_owned(), slug.clone()));
    let seen_version: i32 = typed_value(&typed, "version").parse().unwrap_or(0);
    let mut errors = FieldErrors::default();
    let (parsed, organization) = parse_with_organization(&state, &typed, &mut errors).await?;
    let (Some(fields), Some(organization), false) = (parsed, organization, wants_preview(&typed))
    else {
        let mut page = editor(&admin, Some(&current), &typed, &errors, true);
        page.version = seen_version;
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return Ok((status, render(&page)?).into_response());
    };
    let updated = curation::update_dataset(
        &state.db,
        admin.id,
        &slug,
        seen_version,
        organization,
        &fields,
    )
    .await?;
    state.catalog_watch.invalidate();
    match updated {
        Updated::Saved { .. } => Ok(Redirect::to(
            &Notice::DatasetSaved.on(&format!("/admin/datasets/{slug}/edit")),
        )
        .into_response()),
        Updated::Unchanged => Ok(Redirect::to(
            &Notice::DatasetUnchanged.on(&format!("/admin/datasets/{slug}/edit")),
        )
        .into_response()),
        Updated::Stale { version, theirs } => {
            // Someone saved in between: show what they changed, keep what this admin typed.
            let mut page = editor(&admin, Some(&current), &typed, &errors, false);
            page.conflict = describe_changes(&theirs);
            page.version = version;
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StatusForm {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let status = DatasetStatus::parse(&form.status)
        .ok_or_else(|| AppError::BadRequest("Choose draft, published or retired.".to_owned()))?;
    curation::set_status(&state.db, admin.id, &slug, status).await?;
    state.catalog_watch.invalidate();
    Ok(
        Redirect::to(&Notice::DatasetStatusChanged.on(&format!("/admin/datasets/{slug}/edit")))
            .into_response(),
    )
}

#[derive(Template)]
#[template(path = "admin/dataset_history.html")]
pub struct HistoryPage {
    pub layout: Layout,
    pub slug: String,
    pub title: String,
    pub current_version: i32,
    pub revisions: Vec<revisions::Revision>,
}

impl HistoryPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        datetime(*at)
    }
}

pub async fn history(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let current = dataset(&state, &slug).await?;
    render(&HistoryPage {
        layout: Layout::new(format!("History: {}", current.fields.title), Nav::None)
            .with_user(Some(&admin)),
        revisions: revisions::list(&state.db, current.id).await?,
        slug,
        title: current.fields.title,
        current_version: current.version,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RestoreForm {
    version: String,
}

/// Restores the record as it was at an earlier version, as a new version.
pub async fn restore(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slug): Path<String>,
    Form(form): Form<RestoreForm>,
) -> Result<Response, AppError> {
    let wanted: i32 = form
        .version
        .parse()
        .map_err(|_| AppError::BadRequest("Choose a version to restore.".to_owned()))?;
    // Restored or already as it was: either way the history shows where the record stands.
    let _: Restored = curation::restore_version(&state.db, admin.id, &slug, wanted).await?;
    state.catalog_watch.invalidate();
    Ok(Redirect::to(&format!("/admin/datasets/{slug}/history")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_the_editor_hold_every_field_once_in_order() {
        let views = views(&Typed::new(), &FieldErrors::default(), false);
        let sections = sectioned(views);
        assert_eq!(
            sections.len(),
            SECTIONS.len(),
            "every part starts at a field"
        );
        assert_eq!(sections[0].fields[0].name, FIELDS[0].name);
        let names: Vec<&str> = sections
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.name))
            .collect();
        let all: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names, all);
        assert!(sections.iter().all(|s| !s.fields.is_empty()));
    }

    #[test]
    fn every_field_of_a_dataset_has_an_editor_field() {
        let value = serde_json::to_value(DatasetFields {
            slug: "x".to_owned(),
            title: "X".to_owned(),
            aliases: vec![],
            summary: String::new(),
            description: String::new(),
            organization_slug: "o".to_owned(),
            publisher_raw: None,
            landing_url: None,
            alt_urls: vec![],
            doi: None,
            citation: None,
            source_kind: SourceKind::Institutional,
            record_type: None,
            access_level: None,
            access_raw: None,
            license: None,
            license_raw: None,
            data_use_limitations: vec![],
            access_instructions: String::new(),
            modalities: vec![],
            modality_raw: None,
            body_parts: vec![],
            tasks: vec![],
            annotation_objects: vec![],
            conditions: vec![],
            formats: vec![],
            species: None,
            dimensionality: None,
            label_category_count: None,
            challenge: None,
            supporting_data: vec![],
            subject_count: None,
            study_count: None,
            image_count: None,
            case_count: None,
            size_bytes: None,
            count_notes: None,
            deidentification: None,
            contains_phi: false,
            year: None,
            release_date_raw: None,
            last_updated_upstream: None,
            upstream_status: None,
            idc_collection_id: None,
            idc_subject_count: None,
            idc_image_types: None,
            idc_supporting_data: None,
            idc_access: None,
            idc_updated: None,
            notes: None,
            sources: vec![],
        })
        .unwrap();
        let names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for name in &names {
            assert!(
                FIELDS.iter().any(|spec| spec.name == *name),
                "{name} has no editor field"
            );
        }
        assert_eq!(names.len(), FIELDS.len());
    }
}
