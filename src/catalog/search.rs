//! Catalog search: the query a researcher builds from text, filters, sort and page — all of it in the URL —
//! and its translation into SQL: one query for a page of results, one per facet for the live counts.
//!
//! Text is matched in three steps, each tried only when the one before finds nothing: every word
//! (`websearch_to_tsquery`), any word, then names that look alike (`pg_trgm` word similarity), so a typo
//! such as "chexpret" still finds CheXpert.

use std::collections::HashMap;

use sqlx::PgPool;

use super::index::{CatalogIndex, DOI_MATCH_SCORE, IndexHandle, TextHit};
use super::model::DatasetSummary;
pub use super::query::{
    Facet, FacetCount, FacetValues, MAX_FILTER_VALUES, MAX_PER_PAGE, MAX_QUERY_CHARS, NOT_STATED,
    ParamError, SearchQuery, Sort,
};
use super::textindex::TsQuery;
use crate::pagination::Pagination;

/// Marks the start and end of a highlighted word in a snippet (replaced by `<mark>` after escaping).
const MARK_START: char = '\u{2}';
const MARK_END: char = '\u{3}';

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

/// PostgreSQL's reading of the text: stop words dropped, words stemmed, web-search syntax applied.
async fn parse_text(db: &PgPool, query: &SearchQuery) -> sqlx::Result<Option<TsQuery>> {
    let text = sqlx::query_scalar!(
        r#"select websearch_to_tsquery('english', $1)::text as "query!""#,
        query.search_text(),
    )
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
    let exact: std::collections::HashSet<i64> = sqlx::query_scalar!(
        "select id from datasets
         where id = any($1) and search_vector @@ websearch_to_tsquery('english', $2)",
        &ids,
        query.search_text(),
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    // A dataset found by its DOI stays, whatever its words.
    Ok(hits
        .into_iter()
        .filter(|hit| exact.contains(&index.row_id(hit.row)) || hit.score >= DOI_MATCH_SCORE)
        .collect())
}

/// Most datasets with look-alike names a search considers.
const MAX_SIMILAR_NAMES: i64 = 200;

/// Published datasets whose names look like the text (`pg_trgm` word similarity), with the similarity.
async fn similar_names(db: &PgPool, query: &SearchQuery) -> sqlx::Result<Vec<(i64, f32)>> {
    let rows = sqlx::query!(
        r#"select id, word_similarity($1, search_names)::real as "similarity!" from datasets
         where status = 'published' and $1 <% search_names
         order by word_similarity($1, search_names) desc, id limit $2"#,
        query.text.to_lowercase(),
        MAX_SIMILAR_NAMES,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.similarity))
        .collect())
}

/// The passage of each shown dataset that matched, with the matching words marked.
async fn fetch_snippets(
    db: &PgPool,
    query: &SearchQuery,
    logic: WordLogic,
    items: &[DatasetSummary],
) -> sqlx::Result<HashMap<String, String>> {
    let slugs: Vec<String> = items.iter().map(|item| item.slug.clone()).collect();
    // The marks are taken out of the text first, so that only the marks ts_headline adds remain.
    let rows = sqlx::query!(
        r#"select slug, ts_headline('english',
                translate(d.summary || ' ' || d.description || ' ' || array_to_string(d.tasks, '; '),
                          E'\x02\x03', ''),
                case when $3 then replace(websearch_to_tsquery('english', $2)::text, ' & ', ' | ')::tsquery
                     else websearch_to_tsquery('english', $2) end,
                E'StartSel=\x02, StopSel=\x03, MaxWords=40, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "')
                as "snippet!"
         from datasets d where d.slug = any($1)"#,
        &slugs,
        query.search_text(),
        logic == WordLogic::Any,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.snippet.contains(MARK_START))
        .map(|row| (row.slug, row.snippet))
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
        assert_eq!(
            super::super::query::american_spelling("brain tumour MRI"),
            "brain tumor MRI"
        );
        assert_eq!(
            super::super::query::american_spelling("Paediatric tumours"),
            "pediatric tumors"
        );
        assert_eq!(
            super::super::query::american_spelling("\"intracranial haemorrhage\" -CT"),
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
