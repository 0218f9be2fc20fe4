//! Catalog search: the query a researcher builds from text, filters, sort and page — all of it in the URL —
//! and its translation into SQL: one query for a page of results, one per facet for the live counts.
//!
//! Text is matched in three steps, each tried only when the one before finds nothing: every word
//! (`websearch_to_tsquery`), any word, then names that look alike (`pg_trgm` word similarity), so a typo
//! such as "chexpret" still finds CheXpert.

use std::collections::HashMap;
use std::fmt::Write as _;

use sqlx::{PgPool, Postgres, QueryBuilder};

use super::duo;
use super::index::{CatalogIndex, IndexHandle, TextHit};
use super::model::{AccessLevel, DatasetSummary, SourceKind, modality_name};
use super::textindex::TsQuery;
use crate::web::pagination::{MAX_PAGE, PER_PAGE, Pagination};

/// Longest text query accepted.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most values accepted for one filter.
pub const MAX_FILTER_VALUES: usize = 20;
/// Most results on one page.
pub const MAX_PER_PAGE: i64 = 100;
/// The value standing for "not stated" in the access and licence filters.
pub const NOT_STATED: &str = "unknown";

/// Marks the start and end of a highlighted word in a snippet (replaced by `<mark>` after escaping).
const MARK_START: char = '\u{2}';
const MARK_END: char = '\u{3}';

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
            Self::BodyPart | Self::Task => capitalise(value),
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

    /// The text as searched: British spellings in American form, as the catalog's sources write them.
    pub fn search_text(&self) -> String {
        american_spelling(&self.text)
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

/// British spellings common in imaging, mapped to the American ones the catalog's sources use.
const SPELLINGS: &[(&str, &str)] = &[
    ("tumour", "tumor"),
    ("haemorrhage", "hemorrhage"),
    ("haemorrhagic", "hemorrhagic"),
    ("paediatric", "pediatric"),
    ("oesophagus", "esophagus"),
    ("oesophageal", "esophageal"),
    ("oedema", "edema"),
    ("anaemia", "anemia"),
    ("haematoma", "hematoma"),
    ("leukaemia", "leukemia"),
    ("oestrogen", "estrogen"),
    ("foetal", "fetal"),
    ("foetus", "fetus"),
    ("localisation", "localization"),
    ("segmentations", "segmentation"),
];

/// Rewrites British spellings word by word (keeping `-`, quotes and case of other words).
fn american_spelling(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let lower = word.to_lowercase();
            SPELLINGS
                .iter()
                .find_map(|(british, american)| {
                    let stem = lower.trim_matches(|c: char| !c.is_alphanumeric());
                    let plural = stem.strip_suffix('s');
                    (stem == *british || plural == Some(*british))
                        .then(|| lower.replace(british, american))
                })
                .unwrap_or_else(|| word.to_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalise(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How the text of a search was matched, as the page explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextMatch {
    /// Every word (the query's own logic: quotes, `-`, `or`), or a name or DOI that matches the text.
    All,
    /// Few datasets had every word: those come first, then datasets with some of the words.
    Any,
    /// No dataset had the words; these have names that look alike.
    Similar,
}

/// Which datasets a text query selects (the words, joined by AND or by OR; look-alike names and DOIs
/// are always included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WordLogic {
    All,
    Any,
}

/// Below this many results for all words, a query of several words also shows partial matches.
const RELAX_BELOW: i64 = 10;

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

/// One found dataset, with the passage that matched when there was text.
#[derive(Clone, Debug)]
pub struct Hit {
    pub dataset: DatasetSummary,
    /// Matched text with the matching words between [`MARK_START`] and [`MARK_END`].
    pub snippet: Option<String>,
}

impl Hit {
    /// The snippet as HTML: everything escaped, matching words in `<mark>`.
    pub fn snippet_html(&self) -> Option<String> {
        self.snippet.as_deref().map(highlight_html)
    }
}

/// One page of results with the total and the facet counts.
#[derive(Clone, Debug)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub pagination: Pagination,
    pub facets: Vec<FacetValues>,
    /// How the text matched; `None` without text.
    pub text_match: Option<TextMatch>,
    /// With [`TextMatch::Any`]: how many datasets have every word.
    pub all_words_total: i64,
}

impl SearchResults {
    /// For a result found by look-alike names: the closest name, to offer as "did you mean".
    pub fn suggestion(&self) -> Option<&str> {
        match self.text_match {
            Some(TextMatch::Similar) => self.hits.first().map(|hit| hit.dataset.title.as_str()),
            _ => None,
        }
    }
}

/// What a search computes besides the page of results.
#[derive(Clone, Copy, Debug)]
pub struct Extras<'a> {
    /// Facets to count.
    pub facets: &'a [Facet],
    /// Whether to fetch highlighted snippets.
    pub snippets: bool,
    /// Whether a facet's counts ignore the facet's own filter (so that its other values show how many
    /// datasets choosing them would add), rather than counting within the filtered result (as Solr does).
    pub disjunctive: bool,
}

impl Extras<'static> {
    /// Everything: every facet and the snippets, as the search page shows them.
    pub const ALL: Self = Self {
        facets: &Facet::ALL,
        snippets: true,
        disjunctive: true,
    };
    /// Only the results (exports, lists).
    pub const NONE: Self = Self {
        facets: &[],
        snippets: false,
        disjunctive: true,
    };
}

