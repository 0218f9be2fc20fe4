//! A CKAN-compatible Action API subset (`package_search`, `package_show`, `package_list`,
//! `organization_list`, `organization_show`, `status_show`), so that CKAN clients and harvesters can read
//! the catalog unchanged. Answers use CKAN's envelope: `{"help", "success", "result" | "error"}`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::v1::base;
use crate::catalog::db;
use crate::catalog::model::{Dataset, DatasetStatus, Organization};
use crate::catalog::search::{self, Facet, SearchQuery, Sort};
use crate::error::AppError;
use crate::web::AppState;
use crate::web::routes::Routes;

/// The CKAN version whose Action API this imitates.
const CKAN_VERSION: &str = "2.10.4";
/// CKAN's licence id for "not stated" (our filters call it `unknown`).
const NOT_SPECIFIED: &str = "notspecified";

/// Most rows one `package_search` returns.
const MAX_ROWS: i64 = 1000;
/// Rows `package_search` returns when `rows` is not given (CKAN's default).
const DEFAULT_ROWS: i64 = 10;
/// Most facet fields one `package_search` counts.
const MAX_FACET_FIELDS: usize = 16;
/// Values per facet `package_search` returns when `facet.limit` is not given (CKAN's default).
const DEFAULT_FACET_LIMIT: i64 = 50;
/// Most values per facet `package_search` returns.
const MAX_FACET_LIMIT: i64 = 1000;
/// Most organizations one `organization_list` returns (and how many when `limit` is not given).
const MAX_ORGANIZATIONS: i64 = 1000;

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/3/action/{action}", action)
        .post("/api/3/action/{action}", action)
        .get("/api/action/{action}", action)
        .post("/api/action/{action}", action)
}

/// A failed action, as CKAN reports it.
enum CkanError {
    NotFound,
    /// A parameter is missing or wrong: field → messages.
    Validation(Vec<(String, String)>),
    /// `q`, `fq` or `sort` cannot be understood.
    SearchQuery(String),
    UnknownAction(String),
    Internal(AppError),
}

impl<E: Into<AppError>> From<E> for CkanError {
    fn from(error: E) -> Self {
        match error.into() {
            AppError::NotFound => Self::NotFound,
            other => Self::Internal(other),
        }
    }
}

/// The action's parameters, from the query string (GET) or a JSON object body (POST).
struct Params(HashMap<String, Value>);

impl Params {
    fn read(raw_query: Option<&str>, body: &[u8]) -> Result<Self, CkanError> {
        let mut params = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes()) {
            // A repeated key (`facet.field=a&facet.field=b`) becomes a list.
            let value = Value::String(value.into_owned());
            match params.get_mut(key.as_ref()) {
                Some(Value::Array(values)) => values.push(value),
                Some(existing) => *existing = Value::Array(vec![existing.take(), value]),
                None => {
                    params.insert(key.into_owned(), value);
                }
            }
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(object)) => params.extend(object),
                _ => {
                    // Form-encoded bodies are accepted too.
                    let text = std::str::from_utf8(body).map_err(|_| {
                        CkanError::Validation(vec![("body".into(), "must be UTF-8".into())])
                    })?;
                    if !text.contains('=') {
                        return Err(CkanError::Validation(vec![(
                            "body".into(),
                            "must be a JSON object".into(),
                        )]));
                    }
                    for (key, value) in url::form_urlencoded::parse(text.as_bytes()) {
                        params.insert(key.into_owned(), Value::String(value.into_owned()));
                    }
                }
            }
        }
        Ok(Self(params))
    }

    fn string(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(value) => Some(value.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn required(&self, key: &str) -> Result<String, CkanError> {
        self.string(key)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| {
                CkanError::Validation(vec![(key.to_owned(), "Missing value".to_owned())])
            })
    }

    fn integer(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, CkanError> {
        let Some(raw) = self.string(key) else {
            return Ok(default);
        };
        let value: i64 = raw.trim().parse().map_err(|_| {
            CkanError::Validation(vec![(key.to_owned(), "Invalid integer".to_owned())])
        })?;
        if value < min {
            return Err(CkanError::Validation(vec![(
                key.to_owned(),
                format!("Must be at least {min}"),
            )]));
        }
        Ok(value.min(max))
    }

    fn boolean(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(value)) => *value,
            Some(Value::String(value)) => {
                matches!(value.to_lowercase().as_str(), "true" | "1" | "yes")
            }
            _ => false,
        }
    }

    /// A list given as a JSON array, as a string holding a JSON array (CKAN's GET convention), as a
    /// repeated query parameter, or as one bare value.
    fn list(&self, key: &str) -> Result<Vec<String>, CkanError> {
        let invalid = || {
            CkanError::Validation(vec![(
                key.to_owned(),
                "Must be a JSON list of strings".to_owned(),
            )])
        };
        let value = match self.0.get(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::String(text)) if text.trim_start().starts_with('[') => {
                serde_json::from_str(text).map_err(|_| invalid())?
            }
            Some(Value::String(text)) => Value::Array(vec![Value::String(text.clone())]),
            Some(other) => other.clone(),
        };
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect(),
            _ => Err(invalid()),
        }
    }
}

