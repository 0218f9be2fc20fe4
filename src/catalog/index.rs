//! The in-memory search index: the published catalog's filterable fields, held column-wise in each app
//! instance so that filters, the eight facet counts, sorting and paging cost microseconds rather than a
//! scan of the datasets table per facet. PostgreSQL stays the source of truth and does the text matching;
//! the index is reloaded whenever `catalog_state.version` moves (checked on every search).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures_util::TryStreamExt;
use sqlx::PgPool;
use tokio::sync::Mutex;

use super::search::{Facet, FacetCount, FacetValues, SearchQuery, Sort};
use super::textindex::{InvertedIndex, Scores, TsQuery};

/// Facets in index order.
const FACETS: [Facet; 8] = Facet::ALL;

fn facet_slot(facet: Facet) -> usize {
    FACETS
        .iter()
        .position(|f| *f == facet)
        .expect("every facet has a slot")
}

/// Distinct values of one facet, numbered.
#[derive(Default)]
struct Dictionary {
    values: Vec<String>,
    labels: Vec<Option<String>>,
    ids: HashMap<String, u32>,
}

impl Dictionary {
    fn id(&mut self, value: &str, label: Option<&str>) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.to_owned());
        self.labels.push(label.map(str::to_owned));
        self.ids.insert(value.to_owned(), id);
        id
    }
}

/// One published dataset's filterable and sortable fields.
struct Row {
    id: i64,
    /// `values[starts[f]..starts[f + 1]]` are the dataset's value ids for facet slot `f`.
    starts: [u32; FACETS.len() + 1],
    subject_count: Option<i64>,
    /// Days since the epoch of the upstream update (or the year), for "newest".
    newest: Option<i32>,
    /// Position in title order.
    title_rank: u32,
    /// Lower-case title, aliases and slug (`search_names`), for name matches.
    names: Box<str>,
}

/// A snapshot of the published catalog.
pub struct CatalogIndex {
    version: i64,
    rows: Vec<Row>,
    values: Vec<u32>,
    dictionaries: Vec<Dictionary>,
    by_id: HashMap<i64, u32>,
    text: InvertedIndex,
    by_doi: HashMap<String, u32>,
}

/// A text match: a row of the index, its relevance, and whether the words (rather than only a
/// look-alike name) matched.
#[derive(Clone, Copy, Debug)]
pub struct TextHit {
    pub row: u32,
    pub score: f32,
    pub word_match: bool,
}

/// What the index answers for a query.
pub struct Evaluation {
    /// Dataset ids of the requested page, in order.
    pub page: Vec<i64>,
    pub total: i64,
    /// Of `total`, how many matched the words.
    pub word_matches: i64,
    pub facets: Vec<FacetValues>,
}