/// Runs a search: the page of results and every facet's counts.
pub async fn search(
    db: &PgPool,
    index: &IndexHandle,
    query: &SearchQuery,
) -> sqlx::Result<SearchResults> {
    search_with(db, index, query, Extras::ALL).await
}

/// Runs a search, computing only the given extras. The catalog version is read from the database on
/// every search, so a search always sees every committed change.
///
/// PostgreSQL matches the text (when there is any) and ranks it; the in-memory index applies the
/// filters, counts the facets, sorts and cuts the page; PostgreSQL then supplies the page's rows.
pub async fn search_with(
    db: &PgPool,
    index: &IndexHandle,
    query: &SearchQuery,
    extras: Extras<'_>,
) -> sqlx::Result<SearchResults> {
    let index = index.current(db).await?;
    let mut logic = None;
    let mut all_words_total = 0;
    let evaluation = if query.text.is_empty() {
        index.evaluate(query, None, extras.facets, extras.disjunctive)
    } else {
        let parsed = parse_text(db, query).await?;
        let doi = doi_in(&query.text);
        let mut hits = index.text_hits(parsed.as_ref(), false, &query.text, doi.as_deref());
        if query.text.contains('"') && parsed.as_ref().is_some_and(TsQuery::has_phrase) {
            hits = keep_exact_phrases(db, &index, query, hits).await?;
        }
        let strict = index.evaluate(query, Some(&hits), extras.facets, extras.disjunctive);
        logic = Some(WordLogic::All);
        all_words_total = strict.word_matches;
        if strict.word_matches >= RELAX_BELOW {
            strict
        } else {
            // Few datasets have every word: add those with some of them, and look-alike names.
            let relax = relaxable(&query.text) && parsed.is_some();
            let mut widened = match (&parsed, relax) {
                (Some(parsed), true) => {
                    index.text_hits(Some(&parsed.relaxed()), true, &query.text, doi.as_deref())
                }
                _ => hits,
            };
            let positions: HashMap<u32, usize> = widened
                .iter()
                .enumerate()
                .map(|(position, hit)| (hit.row, position))
                .collect();
            for (id, similarity) in similar_names(db, query).await? {
                let Some(similar) = index.hit_for_id(id, similarity) else {
                    continue;
                };
                match positions.get(&similar.row) {
                    Some(position) => widened[*position].score += similarity,
                    None => widened.push(similar),
                }
            }
            let wide = index.evaluate(query, Some(&widened), extras.facets, extras.disjunctive);
            if wide.total > strict.total {
                if relax {
                    logic = Some(WordLogic::Any);
                }
                wide
            } else {
                strict
            }
        }
    };
    if logic == Some(WordLogic::All) {
        all_words_total = evaluation.word_matches;
    }
    let text_match = logic.map(|logic| match logic {
        _ if evaluation.total > 0 && evaluation.word_matches == 0 => TextMatch::Similar,
        WordLogic::All => TextMatch::All,
        WordLogic::Any => TextMatch::Any,
    });
    let items = super::db::summaries_by_ids(db, &evaluation.page).await?;
    let mut snippets = match logic {
        Some(logic) if extras.snippets && !items.is_empty() => {
            fetch_snippets(db, query, logic, &items).await?
        }
        _ => HashMap::new(),
    };
    let hits = items
        .into_iter()
        .map(|dataset| Hit {
            snippet: snippets.remove(&dataset.slug),
            dataset,
        })
        .collect();
    Ok(SearchResults {
        hits,
        pagination: Pagination::new(query.page, query.per_page, evaluation.total),
        facets: evaluation.facets,
        text_match,
        all_words_total,
    })
}