async fn action(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let help = format!("{}/api/3/action/help_show?name={name}", base(&state));
    let result = match Params::read(raw.as_deref(), &body) {
        Ok(params) => run(&state, &name, &params).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(result) => {
            Json(json!({"help": help, "success": true, "result": result})).into_response()
        }
        Err(error) => error_response(&help, error),
    }
}

async fn run(state: &AppState, name: &str, params: &Params) -> Result<Value, CkanError> {
    match name {
        "status_show" => Ok(status_show(state)),
        "package_search" => package_search(state, params).await,
        "package_show" => package_show(state, params).await,
        "package_list" => package_list(state, params).await,
        "organization_list" => organization_list(state, params).await,
        "organization_show" => organization_show(state, params).await,
        other => Err(CkanError::UnknownAction(other.to_owned())),
    }
}

fn error_response(help: &str, error: CkanError) -> Response {
    let (status, error) = match error {
        CkanError::NotFound => (
            StatusCode::NOT_FOUND,
            json!({"__type": "Not Found Error", "message": "Not found"}),
        ),
        CkanError::UnknownAction(name) => (
            StatusCode::BAD_REQUEST,
            json!({"__type": "Bad request - Action Error", "message": format!("Action name not known: {name}")}),
        ),
        CkanError::Validation(fields) => {
            let mut error = serde_json::Map::new();
            error.insert("__type".into(), json!("Validation Error"));
            for (field, message) in fields {
                error.insert(field, json!([message]));
            }
            (StatusCode::CONFLICT, Value::Object(error))
        }
        CkanError::SearchQuery(message) => (
            StatusCode::CONFLICT,
            json!({"__type": "Search Query Error", "message": format!("Search Query is invalid: {message}")}),
        ),
        CkanError::Internal(error) => {
            let status = crate::web::error::status(&error);
            crate::web::error::record(&error);
            tracing::error!(error = %crate::web::error::cause_chain(&error), %status, "CKAN action failed");
            (
                status,
                json!({"__type": "Internal Error", "message": crate::web::error::public_message(&error)}),
            )
        }
    };
    (
        status,
        Json(json!({"help": help, "success": false, "error": error})),
    )
        .into_response()
}

fn status_show(state: &AppState) -> Value {
    json!({
        "ckan_version": CKAN_VERSION,
        "site_title": "radportal",
        "site_description": "A catalog of AI-radiology data sources and governed access to controlled datasets.",
        "site_url": base(state),
        "locale_default": "en",
        "error_emails_to": null,
        "extensions": [],
    })
}

