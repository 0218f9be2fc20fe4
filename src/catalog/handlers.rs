//! Handlers of the public catalog pages: home, search, dataset, organizations.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::db::{self, Count, Overview};
use super::model::{AccessLevel, Dataset, DatasetSummary, Organization, SourceKind, modality_name};
use super::search::{self, Facet, SearchQuery, SearchResults, Sort, TextMatch};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::format::{bytes, thousands};
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

pub async fn home(State(state): State<AppState>) -> Result<Response, AppError> {
    let overview = db::overview(&state.db).await?;
    let recent = db::recently_updated(&state.db, 6).await?;
    render(&HomePage {
        layout: Layout::new("AI-radiology data", Nav::Home),
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
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = SearchQuery::parse(raw.as_deref())
        .map_err(|error| AppError::BadRequest(format!("The search could not be read: {error}.")))?;
    let results = search::search(&state.db, &query).await?;
    let title = if query.text.is_empty() {
        "Datasets".to_owned()
    } else {
        format!("“{}” — datasets", query.text)
    };
    render(&SearchPage {
        layout: Layout::new(title, Nav::Datasets).with_query(&query.text),
        query,
        results,
    })
}

#[derive(Template)]
#[template(path = "catalog/show.html")]
pub struct DatasetPage {
    pub layout: Layout,
    pub dataset: Dataset,
    pub organization_homepage: Option<String>,
    pub description_html: String,
    pub instructions_html: String,
    pub revisions: i64,
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

    fn date(&self, date: &Option<time::Date>) -> String {
        date.map(|date| date.to_string()).unwrap_or_default()
    }

    fn timestamp(&self, at: &time::OffsetDateTime) -> String {
        at.date().to_string()
    }
}

pub async fn show_dataset(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let dataset = db::find_dataset(&state.db, &slug)
        .await?
        .filter(|dataset| dataset.status != super::model::DatasetStatus::Draft)
        .ok_or(AppError::NotFound)?;
    let organization = db::find_organization(&state.db, &dataset.fields.organization_slug).await?;
    let revisions = db::revision_count(&state.db, dataset.id).await?;
    render(&DatasetPage {
        layout: Layout::new(dataset.fields.title.clone(), Nav::Datasets),
        organization_homepage: organization.and_then(|org| org.homepage),
        description_html: to_safe_html(&dataset.fields.description),
        instructions_html: to_safe_html(&dataset.fields.access_instructions),
        revisions,
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

pub async fn list_organizations(State(state): State<AppState>) -> Result<Response, AppError> {
    let organizations = db::list_organizations(&state.db).await?;
    render(&OrganizationsPage {
        layout: Layout::new("Organizations", Nav::Organizations),
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
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let organization = db::find_organization(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut query = SearchQuery::default();
    query
        .add_filter(Facet::Organization, &organization.slug)
        .map_err(|error| AppError::BadRequest(error.to_string()))?;
    let results = search::search_facets(&state.db, &query, &[]).await?;
    render(&OrganizationPage {
        layout: Layout::new(organization.name.clone(), Nav::Organizations),
        search_href: query.href(),
        organization,
        results,
    })
}
