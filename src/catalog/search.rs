//! Catalog search: the query a researcher builds from text, filters, sort and page — all of it in the URL —
//! and its translation into SQL: one query for a page of results, one per facet for the live counts.
//!
//! Text is read as units (words, quoted phrases, `OR` alternatives, concepts of the radiology
//! vocabulary) and matched in the in-memory index: every unit first, then — when few datasets match
//! them all — any of them, those matching more ranked first; a word no dataset has is corrected to the
//! nearest words that some have, so a typo such as "chexpret" still finds CheXpert.

use sqlx::PgPool;

use std::collections::{HashMap, HashSet};

use super::analysis;
use std::sync::Arc;

use super::index::{CatalogIndex, IndexHandle, TextHit};
use super::model::DatasetSummary;
pub use super::query::{
    Facet, FacetCount, FacetValues, MAX_FILTER_VALUES, MAX_PER_PAGE, MAX_QUERY_CHARS, NOT_STATED,
    ParamError, SearchQuery, Sort,
};
use super::textindex::Plan;
pub use super::textindex::Ranking;
use super::vocabulary::{ConceptKind, Vocabulary, Word};
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

/// Below this many results for all words, a query also shows partial matches.
const RELAX_BELOW: i64 = 10;
/// Added to the score of a dataset matching everything, when partial matches follow.
const STRICT_FIRST: f32 = 1.0e4;

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
    /// The concepts of the vocabulary the text was read as.
    pub concepts: Vec<RecognisedConcept>,
    /// When few datasets matched the text: the title of the best match, whose kin (datasets
    /// sharing its modalities, anatomy, conditions and tasks) follow the first `n` results.
    pub alike_to: Option<(String, i64)>,
}

/// A concept recognised in the text of a search, shown as a chip.
#[derive(Clone, Debug)]
pub struct RecognisedConcept {
    pub name: String,
    /// What kind of concept it is ("modality", "body part" …).
    pub kind: &'static str,
    /// The words of the query it was read from.
    pub words: String,
    /// The same search with those words turned into a filter (for concepts that have a facet).
    pub filter: Option<SearchQuery>,
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
    index: &Arc<IndexHandle>,
    query: &SearchQuery,
) -> sqlx::Result<SearchResults> {
    search_with(db, index, query, Extras::ALL).await
}

/// Runs a search, computing only the given extras. The catalog version is read from the database on
/// every search, so a search sees every committed change of a few datasets (a larger one, such as a
/// bulk import, shows once this instance has applied it: within a second or so).
///
/// The in-memory index parses and ranks the text, applies the filters, counts the facets, sorts and
/// cuts the page; PostgreSQL then supplies the page's rows and the text their snippets are cut from.
/// That is two round trips: the version, and the page.
pub async fn search_with(
    db: &PgPool,
    index: &Arc<IndexHandle>,
    query: &SearchQuery,
    extras: Extras<'_>,
) -> sqlx::Result<SearchResults> {
    let index = index.current(db).await?;
    search_in(db, &index, query, extras, Ranking::FULL).await
}