/// A CKAN facet field name → our facet. `tags` are the modalities, body parts and conditions; CKAN's
/// `license_id` is our licence.
fn facet_for(field: &str) -> Option<Facet> {
    match field {
        "organization" | "owner_org" => Some(Facet::Organization),
        "source_kind" => Some(Facet::SourceKind),
        "access_level" => Some(Facet::AccessLevel),
        "modality" | "tags" => Some(Facet::Modality),
        "body_part" => Some(Facet::BodyPart),
        "task" => Some(Facet::Task),
        "license_id" => Some(Facet::License),
        "duo" => Some(Facet::DataUse),
        _ => None,
    }
}

/// One `field:value` of an `fq`, with the value unquoted (`[a TO b]` kept as written).
#[derive(Debug)]
struct FqTerm {
    field: String,
    value: String,
}

/// Splits an `fq` into clauses that must all hold; a clause is one term, or terms joined by `OR`
/// (optionally in parentheses).
fn fq_clauses(fq: &str) -> Result<Vec<Vec<FqTerm>>, CkanError> {
    let invalid = |message: &str| CkanError::SearchQuery(format!("{message} in fq '{fq}'"));
    let mut clauses: Vec<Vec<FqTerm>> = Vec::new();
    let mut chars = fq.char_indices().peekable();
    let mut depth = 0;
    let mut joined_by_or = false;
    while let Some(&(start, c)) = chars.peek() {
        match c {
            ' ' | '+' => {
                chars.next();
            }
            '(' => {
                depth += 1;
                chars.next();
            }
            ')' => {
                if depth == 0 {
                    return Err(invalid("unbalanced parenthesis"));
                }
                depth -= 1;
                chars.next();
            }
            '-' | '!' => return Err(invalid("exclusions are not supported")),
            _ => {
                // A word: an operator or a field:value term.
                let rest = &fq[start..];
                if let Some(after) = rest.strip_prefix("OR ").or(rest.strip_prefix("|| ")) {
                    joined_by_or = true;
                    for _ in 0..rest.len() - after.len() {
                        chars.next();
                    }
                    continue;
                }
                if let Some(after) = rest.strip_prefix("AND ").or(rest.strip_prefix("&& ")) {
                    for _ in 0..rest.len() - after.len() {
                        chars.next();
                    }
                    continue;
                }
                let colon = rest
                    .find(':')
                    .ok_or_else(|| invalid("expected field:value"))?;
                let field = rest[..colon].trim().to_owned();
                let after = &rest[colon + 1..];
                let (value, used) = if let Some(quoted) = after.strip_prefix('"') {
                    let end = quoted
                        .find('"')
                        .ok_or_else(|| invalid("unterminated quote"))?;
                    (quoted[..end].to_owned(), colon + 1 + end + 2)
                } else if after.starts_with('[') {
                    let end = after
                        .find(']')
                        .ok_or_else(|| invalid("unterminated range"))?;
                    (after[..=end].to_owned(), colon + 1 + end + 1)
                } else {
                    let end = after.find([' ', ')']).unwrap_or(after.len());
                    (after[..end].to_owned(), colon + 1 + end)
                };
                for _ in rest[..used].chars() {
                    chars.next();
                }
                let term = FqTerm { field, value };
                match clauses.last_mut() {
                    Some(clause) if joined_by_or => clause.push(term),
                    _ => clauses.push(vec![term]),
                }
                joined_by_or = false;
            }
        }
    }
    if depth != 0 {
        return Err(invalid("unbalanced parenthesis"));
    }
    Ok(clauses)
}