impl CatalogIndex {
    /// Reads the published catalog's filterable fields.
    pub async fn load(db: &PgPool) -> sqlx::Result<Self> {
        #[derive(sqlx::FromRow)]
        struct Source {
            id: i64,
            organization_slug: String,
            organization_name: String,
            source_kind: String,
            access_level: String,
            license: String,
            modalities: Vec<String>,
            body_parts: Vec<String>,
            task_categories: Vec<String>,
            data_use_limitations: Vec<String>,
            subject_count: Option<i64>,
            newest: Option<i32>,
            search_names: String,
            doi: Option<String>,
        }
        let mut tx = db.begin().await?;
        // One snapshot for the version and the rows.
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        let version: i64 = sqlx::query_scalar("select version from catalog_state")
            .fetch_one(&mut *tx)
            .await?;
        let mut index = Self::empty(version);
        // Rows are streamed, so that loading a large catalog never holds it twice.
        let mut sources = sqlx::query_as::<_, Source>(
            "select d.id, o.slug as organization_slug, o.name as organization_name,
                    d.source_kind::text as source_kind,
                    coalesce(d.access_level::text, 'unknown') as access_level,
                    coalesce(d.license, 'unknown') as license,
                    d.modalities, d.body_parts, d.task_categories, d.data_use_limitations, d.subject_count,
                    (coalesce(d.last_updated_upstream, make_date(d.year, 1, 1)) - date '1970-01-01') as newest,
                    d.search_names, lower(d.doi) as doi
             from datasets d join organizations o on o.id = d.organization_id
             where d.status = 'published'
             order by lower(d.title), d.id",
        )
        .fetch(&mut *tx);
        while let Some(source) = sources.try_next().await? {
            let row_number = index.rows.len() as u32;
            let mut starts = [0u32; FACETS.len() + 1];
            for (slot, facet) in FACETS.iter().enumerate() {
                starts[slot] = index.values.len() as u32;
                let dictionary = &mut index.dictionaries[slot];
                let values = &mut index.values;
                let mut push_all = |items: &[String]| {
                    for item in items {
                        values.push(dictionary.id(item, None));
                    }
                };
                match facet {
                    Facet::Organization => {
                        let id = dictionary
                            .id(&source.organization_slug, Some(&source.organization_name));
                        values.push(id);
                    }
                    Facet::SourceKind => push_all(std::slice::from_ref(&source.source_kind)),
                    Facet::AccessLevel => push_all(std::slice::from_ref(&source.access_level)),
                    Facet::License => push_all(std::slice::from_ref(&source.license)),
                    Facet::Modality => push_all(&source.modalities),
                    Facet::BodyPart => push_all(&source.body_parts),
                    Facet::Task => push_all(&source.task_categories),
                    Facet::DataUse => push_all(&source.data_use_limitations),
                }
            }
            starts[FACETS.len()] = index.values.len() as u32;
            index.by_id.insert(source.id, row_number);
            if let Some(doi) = source.doi {
                index.by_doi.insert(doi, row_number);
            }
            index.rows.push(Row {
                id: source.id,
                starts,
                subject_count: source.subject_count,
                newest: source.newest,
                title_rank: row_number,
                names: source.search_names.into(),
            });
        }
        drop(sources);
        // Every lexeme of every published dataset with its best weight (3 = A … 0 = D).
        let mut lexemes = sqlx::query_as::<_, (i64, Vec<String>, Vec<i16>)>(
            "select d.id, array_agg(u.lexeme),
                    array_agg(case when 'A' = any(u.weights) then 3 when 'B' = any(u.weights) then 2
                                   when 'C' = any(u.weights) then 1 else 0 end::smallint)
             from datasets d cross join lateral unnest(d.search_vector) as u
             where d.status = 'published'
             group by d.id",
        )
        .fetch(&mut *tx);
        while let Some((id, words, weights)) = lexemes.try_next().await? {
            if let Some(row) = index.by_id.get(&id) {
                for (word, weight) in words.iter().zip(weights) {
                    index.text.add(*row, word, weight.clamp(0, 3) as u8);
                }
            }
        }
        drop(lexemes);
        tx.commit().await?;
        index.text.finish();
        index.rows.shrink_to_fit();
        index.values.shrink_to_fit();
        Ok(index)
    }