/// Whether "any word" is a meaningful relaxation: several words and no exclusions or alternatives.
fn relaxable(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.len() > 1
        && !words
            .iter()
            .any(|word| word.starts_with('-') || word.eq_ignore_ascii_case("or"))
}

/// The DOI a query names, if it is one: `10.7937/…`, `doi:10.…` or a resolver URL.
fn doi_in(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let doi = [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "doi:",
    ]
    .iter()
    .find_map(|prefix| lower.strip_prefix(prefix))
    .unwrap_or(&lower);
    super::validate::is_doi(doi).then(|| doi.to_owned())
}

/// The tsquery for the search text under a word logic, with the text bound.
fn push_tsquery(builder: &mut QueryBuilder<'_, Postgres>, query: &SearchQuery, logic: WordLogic) {
    let text = query.search_text();
    match logic {
        WordLogic::Any => builder
            .push("replace(websearch_to_tsquery('english', ")
            .push_bind(text)
            .push(")::text, ' & ', ' | ')::tsquery"),
        WordLogic::All => builder
            .push("websearch_to_tsquery('english', ")
            .push_bind(text)
            .push(")"),
    };
}

/// PostgreSQL's reading of the text: stop words dropped, words stemmed, web-search syntax applied.
async fn parse_text(db: &PgPool, query: &SearchQuery) -> sqlx::Result<Option<TsQuery>> {
    let text: String = sqlx::query_scalar("select websearch_to_tsquery('english', $1)::text")
        .bind(query.search_text())
        .fetch_one(db)
        .await?;
    Ok(TsQuery::parse(&text))
}

/// Most candidates whose quoted phrases are checked word order by word order in PostgreSQL.
const MAX_PHRASE_CHECKS: usize = 5000;

/// Keeps the hits whose document has the quoted phrases in order (the index matched their words).
async fn keep_exact_phrases(
    db: &PgPool,
    index: &CatalogIndex,
    query: &SearchQuery,
    hits: Vec<TextHit>,
) -> sqlx::Result<Vec<TextHit>> {
    if hits.len() > MAX_PHRASE_CHECKS {
        return Ok(hits);
    }
    let ids: Vec<i64> = hits.iter().map(|hit| index.row_id(hit.row)).collect();
    let exact: std::collections::HashSet<i64> = sqlx::query_scalar(
        "select id from datasets where id = any($1) and search_vector @@ websearch_to_tsquery('english', $2)",
    )
    .bind(&ids)
    .bind(query.search_text())
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    Ok(hits
        .into_iter()
        .filter(|hit| exact.contains(&index.row_id(hit.row)) || hit.score >= 5.0)
        .collect())
}

/// Published datasets whose names look like the text (`pg_trgm` word similarity), with the similarity.
async fn similar_names(db: &PgPool, query: &SearchQuery) -> sqlx::Result<Vec<(i64, f32)>> {
    sqlx::query_as(
        "select id, word_similarity($1, search_names)::real as similarity from datasets
         where status = 'published' and $1 <% search_names
         order by similarity desc, id limit 200",
    )
    .bind(query.text.to_lowercase())
    .fetch_all(db)
    .await
}

/// The passage of each shown dataset that matched, with the matching words marked.
async fn fetch_snippets(
    db: &PgPool,
    query: &SearchQuery,
    logic: WordLogic,
    items: &[DatasetSummary],
) -> sqlx::Result<HashMap<String, String>> {
    let slugs: Vec<String> = items.iter().map(|item| item.slug.clone()).collect();
    let mut builder = QueryBuilder::new("select slug, ts_headline('english', ");
    builder.push(
        "translate(d.summary || ' ' || d.description || ' ' || array_to_string(d.tasks, '; '), \
         E'\\x02\\x03', ''), ",
    );
    push_tsquery(&mut builder, query, logic);
    builder
        .push(
            ", 'StartSel=\u{2}, StopSel=\u{3}, MaxWords=40, MinWords=15, MaxFragments=2, \
             FragmentDelimiter=\" … \"') from datasets d where d.slug = any(",
        )
        .push_bind(slugs)
        .push(")");
    let rows: Vec<(String, String)> = builder.build_query_as().fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, snippet)| snippet.contains(MARK_START))
        .collect())
}

