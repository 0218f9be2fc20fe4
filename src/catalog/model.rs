//! Catalog types: the kinds of source, access levels, lifecycle states, modalities and the dataset record.

use serde::{Deserialize, Serialize};
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
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Retired => "retired",
        }
    }
}

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
/// The field order here is the column order in `db.rs`; a round-trip test holds them together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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

/// A dataset as stored: its facts plus identity, organization and lifecycle columns.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Dataset {
    pub id: i64,
    #[sqlx(flatten)]
    pub fields: DatasetFields,
    pub organization_name: String,
    pub organization_homepage: Option<String>,
    pub status: DatasetStatus,
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a result list shows of a dataset.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
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
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
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