/// A search over a given index snapshot with a given ranking (the relevance measurements switch
/// parts of the ranking off).
pub async fn search_in(
    db: &PgPool,
    index: &CatalogIndex,
    query: &SearchQuery,
    extras: Extras<'_>,
    ranking: Ranking,
) -> sqlx::Result<SearchResults> {
    let mut logic = None;
    let mut all_words_total = 0;
    let mut plan = None;
    let mut alike_after: Option<i64> = None;
    let evaluation = if query.text.is_empty() {
        index.evaluate(query, None, extras.facets, extras.disjunctive)
    } else {
        let doi = doi_in(&query.text);
        // A DOI that names a dataset is answered by that dataset alone, not by its digits as words.
        let parsed = match &doi {
            Some(doi) if index.has_doi(doi) => Plan::default(),
            _ => index.plan(&query.text, ranking),
        };
        // Counting first (no facets); the facets are counted once, for the hits finally shown.
        let mut hits = index.text_hits(&parsed, true, ranking, &query.text, doi.as_deref());
        let mut evaluation = index.evaluate(query, Some(&hits), &[], extras.disjunctive);
        logic = Some(WordLogic::All);
        all_words_total = evaluation.word_matches;
        let widen = evaluation.word_matches < RELAX_BELOW && !parsed.has_operators;
        if widen && !parsed.is_empty() {
            // Few datasets match everything: add those matching some of it — each word also read
            // on its own — after them.
            let words = parsed.widened(
                index.plan_words(&query.text, ranking),
                Vocabulary::builtin(),
                |concept| index.concept_frequency(concept),
            );
            let mut widened = index.text_hits(&words, false, ranking, &query.text, doi.as_deref());
            let strict_rows: HashMap<u32, f32> =
                hits.iter().map(|hit| (hit.row, hit.score)).collect();
            for hit in &mut widened {
                if let Some(score) = strict_rows.get(&hit.row) {
                    hit.score = STRICT_FIRST + score;
                }
            }
            let widened_rows: HashSet<u32> = widened.iter().map(|hit| hit.row).collect();
            for hit in &hits {
                if !widened_rows.contains(&hit.row) {
                    widened.push(TextHit {
                        score: STRICT_FIRST + hit.score,
                        ..*hit
                    });
                }
            }
            let wide = index.evaluate(query, Some(&widened), &[], extras.disjunctive);
            if wide.total > evaluation.total {
                logic = Some(WordLogic::Any);
                evaluation = wide;
                hits = widened;
            }
        }
        if logic == Some(WordLogic::All) {
            all_words_total = evaluation.word_matches;
        }
        // Still few: datasets like the best match follow (its modalities, anatomy, conditions and
        // tasks), so that a search naming one dataset also shows its kin.
        if widen
            && evaluation.total < RELAX_BELOW
            && query.effective_sort() == Sort::Relevance
            && query.page == 1
            && let Some(best) = evaluation.page.first().and_then(|id| index.row_of(*id))
        {
            let found: HashSet<u32> = hits.iter().map(|hit| hit.row).collect();
            let before = evaluation.total;
            hits.extend(
                index
                    .alike(best, ranking)
                    .into_iter()
                    .filter(|hit| !found.contains(&hit.row)),
            );
            let with_alike = index.evaluate(query, Some(&hits), &[], extras.disjunctive);
            if with_alike.total > before {
                alike_after = Some(before);
            } else {
                hits.retain(|hit| found.contains(&hit.row));
            }
        }
        plan = Some(parsed);
        index.evaluate(query, Some(&hits), extras.facets, extras.disjunctive)
    };
    if logic == Some(WordLogic::All) {
        all_words_total = evaluation.word_matches;
    }
    let text_match = logic.map(|logic| match logic {
        _ if evaluation.total > 0 && evaluation.word_matches == 0 => TextMatch::Similar,
        WordLogic::All => TextMatch::All,
        WordLogic::Any => TextMatch::Any,
    });
    let rows = super::db::summaries_with_text_by_ids(db, &evaluation.page).await?;
    // The best match is the page's first row.
    let alike_to = alike_after.and_then(|matched| {
        rows.first()
            .map(|(dataset, _)| (dataset.title.clone(), matched))
    });
    let hits = rows
        .into_iter()
        .map(|(dataset, text)| Hit {
            snippet: match &plan {
                Some(plan) if extras.snippets => snippet(&text, plan, Vocabulary::builtin()),
                _ => None,
            },
            dataset,
        })
        .collect();
    let concepts = plan
        .as_ref()
        .map(|plan| recognised(plan, query))
        .unwrap_or_default();
    Ok(SearchResults {
        hits,
        pagination: Pagination::new(query.page, query.per_page, evaluation.total),
        facets: evaluation.facets,
        text_match,
        all_words_total,
        concepts,
        alike_to,
    })
}

/// The DOI a query names, if it is one: `10.7937/…` alone or after `doi:`, `DOI: ` or a resolver
/// address (`https://doi.org/…`, `doi.org/…`).
fn doi_in(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let start = lower.find("10.")?;
    let prefix = lower[..start].trim_end();
    let known_prefix = prefix.is_empty()
        || [
            "doi:",
            "doi",
            "https://doi.org/",
            "http://doi.org/",
            "doi.org/",
            "https://dx.doi.org/",
            "dx.doi.org/",
        ]
        .contains(&prefix);
    let doi = lower[start..].trim();
    (known_prefix && !doi.contains(char::is_whitespace) && super::validate::is_doi(doi))
        .then(|| doi.to_owned())
}