    /// An index of nothing, at `version`.
    fn empty(version: i64) -> Self {
        Self {
            version,
            rows: Vec::new(),
            values: Vec::new(),
            dictionaries: FACETS.iter().map(|_| Dictionary::default()).collect(),
            by_id: HashMap::new(),
            text: InvertedIndex::default(),
            by_doi: HashMap::new(),
        }
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Datasets whose words match `query`, scored: the summed weights of the words found (scaled into
    /// [0, 1)), plus, with `count_words`, the number of distinct words found; a title or slug that is
    /// the text adds 2, and each word of the text found in the names adds a share of 1. A dataset
    /// whose DOI is `doi` is added with a score of 5.
    pub fn text_hits(
        &self,
        query: Option<&TsQuery>,
        count_words: bool,
        text: &str,
        doi: Option<&str>,
    ) -> Vec<TextHit> {
        let (rows, scores) = match query {
            Some(query) => (
                self.text.matching(query, self.rows.len() as u32),
                self.text.scores(query, self.rows.len()),
            ),
            None => (Vec::new(), Scores::default()),
        };
        let lower = text.to_lowercase();
        let mut hits: Vec<TextHit> = rows
            .into_iter()
            .map(|row| {
                let index = row as usize;
                let weight = scores.weights[index];
                let mut score = weight / (weight + 1.0);
                if count_words {
                    score += f32::from(scores.counts[index]);
                }
                if scores.terms > 0 {
                    score += f32::from(scores.in_names[index]) / f32::from(scores.terms);
                }
                // Every word is in the names: see whether the title or the slug is the text itself
                // (search_names is "title aliases slug").
                if scores.in_names[index] == scores.terms {
                    let names = &*self.rows[index].names;
                    if names
                        .strip_prefix(lower.as_str())
                        .is_some_and(|rest| rest.starts_with(' '))
                        || names
                            .strip_suffix(lower.as_str())
                            .is_some_and(|rest| rest.ends_with(' '))
                    {
                        score += 2.0;
                    }
                }
                TextHit {
                    row,
                    score,
                    word_match: true,
                }
            })
            .collect();
        if let Some(row) = doi.and_then(|doi| self.by_doi.get(doi)) {
            match hits.iter_mut().find(|hit| hit.row == *row) {
                Some(hit) => hit.score += 5.0,
                None => hits.push(TextHit {
                    row: *row,
                    score: 5.0,
                    word_match: true,
                }),
            }
        }
        hits
    }

    /// The dataset id of a row.
    pub fn row_id(&self, row: u32) -> i64 {
        self.rows[row as usize].id
    }

    /// A hit for the dataset with id `id` (found outside the index, e.g. by name similarity), if it is
    /// published.
    pub fn hit_for_id(&self, id: i64, score: f32) -> Option<TextHit> {
        self.by_id.get(&id).map(|row| TextHit {
            row: *row,
            score,
            word_match: false,
        })
    }

    fn row_values(&self, row: &Row, slot: usize) -> &[u32] {
        &self.values[row.starts[slot] as usize..row.starts[slot + 1] as usize]
    }

    /// Filters, counts facets, sorts and pages. `text` holds the text matches when the query has text.
    pub fn evaluate(
        &self,
        query: &SearchQuery,
        text: Option<&[TextHit]>,
        facets: &[Facet],
        disjunctive: bool,
    ) -> Evaluation {
        // Each active filter as the set of value ids it accepts (a value the index has never seen
        // accepts nothing).
        let filters: Vec<(usize, Vec<u32>)> = query
            .filters
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(facet, values)| {
                let slot = facet_slot(*facet);
                let ids = values
                    .iter()
                    .filter_map(|value| self.dictionaries[slot].ids.get(value).copied())
                    .collect();
                (slot, ids)
            })
            .collect();
        let counted: Vec<usize> = facets.iter().map(|facet| facet_slot(*facet)).collect();
        let mut counts: Vec<Vec<u32>> = FACETS
            .iter()
            .enumerate()
            .map(|(slot, _)| {
                if counted.contains(&slot) {
                    vec![0; self.dictionaries[slot].values.len()]
                } else {
                    Vec::new()
                }
            })
            .collect();

        let mut matches: Vec<(u32, f32, bool)> = Vec::new();
        let mut visit = |index: u32, score: f32, word_match: bool| {
            let row = &self.rows[index as usize];
            let mut failed: Option<usize> = None;
            let mut failures = 0;
            for (slot, accepted) in &filters {
                if !self
                    .row_values(row, *slot)
                    .iter()
                    .any(|v| accepted.contains(v))
                {
                    failures += 1;
                    failed = Some(*slot);
                    if failures > 1 {
                        return;
                    }
                }
            }
            match failed {
                None => {
                    matches.push((index, score, word_match));
                    for slot in &counted {
                        for value in self.row_values(row, *slot) {
                            counts[*slot][*value as usize] += 1;
                        }
                    }
                }
                // Fails only its own facet's filter: it counts for that facet's other values.
                Some(slot) if disjunctive && counted.contains(&slot) => {
                    for value in self.row_values(row, slot) {
                        counts[slot][*value as usize] += 1;
                    }
                }
                Some(_) => {}
            }
        };
        match text {
            None => {
                for index in 0..self.rows.len() as u32 {
                    visit(index, 0.0, false);
                }
            }
            Some(hits) => {
                for hit in hits {
                    visit(hit.row, hit.score, hit.word_match);
                }
            }
        }

        let total = matches.len() as i64;
        let word_matches = matches.iter().filter(|(_, _, word)| *word).count() as i64;
        let sort = match (query.effective_sort(), text.is_some()) {
            (Sort::Relevance, false) => Sort::Title,
            (sort, _) => sort,
        };
        let compare = |a: &(u32, f32, bool), b: &(u32, f32, bool)| {
            let (ra, rb) = (&self.rows[a.0 as usize], &self.rows[b.0 as usize]);
            let by_title = ra.title_rank.cmp(&rb.title_rank);
            match sort {
                Sort::Relevance => b.1.total_cmp(&a.1).then(by_title),
                Sort::Title => by_title,
                Sort::Subjects => rb.subject_count.cmp(&ra.subject_count).then(by_title),
                Sort::Newest => rb.newest.cmp(&ra.newest).then(by_title),
            }
        };
        let offset = query.offset().max(0) as usize;
        let end = offset
            .saturating_add(query.per_page.max(0) as usize)
            .min(matches.len());
        let page = if offset >= matches.len() {
            Vec::new()
        } else {
            // Only the rows up to the end of the page need ordering.
            if end < matches.len() {
                matches.select_nth_unstable_by(end, compare);
                matches.truncate(end);
            }
            matches.sort_unstable_by(compare);
            matches[offset..end]
                .iter()
                .map(|(index, _, _)| self.rows[*index as usize].id)
                .collect()
        };

        let facets = facets
            .iter()
            .map(|facet| {
                let slot = facet_slot(*facet);
                let dictionary = &self.dictionaries[slot];
                let mut values: Vec<FacetCount> = counts[slot]
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(id, count)| FacetCount {
                        value: dictionary.values[id].clone(),
                        label: dictionary.labels[id].clone(),
                        count: i64::from(*count),
                    })
                    .collect();
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values.truncate(40);
                // A selected value stays visible even when it is not among the top values.
                for selected in query.selected(*facet) {
                    if !values.iter().any(|v| &v.value == selected) {
                        let id = dictionary.ids.get(selected).map(|id| *id as usize);
                        values.push(FacetCount {
                            value: selected.clone(),
                            label: id.and_then(|id| dictionary.labels[id].clone()),
                            count: id
                                .map_or(0, |id| counts[slot].get(id).copied().unwrap_or(0).into()),
                        });
                    }
                }
                FacetValues {
                    facet: *facet,
                    values,
                }
            })
            .collect();
        Evaluation {
            page,
            total,
            word_matches,
            facets,
        }
    }
}

/// The current index of one app instance, reloaded when the catalog's version moves.
pub struct IndexHandle {
    current: RwLock<Arc<CatalogIndex>>,
    reload: Mutex<()>,
}

impl Default for IndexHandle {
    fn default() -> Self {
        Self {
            current: RwLock::new(Arc::new(CatalogIndex::empty(-1))),
            reload: Mutex::new(()),
        }
    }
}

impl IndexHandle {
    fn snapshot(&self) -> Arc<CatalogIndex> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The index as of the catalog's current version, reloading it first when it is behind.
    pub async fn current(&self, db: &PgPool) -> sqlx::Result<Arc<CatalogIndex>> {
        let version: i64 = sqlx::query_scalar("select version from catalog_state")
            .fetch_one(db)
            .await?;
        let snapshot = self.snapshot();
        if snapshot.version >= version {
            return Ok(snapshot);
        }
        // One reload at a time; whoever waited finds it done.
        let _guard = self.reload.lock().await;
        let snapshot = self.snapshot();
        if snapshot.version >= version {
            return Ok(snapshot);
        }
        let fresh = Arc::new(CatalogIndex::load(db).await?);
        tracing::debug!(
            version = fresh.version,
            datasets = fresh.len(),
            "search index reloaded"
        );
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}
