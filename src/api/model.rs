//! The JSON shapes of the API: stable field names, documented in the OpenAPI document.

use serde::Serialize;
use time::OffsetDateTime;

use crate::catalog::model::{
    AccessLevel, Dataset, DatasetFields, DatasetStatus, DatasetSummary, Organization, SourceKind,
};
use crate::catalog::search::{FacetValues, SearchQuery, SearchResults, TextMatch};

/// An organization as the API shows it.
#[derive(Debug, Serialize)]
pub struct OrganizationRef {
    pub slug: String,
    pub name: String,
}

/// A dataset in a result list.
#[derive(Debug, Serialize)]
pub struct DatasetItem {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub organization: OrganizationRef,
    pub source_kind: SourceKind,
    pub access_level: Option<AccessLevel>,
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
    pub subject_count: Option<i64>,
    pub image_count: Option<i64>,
    pub year: Option<i32>,
    pub license: Option<String>,
    pub doi: Option<String>,
    /// The dataset's page.
    pub url: String,
    /// The dataset's full record in this API.
    pub api_url: String,
}

impl DatasetItem {
    pub fn new(summary: DatasetSummary, base_url: &str) -> Self {
        Self {
            url: format!("{base_url}/datasets/{}", summary.slug),
            api_url: format!("{base_url}/api/v1/datasets/{}", summary.slug),
            organization: OrganizationRef {
                slug: summary.organization_slug,
                name: summary.organization_name,
            },
            slug: summary.slug,
            title: summary.title,
            summary: summary.summary,
            source_kind: summary.source_kind,
            access_level: summary.access_level,
            modalities: summary.modalities,
            body_parts: summary.body_parts,
            subject_count: summary.subject_count,
            image_count: summary.image_count,
            year: summary.year,
            license: summary.license,
            doi: summary.doi,
        }
    }
}

/// One facet value with its count.
#[derive(Debug, Serialize)]
pub struct FacetItem {
    pub value: String,
    pub label: String,
    pub count: i64,
}

/// Links to this page of results and its neighbours.
#[derive(Debug, Serialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub this: String,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// A page of search results.
#[derive(Debug, Serialize)]
pub struct DatasetList {
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    /// How the text matched: `all` words, `any` word (after too few matched all), `similar` names.
    pub text_match: Option<&'static str>,
    pub results: Vec<DatasetItem>,
    /// Facet parameter → values with counts over the other filters.
    pub facets: serde_json::Map<String, serde_json::Value>,
    pub links: Links,
}

impl DatasetList {
    pub fn new(query: &SearchQuery, results: SearchResults, base_url: &str) -> Self {
        let pagination = results.pagination.clone();
        let link = |page: i64| {
            format!(
                "{base_url}{}",
                query.with_page(page).href_at("/api/v1/datasets")
            )
        };
        Self {
            total: pagination.total,
            page: pagination.page,
            per_page: pagination.per_page,
            text_match: results.text_match.map(|m| match m {
                TextMatch::All => "all",
                TextMatch::Any => "any",
                TextMatch::Similar => "similar",
            }),
            results: results
                .hits
                .into_iter()
                .map(|hit| DatasetItem::new(hit.dataset, base_url))
                .collect(),
            facets: results.facets.into_iter().map(facet_entry).collect(),
            links: Links {
                this: link(pagination.page),
                next: pagination.has_next().then(|| link(pagination.page + 1)),
                prev: pagination.has_previous().then(|| link(pagination.page - 1)),
            },
        }
    }
}

fn facet_entry(values: FacetValues) -> (String, serde_json::Value) {
    let facet = values.facet;
    let items: Vec<FacetItem> = values
        .values
        .into_iter()
        .map(|count| FacetItem {
            label: count
                .label
                .unwrap_or_else(|| facet.value_label(&count.value)),
            value: count.value,
            count: count.count,
        })
        .collect();
    (
        facet.param().to_owned(),
        serde_json::to_value(items).unwrap_or_default(),
    )
}

/// A dataset's full record.
#[derive(Debug, Serialize)]
pub struct DatasetRecord {
    #[serde(flatten)]
    pub fields: DatasetFields,
    pub organization: OrganizationRef,
    pub status: DatasetStatus,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub url: String,
}

impl DatasetRecord {
    pub fn new(dataset: Dataset, base_url: &str) -> Self {
        Self {
            url: format!("{base_url}/datasets/{}", dataset.fields.slug),
            organization: OrganizationRef {
                slug: dataset.fields.organization_slug.clone(),
                name: dataset.organization_name,
            },
            fields: dataset.fields,
            status: dataset.status,
            version: dataset.version,
            created_at: dataset.created_at,
            updated_at: dataset.updated_at,
        }
    }
}

/// An organization with its number of published datasets.
#[derive(Debug, Serialize)]
pub struct OrganizationItem {
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub description: String,
    pub dataset_count: i64,
    pub url: String,
}

impl OrganizationItem {
    pub fn new(organization: Organization, base_url: &str) -> Self {
        Self {
            url: format!("{base_url}/organizations/{}", organization.slug),
            slug: organization.slug,
            name: organization.name,
            homepage: organization.homepage,
            description: organization.description,
            dataset_count: organization.dataset_count,
        }
    }
}
