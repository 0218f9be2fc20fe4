//! Catalog types: the kinds of source, access levels, lifecycle states, modalities and the dataset record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};

/// What kind of data source a dataset is (DESIGN.md: every kind of source a researcher meets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "source_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    ImagingArchive,
    Ehr,
    AnnotatedDataset,
    Institutional,
    Synthetic,
    Challenge,
    PrivateProvider,
    SharingPlatform,
}

impl SourceKind {
    pub const ALL: [Self; 8] = [
        Self::ImagingArchive,
        Self::Ehr,
        Self::AnnotatedDataset,
        Self::Institutional,
        Self::Synthetic,
        Self::Challenge,
        Self::PrivateProvider,
        Self::SharingPlatform,
    ];

    /// The stored and URL form: `imaging_archive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImagingArchive => "imaging_archive",
            Self::Ehr => "ehr",
            Self::AnnotatedDataset => "annotated_dataset",
            Self::Institutional => "institutional",
            Self::Synthetic => "synthetic",
            Self::Challenge => "challenge",
            Self::PrivateProvider => "private_provider",
            Self::SharingPlatform => "sharing_platform",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ImagingArchive => "Imaging archive",
            Self::Ehr => "Electronic health records",
            Self::AnnotatedDataset => "Annotated dataset",
            Self::Institutional => "Institutional data",
            Self::Synthetic => "Synthetic data",
            Self::Challenge => "Challenge / competition",
            Self::PrivateProvider => "Private healthcare provider",
            Self::SharingPlatform => "Data-sharing platform",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// How a researcher gets the data: decides what the dataset page offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "access_level", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    Open,
    Registration,
    Credentialed,
    Controlled,
}

impl AccessLevel {
    pub const ALL: [Self; 4] = [
        Self::Open,
        Self::Registration,
        Self::Credentialed,
        Self::Controlled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Registration => "registration",
            Self::Credentialed => "credentialed",
            Self::Controlled => "controlled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Registration => "Registration",
            Self::Credentialed => "Credentialed",
            Self::Controlled => "Controlled",
        }
    }

    /// What this level means for the researcher, in one sentence.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Open => {
                "Anyone may download the data from the publisher's site; no account or agreement is needed."
            }
            Self::Registration => {
                "The publisher asks you to create an account or accept challenge rules before you can download."
            }
            Self::Credentialed => {
                "The publisher requires credentialing (identity check, training) and a signed data-use agreement."
            }
            Self::Controlled => {
                "Access is granted through this portal: request it under the data-use agreement and the Data Access Committee reviews it."
            }
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == value)
    }
}

/// Where a dataset is in its life in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "dataset_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DatasetStatus {
    Draft,
    Published,
    Retired,
}

impl DatasetStatus {
    pub const ALL: [Self; 3] = [Self::Draft, Self::Published, Self::Retired];