/// Reads CKAN's Solr-style filter: `field:value` terms (values optionally quoted) joined by spaces or
/// `AND`; `OR` between terms of one field; parentheses; `metadata_modified:[<time> TO *]` as harvesters
/// send it. What this catalog cannot express (exclusions, `OR` across fields, two required values of one
/// field) is refused with a Search Query Error rather than answered wrongly.
fn parse_fq(fq: &str, query: &mut SearchQuery) -> Result<(), CkanError> {
    let mut used = std::collections::HashSet::new();
    for clause in fq_clauses(fq)? {
        let field = clause[0].field.as_str();
        if clause.iter().any(|term| term.field != field) {
            return Err(CkanError::SearchQuery(format!(
                "OR between different fields is not supported in fq '{fq}'"
            )));
        }
        if matches!(field, "dataset_type" | "state" | "capacity") {
            // CKAN clients often add these; every public dataset here is an active, public dataset.
            continue;
        }
        if field == "metadata_modified" {
            for term in &clause {
                query.modified_since = Some(parse_since(&term.value).ok_or_else(|| {
                    CkanError::SearchQuery(format!("cannot read the range {}", term.value))
                })?);
            }
            continue;
        }
        let facet = facet_for(field)
            .ok_or_else(|| CkanError::SearchQuery(format!("unknown field '{field}' in fq")))?;
        if !used.insert(facet) {
            return Err(CkanError::SearchQuery(format!(
                "two required values of '{field}' cannot both hold here; join them with OR"
            )));
        }
        for term in clause {
            let value = if facet == Facet::License && term.value == NOT_SPECIFIED {
                crate::catalog::search::NOT_STATED
            } else {
                term.value.as_str()
            };
            query
                .add_filter(facet, value)
                .map_err(|error| CkanError::SearchQuery(error.to_string()))?;
        }
    }
    Ok(())
}

