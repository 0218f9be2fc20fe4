//! Handlers of the public catalog pages: home, search, dataset, organizations.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::catalog::db::{self, Count, Overview};
use crate::catalog::metadata;
use crate::catalog::model::{
    AccessLevel, Dataset, DatasetSummary, Organization, SourceKind, modality_name,
};
use crate::catalog::search::{self, Facet, SearchQuery, SearchResults, Sort, TextMatch};
use crate::error::AppError;
use crate::format::{bytes, thousands};
use crate::web::AppState;
use crate::web::extract::MaybeUser;
use crate::web::markdown::to_safe_html;
use crate::web::{Layout, Nav, render};

/// Helpers every catalog template uses to show values.
pub trait Show {
    fn count(&self, value: &Option<i64>) -> String {
        value.map(thousands).unwrap_or_default()
    }

    fn kind_label(&self, kind: &SourceKind) -> &'static str {
        kind.label()
    }

    fn access_label(&self, level: &Option<AccessLevel>) -> &'static str {
        level.map_or("Access not stated", AccessLevel::label)
    }

    fn access_class(&self, level: &Option<AccessLevel>) -> &'static str {
        level.map_or("unknown", AccessLevel::as_str)
    }

    fn modality_title(&self, code: &str) -> &'static str {
        modality_name(code).unwrap_or("")
    }
}

#[derive(Template)]
#[template(path = "catalog/home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub overview: Overview,
    pub recent: Vec<DatasetSummary>,
}

impl Show for HomePage {}

impl HomePage {
    fn kind_name(&self, value: &str) -> &'static str {
        SourceKind::parse(value).map_or("Other", SourceKind::label)
    }

    fn access_name(&self, value: &str) -> &'static str {
        AccessLevel::parse(value).map_or("Not stated", AccessLevel::label)
    }

    fn total(&self) -> String {
        thousands(self.overview.total)
    }

    fn share(&self, count: &Count) -> i64 {
        if self.overview.total == 0 {
            0
        } else {
            count.count * 100 / self.overview.total
        }
    }
}

/// Recently changed datasets the home page shows.
const RECENT_DATASETS: i64 = 6;

pub async fn home(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    let overview = db::overview(&state.db).await?;
    let recent = db::recently_updated(&state.db, RECENT_DATASETS).await?;
    render(&HomePage {
        layout: Layout::new("AI-radiology data", Nav::Home).with_user(user.as_ref()),
        overview,
        recent,
    })
}

#[derive(Template)]
#[template(path = "catalog/search.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub query: SearchQuery,
    pub results: SearchResults,
}

impl Show for SearchPage {}

impl SearchPage {
    fn facet_value_label(&self, facet: &Facet, value: &str, label: &Option<String>) -> String {
        label.clone().unwrap_or_else(|| facet.value_label(value))
    }

    fn toggle_href(&self, facet: &Facet, value: &str) -> String {
        self.query.toggled(*facet, value).href()
    }

    fn is_selected(&self, facet: &Facet, value: &str) -> bool {
        self.query.is_selected(*facet, value)
    }

    /// The active filters as removable chips: (label, link without it).
    fn chips(&self) -> Vec<(String, String)> {
        let mut chips = Vec::new();
        for facet in Facet::ALL {
            for value in self.query.selected(facet) {
                let label = self
                    .results
                    .facets
                    .iter()
                    .find(|f| f.facet == facet)
                    .and_then(|f| f.values.iter().find(|v| &v.value == value))
                    .and_then(|v| v.label.clone())
                    .unwrap_or_else(|| facet.value_label(value));
                chips.push((
                    format!("{}: {label}", facet.label()),
                    self.query.toggled(facet, value).href(),
                ));
            }
        }
        chips
    }

    /// Hidden inputs that keep the filters when the text is changed: (parameter, value).
    fn kept_filters(&self) -> Vec<(&'static str, String)> {
        Facet::ALL
            .into_iter()
            .flat_map(|facet| {
                self.query
                    .selected(facet)
                    .iter()
                    .map(move |value| (facet.param(), value.clone()))
            })
            .collect()
    }

    fn suggestion_href(&self, suggestion: &str) -> String {
        self.query.with_text(suggestion).href()
    }

    fn without_text_href(&self) -> String {
        self.query.with_text("").href()
    }

    fn csv_href(&self) -> String {
        self.query.with_page(1).href_at("/datasets.csv")
    }

    fn api_href(&self) -> String {
        self.query.href_at("/api/v1/datasets")
    }

