//! Handlers of the JSON API `/api/v1`: datasets with the search page's query, filters, facets and
//! sort; a dataset's full record; organizations.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use super::error::ApiError;
use super::model::{DatasetList, DatasetRecord, OrganizationItem};
use crate::catalog::db;
use crate::catalog::model::DatasetStatus;
use crate::catalog::search::{self, SearchQuery};
use crate::error::AppError;
use crate::web::AppState;

/// The base URL without a trailing slash, for absolute links.
pub fn base(state: &AppState) -> String {
    state
        .config
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

pub async fn index(State(state): State<AppState>) -> Json<Value> {
    let base = base(&state);
    Json(json!({
        "name": "radportal API",
        "version": "v1",
        "openapi": format!("{base}/api/v1/openapi.json"),
        "datasets": format!("{base}/api/v1/datasets"),
        "organizations": format!("{base}/api/v1/organizations"),
        "ckan_action_api": format!("{base}/api/3/action"),
        "dcat_catalog": format!("{base}/catalog.jsonld"),
    }))
}

pub async fn list_datasets(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DatasetList>, ApiError> {
    let query = SearchQuery::parse(raw.as_deref())?;
    let started = std::time::Instant::now();
    let results = search::search_with(
        &state.db,
        &state.search_index,
        &query,
        search::Extras {
            snippets: false,
            ..search::Extras::ALL
        },
    )
    .await?;
    crate::metrics::observe_search(started.elapsed());
    state.search_log.record(&query, &results);
    Ok(Json(DatasetList::new(&query, results, &base(&state))))
}

pub async fn show_dataset(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<DatasetRecord>, ApiError> {
    let dataset = db::find_dataset(&state.db, &slug)
        .await?
        .filter(|dataset| dataset.status != DatasetStatus::Draft)
        .ok_or(AppError::NotFound)?;
    Ok(Json(DatasetRecord::new(dataset, &base(&state))))
}

pub async fn list_organizations(
    State(state): State<AppState>,
) -> Result<Json<Vec<OrganizationItem>>, ApiError> {
    let base = base(&state);
    let organizations = db::organizations::list(&state.db).await?;
    Ok(Json(
        organizations
            .into_iter()
            .map(|organization| OrganizationItem::new(organization, &base))
            .collect(),
    ))
}

/// Any other path under `/api/v1`: a JSON 404 rather than the HTML page.
pub async fn not_found() -> ApiError {
    ApiError::App(AppError::NotFound)
}
