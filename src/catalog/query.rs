//! The query a researcher builds from text, filters, sort and page — all of it in the URL — parsed and
//! bounded, and the facet values that come back with the results.

use std::fmt::Write as _;

use super::duo;
use super::model::{AccessLevel, SourceKind, modality_name};
use super::vocabulary::{ConceptKind, Vocabulary};
use crate::pagination::{MAX_PAGE, PER_PAGE};

/// Longest text query accepted.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most values accepted for one filter.
pub const MAX_FILTER_VALUES: usize = 20;
/// Most results on one page.
pub const MAX_PER_PAGE: i64 = 100;
/// The value standing for "not stated" in the access and licence filters.
pub const NOT_STATED: &str = "unknown";

/// A filterable dimension of the catalog, each with a URL parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Facet {
    Organization,
    SourceKind,
    AccessLevel,
    Modality,
    BodyPart,
    Task,
    License,
    DataUse,
}

impl Facet {
    /// In the order the search page shows them.
    pub const ALL: [Self; 8] = [
        Self::AccessLevel,
        Self::Modality,
        Self::BodyPart,
        Self::Task,
        Self::SourceKind,
        Self::Organization,
        Self::License,
        Self::DataUse,
    ];

    /// The URL query parameter.
    pub fn param(self) -> &'static str {
        match self {
            Self::Organization => "org",
            Self::SourceKind => "kind",
            Self::AccessLevel => "access",
            Self::Modality => "modality",
            Self::BodyPart => "body_part",
            Self::Task => "task",
            Self::License => "license",
            Self::DataUse => "duo",
        }
    }

    pub fn parse(param: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|facet| facet.param() == param)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Organization => "Organization",
            Self::SourceKind => "Source kind",
            Self::AccessLevel => "Access",
            Self::Modality => "Modality",
            Self::BodyPart => "Body part",
            Self::Task => "Task",
            Self::License => "Licence",
            Self::DataUse => "Data-use limitation",
        }
    }

    /// How a stored value is shown.
    pub fn value_label(self, value: &str) -> String {
        match self {
            Self::SourceKind => SourceKind::parse(value)
                .map(|kind| kind.label().to_owned())
                .unwrap_or_else(|| value.to_owned()),
            Self::AccessLevel => match AccessLevel::parse(value) {
                Some(level) => level.label().to_owned(),
                None => "Not stated".to_owned(),
            },
            Self::Modality => match modality_name(value) {
                Some(name) => format!("{value} — {name}"),
                None => value.to_owned(),
            },
            Self::BodyPart | Self::Task => {
                let kind = if self == Self::BodyPart {
                    ConceptKind::Anatomy
                } else {
                    ConceptKind::Task
                };
                let vocabulary = Vocabulary::builtin();
                vocabulary
                    .by_key(kind, value)
                    .map_or_else(|| capitalise(value), |c| vocabulary.concept(c).name.clone())
            }
            Self::License if value == NOT_STATED => "Not stated".to_owned(),
            Self::DataUse => {
                duo::find(value).map_or_else(|| value.to_owned(), duo::DuoTerm::display)
            }
            Self::License | Self::Organization => value.to_owned(),
        }
    }

    /// Normalises a value from the URL, or says why it cannot be used.
    fn parse_value(self, value: &str) -> Result<String, String> {
        match self {
            Self::Organization | Self::BodyPart | Self::Task => Ok(value.to_lowercase()),
            Self::Modality => Ok(value.to_uppercase()),
            Self::License => Ok(value.to_owned()),
            Self::SourceKind => SourceKind::parse(value)
                .map(|kind| kind.as_str().to_owned())
                .ok_or_else(|| format!("'{value}' is not a source kind")),
            Self::AccessLevel => match AccessLevel::parse(value) {
                Some(level) => Ok(level.as_str().to_owned()),
                None if value == NOT_STATED => Ok(NOT_STATED.to_owned()),
                None => Err(format!(
                    "'{value}' is not an access level (open, registration, credentialed, controlled, unknown)"
                )),
            },
            Self::DataUse => duo::find_usable(value)
                .map(|term| term.id.clone())
                .ok_or_else(|| format!("'{value}' is not a current DUO permission or modifier")),
        }
    }
}

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (only with a text query; otherwise by title).
    #[default]
    Relevance,
    Title,
    /// Most subjects first.
    Subjects,
    /// Most recently updated upstream first.
    Newest,
}

impl Sort {
    pub const ALL: [Self; 4] = [Self::Relevance, Self::Title, Self::Subjects, Self::Newest];

    pub fn param(self) -> &'static str {
        match self {
            Self::Relevance => "relevance",
            Self::Title => "title",
            Self::Subjects => "subjects",
            Self::Newest => "newest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Relevance => "Relevance",
            Self::Title => "Title (A–Z)",
            Self::Subjects => "Most subjects",
            Self::Newest => "Recently updated",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.param() == value)
    }
}

/// A search as the URL states it. Build with [`SearchQuery::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    /// Selected values per facet, in their URL form, in the order they were chosen.
    pub filters: Vec<(Facet, Vec<String>)>,
    pub sort: Sort,
    pub page: i64,
    pub per_page: i64,
    /// An explicit offset (the CKAN API's `start`), overriding the page.
    pub start: Option<i64>,
    /// Only datasets changed in this catalog at or after this time (Unix seconds; the CKAN API's
    /// `metadata_modified` range).
    pub modified_since: Option<i64>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            text: String::new(),
            filters: Vec::new(),
            sort: Sort::default(),
            page: 1,
            per_page: PER_PAGE,
            start: None,
            modified_since: None,
        }
    }
}

/// A query parameter that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("parameter '{parameter}': {message}")]
pub struct ParamError {
    pub parameter: String,
    pub message: String,
}