    fn sorts(&self) -> Vec<(Sort, bool)> {
        let current = self.query.effective_sort();
        Sort::ALL
            .into_iter()
            .filter(|sort| *sort != Sort::Relevance || !self.query.text.is_empty())
            .map(|sort| (sort, sort == current))
            .collect()
    }

    fn page_link(&self, page: &i64) -> String {
        self.page_href(*page)
    }

    fn page_href(&self, page: i64) -> String {
        self.query.with_page(page).href()
    }

    fn total(&self) -> String {
        thousands(self.results.pagination.total)
    }
}

pub async fn list_datasets(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = SearchQuery::parse(raw.as_deref())
        .map_err(|error| AppError::BadRequest(format!("The search could not be read: {error}.")))?;
    let started = std::time::Instant::now();
    let results = search::search(&state.db, &state.search_index, &query).await?;
    crate::metrics::observe_search(started.elapsed());
    state.search_log.record(&query, &results);
    let title = if query.text.is_empty() {
        "Datasets".to_owned()
    } else {
        format!("“{}” — datasets", query.text)
    };
    render(&SearchPage {
        layout: Layout::new(title, Nav::Datasets)
            .with_query(&query.text)
            .with_user(user.as_ref()),
        query,
        results,
    })
}

#[derive(Template)]
#[template(path = "catalog/show.html")]
pub struct DatasetPage {
    pub layout: Layout,
    pub dataset: std::sync::Arc<Dataset>,
    pub description_html: String,
    pub instructions_html: String,
    pub json_ld: String,
    pub citation: String,
    pub related: std::sync::Arc<Vec<DatasetSummary>>,
    /// Who governs access, for a controlled dataset requested through the portal.
    pub governance: Option<crate::access::model::Governed>,
    pub signed_in: bool,
}

impl Show for DatasetPage {}

impl DatasetPage {
    fn access_explanation(&self) -> &'static str {
        match self.dataset.fields.access_level {
            Some(level) => level.explanation(),
            None => {
                "The sources this record comes from do not say how access works. Check the publisher's page before you plan on this data."
            }
        }
    }

    fn size(&self) -> String {
        self.dataset
            .fields
            .size_bytes
            .map(bytes)
            .unwrap_or_default()
    }

    /// Where the facts came from, in words.
    fn sources(&self) -> Vec<crate::catalog::provenance::Source> {
        crate::catalog::provenance::sources(&self.dataset.fields.sources)
    }

    fn licence_url(&self) -> Option<String> {
        self.dataset
            .fields
            .license
            .as_deref()
            .and_then(crate::catalog::provenance::licence_url)
    }

    /// The data-use limitations with their DUO terms (`None` for a code the bundled release lacks).
    fn duo_terms(&self) -> Vec<(String, Option<&'static crate::catalog::duo::DuoTerm>)> {
        self.dataset
            .fields
            .data_use_limitations
            .iter()
            .map(|code| (code.clone(), crate::catalog::duo::find(code)))
            .collect()
    }

    /// The size in one line for the key facts: the counts the sources state and the download size.
    fn size_summary(&self) -> String {
        let d = &self.dataset.fields;
        let mut parts: Vec<String> = [
            (d.subject_count, "subjects"),
            (d.study_count, "studies"),
            (d.image_count, "images"),
        ]
        .into_iter()
        .filter_map(|(count, what)| count.map(|count| format!("{} {what}", thousands(count))))
        .collect();
        if parts.is_empty()
            && let Some(cases) = d.case_count
        {
            parts.push(format!("{} cases", thousands(cases)));
        }
        if let Some(size) = d.size_bytes {
            parts.push(bytes(size));
        }
        if parts.is_empty() {
            "Not stated".to_owned()
        } else {
            parts.join(" · ")
        }
    }

    fn date(&self, date: &Option<time::Date>) -> String {
        date.map(|date| date.to_string()).unwrap_or_default()
    }

    fn timestamp(&self, at: &time::OffsetDateTime) -> String {
        at.date().to_string()
    }
}