/// The concepts a query's words were read as, with the filter each stands for.
fn recognised(plan: &Plan, query: &SearchQuery) -> Vec<RecognisedConcept> {
    let vocabulary = Vocabulary::builtin();
    let mut out: Vec<RecognisedConcept> = Vec::new();
    for unit in &plan.units {
        for concept in unit.concepts() {
            let concept = vocabulary.concept(concept);
            if out.iter().any(|c| c.name == concept.name) {
                continue;
            }
            let facet = match concept.kind {
                ConceptKind::Modality => Some(Facet::Modality),
                ConceptKind::Anatomy => Some(Facet::BodyPart),
                ConceptKind::Task => Some(Facet::Task),
                ConceptKind::Finding | ConceptKind::Population => None,
            };
            let filter = facet.map(|facet| {
                let mut filtered = query.with_text(&remove_words(&query.text, &unit.text));
                if !filtered.is_selected(facet, &concept.key) {
                    filtered = filtered.toggled(facet, &concept.key);
                }
                filtered
            });
            out.push(RecognisedConcept {
                name: concept.name.clone(),
                kind: concept.kind.label(),
                words: unit.text.clone(),
                filter,
            });
        }
    }
    out
}

/// `text` without the words `words` (compared without case), for a chip that turns them into a filter.
fn remove_words(text: &str, words: &str) -> String {
    let remove: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
    let kept: Vec<&str> = text
        .split_whitespace()
        .filter(|word| {
            let bare = word
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            !remove.contains(&bare) && !remove.contains(&word.to_lowercase())
        })
        .collect();
    kept.join(" ")
}

/// Most words a snippet fragment holds.
const FRAGMENT_WORDS: usize = 30;

/// The passages of `text` that matched, with the matching words between the marks (up to two
/// fragments); `None` when nothing in the text matched.
fn snippet(text: &str, plan: &Plan, vocabulary: &Vocabulary) -> Option<String> {
    let text: String = text
        .chars()
        .filter(|c| *c != MARK_START && *c != MARK_END)
        .collect();
    let spans = analysis::spans(&text);
    let terms = plan.highlight_terms();
    let concepts = plan.concepts();
    let mut marked = vec![false; spans.len()];
    for (position, span) in spans.iter().enumerate() {
        if span.term.as_ref().is_some_and(|term| terms.contains(term)) {
            marked[position] = true;
        }
    }
    if !concepts.is_empty() {
        let words: Vec<Word> = spans
            .iter()
            .map(|span| Word::of(&text[span.start..span.end]))
            .collect();
        for found in vocabulary.find_all(&words) {
            let relevant = found.concepts.iter().any(|c| {
                concepts.contains(c)
                    || vocabulary
                        .concept(*c)
                        .ancestors
                        .iter()
                        .any(|a| concepts.contains(a))
            });
            if relevant {
                marked[found.start..found.end]
                    .iter_mut()
                    .for_each(|m| *m = true);
            }
        }
    }
    let first = marked.iter().position(|m| *m)?;
    // Fragments start a little before a marked word; a second one where the first ends.
    let mut fragments: Vec<(usize, usize)> = Vec::new();
    let mut from = first;
    while fragments.len() < 2 {
        let Some(next) = (from..spans.len()).find(|i| marked[*i]) else {
            break;
        };
        let start = next.saturating_sub(5);
        let end = (start + FRAGMENT_WORDS).min(spans.len());
        fragments.push((start, end));
        from = end;
    }
    let mut out = String::new();
    for (number, (start, end)) in fragments.into_iter().enumerate() {
        if number > 0 {
            out.push_str(" … ");
        }
        let mut cursor = spans[start].start;
        for (position, span) in spans.iter().enumerate().take(end).skip(start) {
            out.push_str(&text[cursor..span.start]);
            if marked[position] {
                out.push(MARK_START);
                out.push_str(&text[span.start..span.end]);
                out.push(MARK_END);
            } else {
                out.push_str(&text[span.start..span.end]);
            }
            cursor = span.end;
        }
    }
    Some(out)
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