/// Escapes a snippet for HTML and turns its marks into `<mark>` elements.
pub fn highlight_html(snippet: &str) -> String {
    let mut html = String::with_capacity(snippet.len() + 32);
    for c in snippet.chars() {
        match c {
            MARK_START => html.push_str("<mark>"),
            MARK_END => html.push_str("</mark>"),
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            other => html.push(other),
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_filters_and_round_trips() {
        let query = SearchQuery::parse(Some(
            "q=lung+nodule&modality=CT&modality=mr&access=open&access=unknown&kind=imaging_archive&org=tcia&duo=GRU&sort=subjects&page=2",
        ))
        .unwrap();
        assert_eq!(query.text, "lung nodule");
        assert_eq!(query.selected(Facet::Modality), ["CT", "MR"]);
        assert_eq!(query.selected(Facet::AccessLevel), ["open", "unknown"]);
        assert_eq!(query.selected(Facet::SourceKind), ["imaging_archive"]);
        assert_eq!(query.selected(Facet::DataUse), ["DUO:0000042"]);
        assert_eq!(query.sort, Sort::Subjects);
        assert_eq!(query.page, 2);
        let again = SearchQuery::parse(Some(&query.to_query_string())).unwrap();
        for facet in Facet::ALL {
            assert_eq!(again.selected(facet), query.selected(facet));
        }
        assert_eq!(
            (again.text, again.sort, again.page),
            (query.text, query.sort, query.page)
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (raw, parameter) in [
            ("kind=spaceship", "kind"),
            ("access=free", "access"),
            ("duo=GRU-CC", "duo"),
            ("page=0", "page"),
            ("page=abc", "page"),
            ("page=100000", "page"),
            ("per_page=1000", "per_page"),
            ("sort=random", "sort"),
            ("q=a%01b", "q"),
        ] {
            let error = SearchQuery::parse(Some(raw)).unwrap_err();
            assert_eq!(error.parameter, parameter, "{raw}");
        }
        let long = format!("q={}", "a".repeat(MAX_QUERY_CHARS + 1));
        assert_eq!(SearchQuery::parse(Some(&long)).unwrap_err().parameter, "q");
    }

    #[test]
    fn blank_and_unknown_parameters_are_ignored() {
        let query = SearchQuery::parse(Some("q=&modality=&kind=&utm_source=mail")).unwrap();
        assert_eq!(query, SearchQuery::default());
    }

    #[test]
    fn toggling_adds_and_removes_and_resets_the_page() {
        let query = SearchQuery::parse(Some("modality=CT&page=3")).unwrap();
        let more = query.toggled(Facet::Modality, "MR");
        assert_eq!(more.selected(Facet::Modality), ["CT", "MR"]);
        assert_eq!(more.page, 1);
        let fewer = more.toggled(Facet::Modality, "CT");
        assert_eq!(fewer.href(), "/datasets?modality=MR");
        assert_eq!(fewer.toggled(Facet::Modality, "MR").href(), "/datasets");
    }

    #[test]
    fn relevance_falls_back_to_title_without_text() {
        assert_eq!(SearchQuery::default().effective_sort(), Sort::Title);
    }

    #[test]
    fn snippets_are_escaped_before_marking() {
        let snippet = format!("<b>lung</b> {MARK_START}nodule{MARK_END} & more");
        assert_eq!(
            highlight_html(&snippet),
            "&lt;b&gt;lung&lt;/b&gt; <mark>nodule</mark> &amp; more"
        );
    }

    #[test]
    fn british_spellings_are_searched_in_american_form() {
        assert_eq!(american_spelling("brain tumour MRI"), "brain tumor MRI");
        assert_eq!(american_spelling("Paediatric tumours"), "pediatric tumors");
        assert_eq!(
            american_spelling("\"intracranial haemorrhage\" -CT"),
            "\"intracranial hemorrhage\" -CT"
        );
    }

    #[test]
    fn only_several_words_without_exclusions_are_relaxed() {
        assert!(relaxable("lung nodule ct"));
        assert!(!relaxable("lung"));
        assert!(!relaxable("lung -ct"));
        assert!(!relaxable("lung or liver"));
    }

    #[test]
    fn dois_are_recognised_with_or_without_a_resolver() {
        assert_eq!(
            doi_in("10.7937/K9/TCIA.2015.LO9QL9SX").as_deref(),
            Some("10.7937/k9/tcia.2015.lo9ql9sx")
        );
        assert_eq!(
            doi_in("https://doi.org/10.7937/tcia.2019.8kap372n").as_deref(),
            Some("10.7937/tcia.2019.8kap372n")
        );
        assert_eq!(
            doi_in("doi:10.13026/8360-t248").as_deref(),
            Some("10.13026/8360-t248")
        );
        assert_eq!(doi_in("lung nodule"), None);
    }
}