impl ParamError {
    pub fn new(parameter: &str, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

impl SearchQuery {
    /// Reads a search from a URL query string. Unknown parameters are ignored; bad values are errors.
    pub fn parse(raw_query: Option<&str>) -> Result<Self, ParamError> {
        let mut query = Self::default();
        let pairs = url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes());
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                // `modality=` from an untouched form control means "no filter".
                continue;
            }
            match key.as_ref() {
                "q" => query.set_text(value)?,
                "sort" => {
                    query.sort = Sort::parse(value).ok_or_else(|| {
                        ParamError::new("sort", "must be one of relevance, title, subjects, newest")
                    })?;
                }
                "page" => query.page = parse_number("page", value, 1, MAX_PAGE)?,
                "per_page" => query.per_page = parse_number("per_page", value, 1, MAX_PER_PAGE)?,
                other => {
                    if let Some(facet) = Facet::parse(other) {
                        query.add_filter(facet, value)?;
                    }
                }
            }
        }
        Ok(query)
    }

    /// Sets the search text, checking its length and content.
    pub fn set_text(&mut self, text: &str) -> Result<(), ParamError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(ParamError::new(
                "q",
                format!("the search text is limited to {MAX_QUERY_CHARS} characters"),
            ));
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(ParamError::new(
                "q",
                "the search text contains control characters",
            ));
        }
        self.text = text.trim().to_owned();
        Ok(())
    }

    /// Adds a value to a facet's filter (ignoring repeats).
    pub fn add_filter(&mut self, facet: Facet, value: &str) -> Result<(), ParamError> {
        let value = facet
            .parse_value(value)
            .map_err(|message| ParamError::new(facet.param(), message))?;
        let values = match self.filters.iter_mut().find(|(f, _)| *f == facet) {
            Some((_, values)) => values,
            None => {
                self.filters.push((facet, Vec::new()));
                &mut self.filters.last_mut().expect("just pushed").1
            }
        };
        if values.contains(&value) {
            return Ok(());
        }
        if values.len() >= MAX_FILTER_VALUES {
            return Err(ParamError::new(
                facet.param(),
                format!("at most {MAX_FILTER_VALUES} values may be selected"),
            ));
        }
        values.push(value);
        Ok(())
    }

    /// The sort in effect: relevance needs text to rank by.
    pub fn effective_sort(&self) -> Sort {
        match (self.sort, self.text.is_empty()) {
            (Sort::Relevance, true) => Sort::Title,
            (sort, _) => sort,
        }
    }

    /// The values selected for a facet, in their URL form.
    pub fn selected(&self, facet: Facet) -> &[String] {
        self.filters
            .iter()
            .find(|(f, _)| *f == facet)
            .map_or(&[], |(_, values)| values.as_slice())
    }

    pub fn is_selected(&self, facet: Facet, value: &str) -> bool {
        self.selected(facet)
            .iter()
            .any(|selected| selected == value)
    }

    pub fn has_filters(&self) -> bool {
        self.filters.iter().any(|(_, values)| !values.is_empty())
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        self.start.unwrap_or((self.page - 1) * self.per_page)
    }

    /// The URL query string for this search (defaults are left out).
    pub fn to_query_string(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if !self.text.is_empty() {
            out.append_pair("q", &self.text);
        }
        for facet in Facet::ALL {
            for value in self.selected(facet) {
                out.append_pair(facet.param(), value);
            }
        }
        if self.sort != Sort::default() {
            out.append_pair("sort", self.sort.param());
        }
        if self.per_page != PER_PAGE {
            out.append_pair("per_page", &self.per_page.to_string());
        }
        if self.page > 1 {
            out.append_pair("page", &self.page.to_string());
        }
        out.finish()
    }

    /// `{path}?…` for this search.
    pub fn href_at(&self, path: &str) -> String {
        let query = self.to_query_string();
        let mut href = path.to_owned();
        if !query.is_empty() {
            let _ = write!(href, "?{query}");
        }
        href
    }

    /// `/datasets?…` for this search.
    pub fn href(&self) -> String {
        self.href_at("/datasets")
    }

    /// The same search on another page.
    pub fn with_page(&self, page: i64) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }

    /// The same search with `value` added to or removed from a facet, back on page 1.
    pub fn toggled(&self, facet: Facet, value: &str) -> Self {
        let mut next = Self {
            page: 1,
            ..self.clone()
        };
        match next.filters.iter_mut().find(|(f, _)| *f == facet) {
            Some((_, values)) => match values.iter().position(|v| v == value) {
                Some(index) => {
                    values.remove(index);
                }
                None => values.push(value.to_owned()),
            },
            None => next.filters.push((facet, vec![value.to_owned()])),
        }
        next.filters.retain(|(_, values)| !values.is_empty());
        next
    }

    /// The same search with another sort order, back on page 1.
    pub fn sorted_by(&self, sort: Sort) -> Self {
        Self {
            sort,
            page: 1,
            ..self.clone()
        }
    }

    /// The same filters with other text, back on page 1.
    pub fn with_text(&self, text: &str) -> Self {
        Self {
            text: text.to_owned(),
            page: 1,
            ..self.clone()
        }
    }
}

fn parse_number(parameter: &str, value: &str, min: i64, max: i64) -> Result<i64, ParamError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| {
            ParamError::new(
                parameter,
                format!("must be a whole number from {min} to {max}"),
            )
        })
}

fn capitalise(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One value of a facet with the number of matching datasets.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FacetCount {
    pub value: String,
    pub label: Option<String>,
    pub count: i64,
}

/// A facet's values with their counts.
#[derive(Clone, Debug)]
pub struct FacetValues {
    pub facet: Facet,
    pub values: Vec<FacetCount>,
}