pub async fn show_dataset(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    // The version is read before the dataset, so a change made meanwhile makes the entry stale.
    let version = state.catalog_watch.version();
    // A draft in the cache may have been published a moment ago (the notice can lag): read again.
    let cached = version
        .and_then(|version| state.datasets.get(&slug, version))
        .filter(|dataset| dataset.status != crate::catalog::model::DatasetStatus::Draft);
    let dataset = match cached {
        Some(dataset) => dataset,
        None => {
            let dataset = std::sync::Arc::new(
                db::find_dataset(&state.db, &slug)
                    .await?
                    .ok_or(AppError::NotFound)?,
            );
            if let Some(version) = version {
                state.datasets.put(version, dataset.clone());
            }
            dataset
        }
    };
    if dataset.status == crate::catalog::model::DatasetStatus::Draft {
        return Err(AppError::NotFound);
    }
    let related = state.related.get(&state.db, &dataset).await?;
    let governance =
        if dataset.fields.access_level == Some(crate::catalog::model::AccessLevel::Controlled) {
            crate::access::db::governed(&state.db, &slug).await?
        } else {
            None
        };
    let base_url = crate::api::v1::base(&state);
    let json_ld = metadata::script_json(&metadata::schema_org(
        &dataset,
        dataset.organization_homepage.as_deref(),
        &base_url,
    ));
    render(&DatasetPage {
        layout: Layout::new(dataset.fields.title.clone(), Nav::Datasets).with_user(user.as_ref()),
        description_html: to_safe_html(&dataset.fields.description),
        instructions_html: to_safe_html(&dataset.fields.access_instructions),
        citation: metadata::citation(&dataset.fields, &dataset.organization_name),
        json_ld,
        related,
        governance,
        signed_in: user.is_some(),
        dataset,
    })
}

#[derive(Template)]
#[template(path = "organizations/list.html")]
pub struct OrganizationsPage {
    pub layout: Layout,
    pub organizations: Vec<Organization>,
}

impl Show for OrganizationsPage {}

pub async fn list_organizations(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    let organizations = db::organizations::list(&state.db).await?;
    render(&OrganizationsPage {
        layout: Layout::new("Organizations", Nav::Organizations).with_user(user.as_ref()),
        organizations,
    })
}

#[derive(Template)]
#[template(path = "organizations/show.html")]
pub struct OrganizationPage {
    pub layout: Layout,
    pub organization: Organization,
    pub results: SearchResults,
    pub search_href: String,
}

impl Show for OrganizationPage {}

pub async fn show_organization(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let organization = db::organizations::find(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut query = SearchQuery::default();
    query
        .add_filter(Facet::Organization, &organization.slug)
        .map_err(|error| AppError::BadRequest(error.to_string()))?;
    let results =
        search::search_with(&state.db, &state.search_index, &query, search::Extras::NONE).await?;
    render(&OrganizationPage {
        layout: Layout::new(organization.name.clone(), Nav::Organizations).with_user(user.as_ref()),
        search_href: query.href(),
        organization,
        results,
    })
}

/// Most rows one CSV export holds.
const CSV_MAX_ROWS: i64 = 10_000;

/// The current search as CSV (`/datasets.csv?…`, the same parameters as `/datasets`).
pub async fn export_csv(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let mut query = SearchQuery::parse(raw.as_deref())
        .map_err(|error| AppError::BadRequest(format!("The search could not be read: {error}.")))?;
    query.page = 1;
    query.per_page = CSV_MAX_ROWS;
    let results =
        search::search_with(&state.db, &state.search_index, &query, search::Extras::NONE).await?;
    let body = metadata::csv(&results.hits, &crate::api::v1::base(&state))
        .map_err(|error| AppError::Internal(error.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"radportal-datasets.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// Datasets per page of the DCAT catalog.
const DCAT_PAGE_SIZE: i64 = 1000;
/// The last page of the DCAT catalog that can be asked for.
const DCAT_MAX_PAGE: i64 = 10_000;

/// The catalog in DCAT (JSON-LD), a thousand datasets per page.
pub async fn dcat_catalog(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let mut page = 1;
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if key == "page" {
            page = value
                .parse::<i64>()
                .ok()
                .filter(|page| (1..=DCAT_MAX_PAGE).contains(page))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "parameter 'page': must be a whole number from 1 to {DCAT_MAX_PAGE}"
                    ))
                })?;
        }
    }
    let slugs =
        db::published_slugs(&state.db, DCAT_PAGE_SIZE + 1, (page - 1) * DCAT_PAGE_SIZE).await?;
    let next_page = (slugs.len() as i64 > DCAT_PAGE_SIZE).then_some(page + 1);
    let slugs = &slugs[..slugs.len().min(DCAT_PAGE_SIZE as usize)];
    let datasets = db::find_datasets(&state.db, slugs).await?;
    let catalog = metadata::dcat_catalog(&datasets, &crate::api::v1::base(&state), page, next_page);
    Ok((
        [(header::CONTENT_TYPE, "application/ld+json")],
        catalog.to_string(),
    )
        .into_response())
}