    /// The stored and form value: `draft`, `published`, `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// Maps an enum with `as_str` and `parse` onto a PostgreSQL `text` column (for vocabularies that a
/// check constraint, rather than an enum type, keeps closed).
macro_rules! stored_as_text {
    ($name:ident) => {
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Self::parse(text).ok_or_else(|| {
                    format!(concat!("'{}' is not a ", stringify!($name)), text).into()
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Where a version of a dataset came from (`dataset_revisions.origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevisionOrigin {
    /// A curator saved the editor.
    Editor,
    /// A curator restored an earlier version.
    Restore,
    /// An import of the exchange format.
    Import,
}

impl RevisionOrigin {
    pub const ALL: [Self; 3] = [Self::Editor, Self::Restore, Self::Import];

    /// The stored form: `editor`, `restore`, `import`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Restore => "restore",
            Self::Import => "import",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|origin| origin.as_str() == value)
    }
}

stored_as_text!(RevisionOrigin);

/// The format of a file uploaded for a bulk import (`import_uploads.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UploadFormat {
    /// An array of records in the exchange format.
    Json,
    /// Rows with the documented columns.
    Csv,
}

impl UploadFormat {
    pub const ALL: [Self; 2] = [Self::Json, Self::Csv];

    /// The stored form: `json` or `csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == value)
    }

    /// JSON when the file name ends in `.json` or the content starts with `[`; CSV otherwise.
    pub fn detect(file_name: &str, bytes: &[u8]) -> Self {
        let starts_like_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if file_name.to_lowercase().ends_with(".json") || starts_like_json {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

stored_as_text!(UploadFormat);

/// DICOM modality codes the catalog knows, with their names (PS3.3 C.7.3.1.1.1 and common ones).
pub const MODALITIES: &[(&str, &str)] = &[
    ("CT", "Computed tomography"),
    ("MR", "Magnetic resonance"),
    ("PT", "Positron emission tomography"),
    ("DX", "Digital radiography"),
    ("CR", "Computed radiography"),
    ("MG", "Mammography"),
    ("US", "Ultrasound"),
    ("NM", "Nuclear medicine"),
    ("SM", "Slide microscopy"),
    ("XA", "X-ray angiography"),
    ("RF", "Radiofluoroscopy"),
    ("OT", "Other"),
    ("SC", "Secondary capture"),
    ("M3D", "3D manufacturing model"),
    ("IO", "Intra-oral radiography"),
    ("PX", "Panoramic X-ray"),
    ("OCT", "Optical coherence tomography"),
    ("OP", "Ophthalmic photography"),
    ("ES", "Endoscopy"),
    ("XC", "External-camera photography"),
    ("GM", "General microscopy"),
    ("ECG", "Electrocardiography"),
    ("BMD", "Bone densitometry"),
    ("IVUS", "Intravascular ultrasound"),
    ("SEG", "Segmentation"),
    ("SR", "Structured report"),
    ("RTSTRUCT", "RT structure set"),
    ("RTDOSE", "RT dose"),
    ("RTPLAN", "RT plan"),
    ("RTIMAGE", "RT image"),
    ("RTRECORD", "RT treatment record"),
    ("PR", "Presentation state"),
    ("KO", "Key object selection"),
    ("REG", "Registration"),
    ("RWV", "Real world value map"),
    ("DOC", "Document"),
    ("AR", "Autorefraction"),
    ("ASMT", "Content assessment results"),
    ("AU", "Audio"),
    ("BDUS", "Bone densitometry (ultrasound)"),
    ("BI", "Biomagnetic imaging"),
    ("DG", "Diaphanography"),
    ("EPS", "Cardiac electrophysiology"),
    ("HC", "Hard copy"),
    ("HD", "Hemodynamic waveform"),
    ("IVOCT", "Intravascular OCT"),
    ("KER", "Keratometry"),
    ("LEN", "Lensometry"),
    ("LS", "Laser surface scan"),
    ("OAM", "Ophthalmic axial measurements"),
    ("OPM", "Ophthalmic mapping"),
    ("OPT", "Ophthalmic tomography"),
    ("OPV", "Ophthalmic visual field"),
    ("OSS", "Optical surface scan"),
    ("PLAN", "Plan"),
    ("RESP", "Respiratory waveform"),
    ("RG", "Radiographic imaging"),
    ("SMR", "Stereometric relationship"),
    ("SRF", "Subjective refraction"),
    ("TG", "Thermography"),
    ("VA", "Visual acuity"),
];

/// The name of a DICOM modality code, if the code is known.
pub fn modality_name(code: &str) -> Option<&'static str> {
    MODALITIES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, name)| *name)
}

/// Every fact of a dataset that a curator or an import sets: the unit of comparison, diff and revision.
///
/// `db` reads and writes each field by its column name; a round-trip test writes every field and
/// reads it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetFields {
    // identity
    pub slug: String,
    pub title: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub description: String,
    pub organization_slug: String,
    pub publisher_raw: Option<String>,
    pub landing_url: Option<String>,
    pub alt_urls: Vec<String>,
    pub doi: Option<String>,
    pub citation: Option<String>,
    // kind and access
    pub source_kind: SourceKind,
    pub record_type: Option<String>,
    pub access_level: Option<AccessLevel>,
    pub access_raw: Option<String>,
    pub license: Option<String>,
    pub license_raw: Option<String>,
    pub data_use_limitations: Vec<String>,
    pub access_instructions: String,
    // imaging facts
    pub modalities: Vec<String>,
    pub modality_raw: Option<String>,
    pub body_parts: Vec<String>,
    pub tasks: Vec<String>,
    pub annotation_objects: Vec<String>,
    pub conditions: Vec<String>,
    pub formats: Vec<String>,
    pub species: Option<String>,
    pub dimensionality: Option<String>,
    pub label_category_count: Option<i32>,
    pub challenge: Option<String>,
    pub supporting_data: Vec<String>,
    // size
    pub subject_count: Option<i64>,
    pub study_count: Option<i64>,
    pub image_count: Option<i64>,
    pub case_count: Option<i64>,
    pub size_bytes: Option<i64>,
    pub count_notes: Option<String>,
    // privacy
    pub deidentification: Option<String>,
    pub contains_phi: bool,
    // lifecycle
    pub year: Option<i32>,
    pub release_date_raw: Option<String>,
    pub last_updated_upstream: Option<Date>,
    pub upstream_status: Option<String>,
    // NCI Imaging Data Commons view
    pub idc_collection_id: Option<String>,
    pub idc_subject_count: Option<i64>,
    pub idc_image_types: Option<String>,
    pub idc_supporting_data: Option<String>,
    pub idc_access: Option<String>,
    pub idc_updated: Option<Date>,
    // provenance
    pub notes: Option<String>,
    pub sources: Vec<String>,
}

impl DatasetFields {
    /// Body parts and modalities in the vocabulary's terms: "renal" becomes "kidney", "tspine"
    /// "thoracic spine"; a term the vocabulary does not know stays as written.
    pub fn normalise_facts(&mut self, vocabulary: &super::vocabulary::Vocabulary) {
        use super::vocabulary::ConceptKind;
        // A modality is stored as the one DICOM code it names; a word that could mean several
        // ("x-ray": DX or CR) stays as written, for the import to report.
        let normalise = |values: &[String], kind: ConceptKind| {
            let mut out: Vec<String> = Vec::new();
            for value in values {
                let mut keys = vocabulary.normalise(value, kind);
                if kind == ConceptKind::Modality && keys.len() != 1 {
                    keys = vec![value.clone()];
                }
                for key in keys {
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
            }
            out
        };
        self.body_parts = normalise(&self.body_parts, ConceptKind::Anatomy);
        self.modalities = normalise(&self.modalities, ConceptKind::Modality);
    }
}

impl DatasetFields {
    /// Per-field differences from `before`: `{"title": {"before": …, "after": …}}`; every field when
    /// there is no `before`.
    pub fn changes_since(&self, before: Option<&Self>) -> Map<String, Value> {
        let after = serde_json::to_value(self).unwrap_or_default();
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
}

/// Longest before or after value a change list shows, in characters.
const SHOWN_CHANGE_CHARS: usize = 300;

/// (field, before, after) for each change (as [`DatasetFields::changes_since`] makes them), as short
/// text.
pub fn describe_changes(changes: &Map<String, Value>) -> Vec<(String, String, String)> {
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
        if text.chars().count() > SHOWN_CHANGE_CHARS {
            format!(
                "{}…",
                text.chars().take(SHOWN_CHANGE_CHARS).collect::<String>()
            )
        } else {
            text
        }
    };
    changes
        .iter()
        .map(|(field, change)| {
            (
                field.clone(),
                shorten(&change["before"]),
                shorten(&change["after"]),
            )
        })
        .collect()
}

/// A dataset as stored: its facts plus identity, organization and lifecycle columns.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub id: i64,
    pub fields: DatasetFields,
    pub organization_name: String,
    pub organization_homepage: Option<String>,
    pub status: DatasetStatus,
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a result list shows of a dataset.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetSummary {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub organization_slug: String,
    pub organization_name: String,
    pub source_kind: SourceKind,
    pub access_level: Option<AccessLevel>,
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
    pub subject_count: Option<i64>,
    pub image_count: Option<i64>,
    pub year: Option<i32>,
    pub license: Option<String>,
    pub doi: Option<String>,
}

/// An organization that publishes datasets.
#[derive(Clone, Debug, Serialize)]
pub struct Organization {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub description: String,
    pub dataset_count: i64,
}

/// An organization as an import or a curator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationRef {
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
}

/// An organization as a curator enters it, trimmed; checked by `validate::check_organization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationInput {
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_vocabularies_round_trip_through_their_names() {
        for status in DatasetStatus::ALL {
            assert_eq!(DatasetStatus::parse(status.as_str()), Some(status));
        }
        for origin in RevisionOrigin::ALL {
            assert_eq!(RevisionOrigin::parse(origin.as_str()), Some(origin));
            assert_eq!(origin.to_string(), origin.as_str());
        }
        for format in UploadFormat::ALL {
            assert_eq!(UploadFormat::parse(format.as_str()), Some(format));
        }
        assert_eq!(DatasetStatus::parse("deleted"), None);
        assert_eq!(RevisionOrigin::parse("Editor"), None);
    }

    #[test]
    fn uploads_are_json_by_name_or_content_and_csv_otherwise() {
        assert_eq!(
            UploadFormat::detect("records.JSON", b"id,name"),
            UploadFormat::Json
        );
        assert_eq!(
            UploadFormat::detect("upload", b"  \n[{}]"),
            UploadFormat::Json
        );
        assert_eq!(
            UploadFormat::detect("records.csv", b"id,name\n"),
            UploadFormat::Csv
        );
    }

    fn fields() -> DatasetFields {
        serde_json::from_value(json!({
            "slug": "knee-mri", "title": "Knee MRI", "aliases": [], "summary": "",
            "description": "", "organization_slug": "example", "publisher_raw": null,
            "landing_url": null, "alt_urls": [], "doi": null, "citation": null,
            "source_kind": "institutional", "record_type": null, "access_level": null,
            "access_raw": null, "license": null, "license_raw": null,
            "data_use_limitations": [], "access_instructions": "", "modalities": ["MR"],
            "modality_raw": null, "body_parts": [], "tasks": [], "annotation_objects": [],
            "conditions": [], "formats": [], "species": null, "dimensionality": null,
            "label_category_count": null, "challenge": null, "supporting_data": [],
            "subject_count": null, "study_count": null, "image_count": null, "case_count": null,
            "size_bytes": null, "count_notes": null, "deidentification": null,
            "contains_phi": false, "year": null, "release_date_raw": null,
            "last_updated_upstream": null, "upstream_status": null, "idc_collection_id": null,
            "idc_subject_count": null, "idc_image_types": null, "idc_supporting_data": null,
            "idc_access": null, "idc_updated": null, "notes": null, "sources": []
        }))
        .unwrap()
    }

    #[test]
    fn changes_name_each_changed_field_with_both_values() {
        let before = fields();
        let after = DatasetFields {
            title: "Knee MRI (3 T)".to_owned(),
            subject_count: Some(412),
            ..before.clone()
        };
        let changes = after.changes_since(Some(&before));
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes["title"],
            json!({"before": "Knee MRI", "after": "Knee MRI (3 T)"})
        );
        assert!(before.changes_since(Some(&before)).is_empty());
        // A first version lists every field that has a value.
        let first = before.changes_since(None);
        assert_eq!(first["slug"], json!({"before": null, "after": "knee-mri"}));
        assert!(first.contains_key("aliases") && !first.contains_key("doi"));
        assert_eq!(
            describe_changes(&changes),
            vec![
                ("subject_count".to_owned(), "—".to_owned(), "412".to_owned()),
                (
                    "title".to_owned(),
                    "Knee MRI".to_owned(),
                    "Knee MRI (3 T)".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn long_values_are_shortened_in_change_lists() {
        let before = fields();
        let after = DatasetFields {
            description: "x".repeat(SHOWN_CHANGE_CHARS + 1),
            modalities: vec!["CT".to_owned(), "MR".to_owned()],
            ..before.clone()
        };
        let described = describe_changes(&after.changes_since(Some(&before)));
        let description = &described
            .iter()
            .find(|(f, ..)| f == "description")
            .unwrap()
            .2;
        assert_eq!(description.chars().count(), SHOWN_CHANGE_CHARS + 1);
        assert!(description.ends_with('…'));
        let modalities = described.iter().find(|(f, ..)| f == "modalities").unwrap();
        assert_eq!(
            (modalities.1.as_str(), modalities.2.as_str()),
            ("MR", "CT, MR")
        );
    }
}