/// `[2026-11-27T06:55:10.123456Z TO *]` → the start as Unix seconds.
fn parse_since(range: &str) -> Option<i64> {
    let inner = range.strip_prefix('[')?.strip_suffix(']')?;
    let (from, to) = inner.split_once(" TO ")?;
    if to.trim() != "*" {
        return None;
    }
    let from = from.trim().trim_end_matches('Z');
    let date_time = from.split('.').next()?;
    let parsed = time::PrimitiveDateTime::parse(
        date_time,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(parsed.assume_utc().unix_timestamp())
}

fn parse_sort(sort: Option<String>) -> Result<Sort, CkanError> {
    let Some(sort) = sort else {
        return Ok(Sort::Relevance);
    };
    let first = sort
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    match first.as_str() {
        "" | "score desc" | "rank desc" => Ok(Sort::Relevance),
        // Harvesters page by `id asc`; ids are slugs, in the same order as titles closely enough.
        "title_string asc" | "name asc" | "title asc" | "id asc" | "name_string asc" => {
            Ok(Sort::Title)
        }
        "metadata_modified desc" | "metadata_created desc" => Ok(Sort::Newest),
        other => Err(CkanError::SearchQuery(format!("cannot sort by '{other}'"))),
    }
}

async fn package_search(state: &AppState, params: &Params) -> Result<Value, CkanError> {
    let mut query = SearchQuery::default();
    if let Some(text) = params.string("q") {
        let text = text.trim();
        if !matches!(text, "" | "*:*" | "*") {
            query
                .set_text(text)
                .map_err(|error| CkanError::SearchQuery(error.message))?;
        }
    }
    if let Some(fq) = params.string("fq") {
        parse_fq(&fq, &mut query)?;
    }
    query.sort = parse_sort(params.string("sort"))?;
    query.per_page = params.integer("rows", DEFAULT_ROWS, 0, MAX_ROWS)?;
    query.start = Some(params.integer("start", 0, 0, i64::MAX / 2)?);
    let mut facet_fields = params.list("facet.field")?;
    // Each facet is counted once, and there are only so many.
    let mut seen = std::collections::HashSet::new();
    facet_fields.retain(|field| seen.insert(field.clone()));
    if facet_fields.len() > MAX_FACET_FIELDS {
        return Err(CkanError::Validation(vec![(
            "facet.field".to_owned(),
            format!("At most {MAX_FACET_FIELDS} facet fields"),
        )]));
    }
    let facet_limit = params.integer("facet.limit", DEFAULT_FACET_LIMIT, -1, MAX_FACET_LIMIT)?;
    let mut facets: Vec<Facet> = facet_fields.iter().filter_map(|f| facet_for(f)).collect();
    facets.dedup();

    // `rows=0` asks for the count and facets only.
    let rows = query.per_page;
    query.per_page = rows.max(1);
    let started = std::time::Instant::now();
    let results = search::search_with(
        &state.db,
        &state.search_index,
        &query,
        search::Extras {
            facets: &facets,
            snippets: false,
            disjunctive: false,
        },
    )
    .await?;
    crate::metrics::observe_search(started.elapsed());
    state.search_log.record(&query, &results);
    let slugs: Vec<String> = if rows == 0 {
        Vec::new()
    } else {
        results
            .hits
            .iter()
            .map(|hit| hit.dataset.slug.clone())
            .collect()
    };
    let datasets = db::find_datasets(&state.db, &slugs).await?;
    let base = base(state);
    let packages: Vec<Value> = datasets
        .iter()
        .map(|dataset| package(dataset, &base))
        .collect();

    let mut facets_out = serde_json::Map::new();
    let mut search_facets = serde_json::Map::new();
    for field in &facet_fields {
        let counted = facet_for(field)
            .and_then(|facet| results.facets.iter().find(|values| values.facet == facet));
        let mut items: Vec<(String, String, i64)> = counted
            .map(|values| {
                values
                    .values
                    .iter()
                    .map(|count| {
                        let label = count
                            .label
                            .clone()
                            .unwrap_or_else(|| values.facet.value_label(&count.value));
                        let name = if values.facet == Facet::License
                            && count.value == crate::catalog::search::NOT_STATED
                        {
                            NOT_SPECIFIED.to_owned()
                        } else {
                            count.value.clone()
                        };
                        (name, label, count.count)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if facet_limit >= 0 {
            items.truncate(facet_limit as usize);
        }
        facets_out.insert(
            field.clone(),
            Value::Object(
                items
                    .iter()
                    .map(|(name, _, count)| (name.clone(), json!(count)))
                    .collect(),
            ),
        );
        search_facets.insert(
            field.clone(),
            json!({
                "title": field,
                "items": items.iter().map(|(name, label, count)| json!({"name": name, "display_name": label, "count": count})).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(json!({
        "count": results.pagination.total,
        "sort": params.string("sort").unwrap_or_else(|| "score desc, metadata_modified desc".to_owned()),
        "facets": facets_out,
        "search_facets": search_facets,
        "results": packages,
    }))
}

async fn package_show(state: &AppState, params: &Params) -> Result<Value, CkanError> {
    let id = params.required("id")?;
    let dataset = db::find_dataset(&state.db, id.trim())
        .await?
        .filter(|dataset| dataset.status != DatasetStatus::Draft)
        .ok_or(CkanError::NotFound)?;
    Ok(package(&dataset, &base(state)))
}

async fn package_list(state: &AppState, params: &Params) -> Result<Value, CkanError> {
    let limit = params.integer("limit", i64::MAX / 2, 0, i64::MAX / 2)?;
    let offset = params.integer("offset", 0, 0, i64::MAX / 2)?;
    Ok(json!(db::published_slugs(&state.db, limit, offset).await?))
}

async fn organization_list(state: &AppState, params: &Params) -> Result<Value, CkanError> {
    let mut organizations = db::organizations::list(&state.db).await?;
    let sort = params
        .string("sort")
        .unwrap_or_else(|| "name asc".to_owned());
    match sort.trim() {
        "name asc" | "name" | "title asc" | "title" => {
            organizations.sort_by(|a, b| a.slug.cmp(&b.slug))
        }
        "package_count desc" | "package_count" => organizations.sort_by(|a, b| {
            b.dataset_count
                .cmp(&a.dataset_count)
                .then(a.slug.cmp(&b.slug))
        }),
        other => {
            return Err(CkanError::Validation(vec![(
                "sort".to_owned(),
                format!("cannot sort organizations by '{other}'"),
            )]));
        }
    }
    let limit = params.integer("limit", MAX_ORGANIZATIONS, 0, MAX_ORGANIZATIONS)? as usize;
    let offset = params.integer("offset", 0, 0, i64::MAX / 2)? as usize;
    let page = organizations.into_iter().skip(offset).take(limit);
    if params.boolean("all_fields") {
        let base = base(state);
        Ok(Value::Array(
            page.map(|org| organization(&org, &base)).collect(),
        ))
    } else {
        Ok(Value::Array(page.map(|org| json!(org.slug)).collect()))
    }
}

async fn organization_show(state: &AppState, params: &Params) -> Result<Value, CkanError> {
    let id = params.required("id")?;
    let found = db::organizations::find(&state.db, id.trim())
        .await?
        .ok_or(CkanError::NotFound)?;
    let base = base(state);
    let mut org = organization(&found, &base);
    if params.boolean("include_datasets") {
        let mut query = SearchQuery::default();
        query
            .add_filter(Facet::Organization, &found.slug)
            .map_err(|error| CkanError::SearchQuery(error.to_string()))?;
        query.per_page = MAX_ROWS;
        let results =
            search::search_with(&state.db, &state.search_index, &query, search::Extras::NONE)
                .await?;
        let slugs: Vec<String> = results
            .hits
            .iter()
            .map(|hit| hit.dataset.slug.clone())
            .collect();
        let datasets = db::find_datasets(&state.db, &slugs).await?;
        org["packages"] = Value::Array(
            datasets
                .iter()
                .map(|dataset| package(dataset, &base))
                .collect(),
        );
    }
    Ok(org)
}

/// CKAN's timestamp format: ISO 8601 in UTC without a zone, always with microseconds.
fn ckan_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
        ))
        .unwrap_or_default()
}

fn organization(org: &Organization, base: &str) -> Value {
    json!({
        "id": org.slug,
        "name": org.slug,
        "title": org.name,
        "display_name": org.name,
        "description": org.description,
        "type": "organization",
        "is_organization": true,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "package_count": org.dataset_count,
        "homepage": org.homepage,
        "url": format!("{base}/organizations/{}", org.slug),
    })
}

/// A dataset as a CKAN package dictionary.
fn package(dataset: &Dataset, base: &str) -> Value {
    let fields = &dataset.fields;
    // Tags are the modalities, as `fq=tags:CT` filters them; anatomy and conditions are extras.
    let tags: Vec<Value> = fields
        .modalities
        .iter()
        .map(|tag| json!({"name": tag, "display_name": tag, "state": "active", "vocabulary_id": null}))
        .collect();
    let mut resources = Vec::new();
    for (position, url) in fields
        .landing_url
        .iter()
        .chain(&fields.alt_urls)
        .enumerate()
    {
        resources.push(json!({
            "id": format!("{}-{position}", fields.slug),
            "package_id": fields.slug,
            "name": if position == 0 { "Landing page".to_owned() } else { format!("Mirror {position}") },
            "url": url,
            "format": "HTML",
            "resource_type": "documentation",
            "position": position,
            "state": "active",
        }));
    }
    let mut extras = vec![
        ("source_kind", json!(fields.source_kind)),
        ("access_level", json!(fields.access_level)),
        ("doi", json!(fields.doi)),
        ("subject_count", json!(fields.subject_count)),
        ("image_count", json!(fields.image_count)),
        ("study_count", json!(fields.study_count)),
        ("year", json!(fields.year)),
        ("modalities", json!(fields.modalities.join(", "))),
        ("body_parts", json!(fields.body_parts.join(", "))),
        ("conditions", json!(fields.conditions.join(", "))),
        (
            "data_use_limitations",
            json!(fields.data_use_limitations.join(", ")),
        ),
    ];
    extras.retain(|(_, value)| !value.is_null() && value != "");
    let extras: Vec<Value> = extras
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            json!({"key": key, "value": value})
        })
        .collect();
    let notes = if fields.description.is_empty() {
        fields.summary.clone()
    } else {
        fields.description.clone()
    };
    let org = json!({
        "id": fields.organization_slug,
        "name": fields.organization_slug,
        "title": dataset.organization_name,
        "type": "organization",
        "is_organization": true,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "description": "",
    });
    json!({
        "id": fields.slug,
        "name": fields.slug,
        "title": fields.title,
        "notes": notes,
        "url": fields.landing_url,
        "type": "dataset",
        "state": if dataset.status == DatasetStatus::Retired { "deleted" } else { "active" },
        "private": false,
        "isopen": fields.access_level == Some(crate::catalog::model::AccessLevel::Open),
        "license_id": fields.license.clone().unwrap_or_else(|| NOT_SPECIFIED.to_owned()),
        "license_title": fields.license.clone().unwrap_or_else(|| "License not specified".to_owned()),
        "version": null,
        "author": dataset.organization_name,
        "author_email": null,
        "maintainer": null,
        "maintainer_email": null,
        "metadata_created": ckan_time(dataset.created_at),
        "metadata_modified": ckan_time(dataset.updated_at),
        "owner_org": fields.organization_slug,
        "organization": org,
        "num_tags": tags.len(),
        "tags": tags,
        "groups": [],
        "num_resources": resources.len(),
        "resources": resources,
        "extras": extras,
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "ckan_url": format!("{base}/datasets/{}", fields.slug),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fq_reads_fields_quotes_and_and() {
        let mut query = SearchQuery::default();
        parse_fq(
            r#"organization:tcia AND modality:"CT" +access_level:open dataset_type:dataset"#,
            &mut query,
        )
        .ok()
        .unwrap();
        assert_eq!(query.selected(Facet::Organization), ["tcia"]);
        assert_eq!(query.selected(Facet::Modality), ["CT"]);
        assert_eq!(query.selected(Facet::AccessLevel), ["open"]);
    }

    #[test]
    fn fq_reads_what_harvesters_send() {
        let mut query = SearchQuery::default();
        parse_fq(
            "(organization:tcia OR organization:rsna) metadata_modified:[2026-11-27T06:55:10.123456Z TO *]",
            &mut query,
        )
        .ok()
        .unwrap();
        assert_eq!(query.selected(Facet::Organization), ["tcia", "rsna"]);
        assert_eq!(query.modified_since, Some(1_795_762_510));
        let mut query = SearchQuery::default();
        assert!(matches!(
            parse_fq("organization:tcia OR tags:CT", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
        assert!(matches!(
            parse_fq("tags:CT tags:MR", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
        assert!(matches!(
            parse_fq("-organization:tcia", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
    }

    #[test]
    fn fq_refuses_unknown_fields_and_bad_values() {
        let mut query = SearchQuery::default();
        assert!(matches!(
            parse_fq("colour:blue", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
        assert!(matches!(
            parse_fq("access_level:free", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
        assert!(matches!(
            parse_fq("modality:\"CT", &mut query),
            Err(CkanError::SearchQuery(_))
        ));
    }

    #[test]
    fn sorts_map_to_ours() {
        assert_eq!(parse_sort(None).ok(), Some(Sort::Relevance));
        assert_eq!(
            parse_sort(Some("title_string asc".into())).ok(),
            Some(Sort::Title)
        );
        assert_eq!(
            parse_sort(Some("metadata_modified desc".into())).ok(),
            Some(Sort::Newest)
        );
        assert!(parse_sort(Some("colour asc".into())).is_err());
    }
}
