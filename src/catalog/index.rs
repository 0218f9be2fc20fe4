//! The in-memory search index: the published catalog's filterable fields, held column-wise in each app
//! instance so that filters, the eight facet counts, sorting and paging cost microseconds rather than a
//! scan of the datasets table per facet, and the text index that matches and ranks the words. PostgreSQL
//! stays the source of truth; the index is reloaded whenever `catalog_state.version` moves (checked on
//! every search).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures_util::TryStreamExt;
use sqlx::PgPool;
use tokio::sync::Mutex;

use super::query::{Facet, FacetCount, FacetValues, SearchQuery, Sort};
use super::textindex::{Document, InvertedIndex, Plan, Ranking};
use super::vocabulary::{ConceptKind, Vocabulary};

/// Facets in index order.
const FACETS: [Facet; 8] = Facet::ALL;

/// Added to a text match whose title or slug is the search text itself.
const EXACT_NAME_BONUS: f32 = 2.0;
/// The score of the dataset whose DOI the search text names (added when its words match too).
pub const DOI_MATCH_SCORE: f32 = 1.0e6;
/// Datasets found as alike to the best match rank this far below any text match.
const ALIKE_BELOW: f32 = -1.0e4;
/// Most datasets shown as alike to the best match.
const MAX_ALIKE: usize = 20;
/// Most values of one facet shown (a selected value is shown besides).
const MAX_FACET_VALUES: usize = 40;

fn facet_slot(facet: Facet) -> usize {
    FACETS
        .iter()
        .position(|f| *f == facet)
        .expect("every facet has a slot")
}

/// The kind of concept a facet's values are.
fn facet_kind(facet: Facet) -> Option<ConceptKind> {
    match facet {
        Facet::Modality => Some(ConceptKind::Modality),
        Facet::BodyPart => Some(ConceptKind::Anatomy),
        Facet::Task => Some(ConceptKind::Task),
        _ => None,
    }
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

/// One published dataset's filterable and sortable fields. Rows are kept in title order.
struct Row {
    id: i64,
    subject_count: Option<i64>,
    /// Days since the epoch of the upstream update (or the year), for "newest".
    newest: Option<i32>,
    /// When the record last changed here (Unix seconds).
    modified: i64,
    /// Hashes of the lower-case title and of the slug, to tell a query that names the dataset exactly.
    title_hash: u64,
    slug_hash: u64,
    /// The vocabulary's concepts of the dataset's structured facts.
    concepts: Box<[u32]>,
}

/// A snapshot of the published catalog.
pub struct CatalogIndex {
    version: i64,
    rows: Vec<Row>,
    values: Vec<u32>,
    dictionaries: Vec<Dictionary>,
    by_id: HashMap<i64, u32>,
    text: InvertedIndex,
    /// Rows by the hash of their lower-case DOI.
    by_doi: HashMap<u64, u32>,
    /// While loading: `values[starts[row][f]..starts[row][f + 1]]` are a row's value ids for facet `f`.
    starts: Vec<[u32; FACETS.len() + 1]>,
    facet_bits: Vec<Vec<Vec<u64>>>,
    by_subjects: Vec<u32>,
    by_newest: Vec<u32>,
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
    /// Reads the published catalog: filterable fields, and the text of every dataset's four search
    /// fields with the vocabulary's concepts of its structured facts.
    pub async fn load(db: &PgPool) -> sqlx::Result<Self> {
        Self::load_with(db, Vocabulary::builtin()).await
    }

    pub async fn load_with(db: &PgPool, vocabulary: &Vocabulary) -> sqlx::Result<Self> {
        let mut tx = db
            .begin_with("begin isolation level repeatable read, read only")
            .await?;
        // One snapshot for the version and the rows.
        let version = super::db::catalog_version(&mut *tx).await?;
        let mut index = Self::empty(version);
        // Rows are streamed, so that loading a large catalog never holds it twice.
        let mut sources = sqlx::query!(
            r#"select d.id, o.slug as organization_slug, o.name as organization_name,
                    d.source_kind::text as "source_kind!",
                    coalesce(d.access_level::text, 'unknown') as "access_level!",
                    coalesce(d.license, 'unknown') as "license!",
                    d.modalities, d.body_parts, d.tasks, d.data_use_limitations, d.subject_count,
                    (coalesce(d.last_updated_upstream, make_date(d.year, 1, 1)) - date '1970-01-01') as newest,
                    d.title, d.aliases, d.slug, lower(d.doi) as doi, d.conditions, d.annotation_objects,
                    d.challenge, d.summary, d.description,
                    extract(epoch from d.updated_at)::bigint as "modified!"
             from datasets d join organizations o on o.id = d.organization_id
             where d.status = 'published'
             order by lower(d.title), d.id"#
        )
        .fetch(&mut *tx);
        while let Some(source) = sources.try_next().await? {
            let row_number = index.rows.len() as u32;
            let mut starts = [0u32; FACETS.len() + 1];
            let mut fact_concepts: Vec<u32> = Vec::new();
            for (slot, facet) in FACETS.iter().enumerate() {
                starts[slot] = index.values.len() as u32;
                let dictionary = &mut index.dictionaries[slot];
                let values = &mut index.values;
                let mut push_concepts = |items: &[String], kind: ConceptKind| {
                    for item in items {
                        for key in vocabulary.normalise(item, kind) {
                            let concept = vocabulary.by_key(kind, &key);
                            // Shown through the facet's own labels (the vocabulary's names).
                            let id = dictionary.id(&key, None);
                            if !values[starts[slot] as usize..].contains(&id) {
                                values.push(id);
                            }
                            if let Some(concept) = concept
                                && !fact_concepts.contains(&concept)
                            {
                                fact_concepts.push(concept);
                            }
                        }
                    }
                };
                match facet {
                    Facet::Organization => {
                        let id = dictionary
                            .id(&source.organization_slug, Some(&source.organization_name));
                        values.push(id);
                    }
                    Facet::SourceKind => values.push(dictionary.id(&source.source_kind, None)),
                    Facet::AccessLevel => values.push(dictionary.id(&source.access_level, None)),
                    Facet::License => values.push(dictionary.id(&source.license, None)),
                    Facet::Modality => push_concepts(&source.modalities, ConceptKind::Modality),
                    Facet::BodyPart => push_concepts(&source.body_parts, ConceptKind::Anatomy),
                    Facet::Task => push_concepts(&source.tasks, ConceptKind::Task),
                    Facet::DataUse => {
                        for item in &source.data_use_limitations {
                            values.push(dictionary.id(item, None));
                        }
                    }
                }
            }
            for condition in &source.conditions {
                for concept in vocabulary.concepts_of_fact(condition, &[ConceptKind::Finding]) {
                    if !fact_concepts.contains(&concept) {
                        fact_concepts.push(concept);
                    }
                }
            }
            starts[FACETS.len()] = index.values.len() as u32;
            index.starts.push(starts);
            index.by_id.insert(source.id, row_number);
            if let Some(doi) = &source.doi {
                index.by_doi.insert(hash(doi), row_number);
            }
            let names = format!(
                "{} {} {}",
                source.title,
                source.aliases.join(" "),
                source.slug.replace('-', " ")
            );
            let facts = format!(
                "{} {} {} {} {} {} {}",
                source.organization_name,
                source.modalities.join(" "),
                source.body_parts.join(", "),
                source.tasks.join(", "),
                source.conditions.join(", "),
                source.annotation_objects.join(" "),
                source.challenge.as_deref().unwrap_or(""),
            );
            index.text.add(
                &Document {
                    fields: [&names, &facts, &source.summary, &source.description],
                    fact_concepts: &fact_concepts,
                },
                vocabulary,
            );
            let title = source.title.to_lowercase();
            index.rows.push(Row {
                id: source.id,
                subject_count: source.subject_count,
                newest: source.newest,
                modified: source.modified,
                title_hash: hash(&title),
                slug_hash: hash(&source.slug),
                concepts: fact_concepts.into_boxed_slice(),
            });
        }
        drop(sources);
        tx.commit().await?;
        index.text.finish();
        index.rows.shrink_to_fit();
        index.build_bitsets();
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
            starts: Vec::new(),
            facet_bits: Vec::new(),
            by_subjects: Vec::new(),
            by_newest: Vec::new(),
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

    /// Parses a researcher's text against this index's words and the vocabulary.
    pub fn plan(&self, text: &str, ranking: Ranking) -> Plan {
        self.text.plan(text, Vocabulary::builtin(), ranking)
    }

    /// How many datasets have a concept.
    pub fn concept_frequency(&self, concept: u32) -> usize {
        self.text.concept_frequency(concept)
    }

    /// The same text with every word read on its own, for widening.
    pub fn plan_words(&self, text: &str, ranking: Ranking) -> Plan {
        self.text.plan_words(text, Vocabulary::builtin(), ranking)
    }

    /// Datasets matching the plan, scored by BM25F. With `all_units`, only those matching every unit
    /// but the very common ones; otherwise those matching any. A title or slug
    /// that is the text itself adds [`EXACT_NAME_BONUS`]; the dataset whose DOI is `doi` is added with
    /// [`DOI_MATCH_SCORE`].
    pub fn text_hits(
        &self,
        plan: &Plan,
        all_units: bool,
        ranking: Ranking,
        text: &str,
        doi: Option<&str>,
    ) -> Vec<TextHit> {
        let matches = self.text.evaluate(plan, Vocabulary::builtin(), ranking);
        let no_units = plan.units.is_empty();
        let text_hash = hash(text.trim().to_lowercase().as_str());
        let required = matches.required(plan);
        let mut hits: Vec<TextHit> = (0..self.rows.len())
            .filter(|row| {
                let matched = matches.matched[*row];
                let enough = if no_units {
                    false
                } else if all_units {
                    matched & required == required
                } else {
                    matched != 0
                };
                enough && !matches.excluded[*row]
            })
            .map(|index| {
                let row = &self.rows[index];
                let mut score = matches.scores[index];
                if row.title_hash == text_hash || row.slug_hash == text_hash {
                    score += EXACT_NAME_BONUS;
                }
                TextHit {
                    row: index as u32,
                    score,
                    word_match: u32::from(matches.corrected[index])
                        < matches.matched[index].count_ones(),
                }
            })
            .collect();
        if plan.units.is_empty() && !plan.excluded.is_empty() {
            // Only exclusions: every dataset but the excluded ones.
            hits = (0..self.rows.len())
                .filter(|row| !matches.excluded[*row])
                .map(|row| TextHit {
                    row: row as u32,
                    score: 0.0,
                    word_match: true,
                })
                .collect();
        }
        if let Some(row) = doi.and_then(|doi| self.by_doi.get(&hash(doi))) {
            match hits.iter_mut().find(|hit| hit.row == *row) {
                Some(hit) => hit.score += DOI_MATCH_SCORE,
                None => hits.push(TextHit {
                    row: *row,
                    score: DOI_MATCH_SCORE,
                    word_match: true,
                }),
            }
        }
        hits
    }

    /// Whether a published dataset has this (lower-case) DOI.
    pub fn has_doi(&self, doi: &str) -> bool {
        self.by_doi.contains_key(&hash(doi))
    }

    /// Datasets sharing the structured facts of the dataset at `row` (its modalities, anatomy,
    /// conditions and tasks), most alike first, as hits scored below every text match.
    pub fn alike(&self, row: u32, ranking: Ranking) -> Vec<TextHit> {
        // Concepts most datasets share (CT, chest) say little of kinship and cost the most to count.
        let telling: Vec<u32> = self.rows[row as usize]
            .concepts
            .iter()
            .copied()
            .filter(|concept| self.text.concept_frequency(*concept) * 2 <= self.rows.len())
            .collect();
        let plan = Plan::of_concepts(&telling);
        if plan.units.is_empty() {
            return Vec::new();
        }
        let matches = self.text.evaluate(&plan, Vocabulary::builtin(), ranking);
        let mut alike: Vec<TextHit> = (0..self.rows.len())
            .filter(|other| *other != row as usize && matches.matched[*other] != 0)
            .map(|other| TextHit {
                row: other as u32,
                score: ALIKE_BELOW + matches.scores[other],
                word_match: false,
            })
            .collect();
        alike.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        alike.truncate(MAX_ALIKE);
        alike
    }

    /// The row of a dataset id.
    pub fn row_of(&self, id: i64) -> Option<u32> {
        self.by_id.get(&id).copied()
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

    /// Rows having each value of each facet, as bitsets (`facet_bits[slot][value]`).
    fn build_bitsets(&mut self) {
        let words = self.rows.len().div_ceil(64);
        self.facet_bits = self
            .dictionaries
            .iter()
            .map(|dictionary| vec![vec![0u64; words]; dictionary.values.len()])
            .collect();
        for (index, starts) in self.starts.iter().enumerate() {
            for slot in 0..FACETS.len() {
                for value in &self.values[starts[slot] as usize..starts[slot + 1] as usize] {
                    self.facet_bits[slot][*value as usize][index / 64] |= 1 << (index % 64);
                }
            }
        }
        let mut by_subjects: Vec<u32> = (0..self.rows.len() as u32).collect();
        by_subjects.sort_by(|a, b| {
            self.rows[*b as usize]
                .subject_count
                .cmp(&self.rows[*a as usize].subject_count)
                .then(a.cmp(b))
        });
        let mut by_newest: Vec<u32> = (0..self.rows.len() as u32).collect();
        by_newest.sort_by(|a, b| {
            self.rows[*b as usize]
                .newest
                .cmp(&self.rows[*a as usize].newest)
                .then(a.cmp(b))
        });
        self.by_subjects = by_subjects;
        self.by_newest = by_newest;
        // The per-row values were only needed to build the bitsets.
        self.values = Vec::new();
        self.starts = Vec::new();
    }

    /// A bitset with every row set.
    fn all_rows(&self) -> Vec<u64> {
        let mut bits = vec![u64::MAX; self.rows.len().div_ceil(64)];
        let tail = self.rows.len() % 64;
        if tail != 0
            && let Some(last) = bits.last_mut()
        {
            *last = (1u64 << tail) - 1;
        }
        bits
    }

    /// Filters, counts facets, sorts and pages. `text` holds the text matches when the query has text.
    ///
    /// Every filter value and the text are bitsets over the rows, so a facet count is the population
    /// count of one AND; rows are stored in title order, and orders by subjects and by date are kept
    /// precomputed, so a page is read off in order without sorting the matches.
    pub fn evaluate(
        &self,
        query: &SearchQuery,
        text: Option<&[TextHit]>,
        facets: &[Facet],
        disjunctive: bool,
    ) -> Evaluation {
        let words = self.rows.len().div_ceil(64);
        let (base, word_bits) = match text {
            None => (self.all_rows(), vec![0u64; words]),
            Some(hits) => {
                let mut base = vec![0u64; words];
                let mut word_bits = vec![0u64; words];
                for hit in hits {
                    let (word, bit) = (hit.row as usize / 64, 1u64 << (hit.row % 64));
                    base[word] |= bit;
                    if hit.word_match {
                        word_bits[word] |= bit;
                    }
                }
                (base, word_bits)
            }
        };
        let mut base = base;
        if let Some(since) = query.modified_since {
            for (row, data) in self.rows.iter().enumerate() {
                if data.modified < since {
                    base[row / 64] &= !(1u64 << (row % 64));
                }
            }
        }
        // Each active filter as the rows it accepts (a value the index has never seen accepts none).
        let filters: Vec<(usize, Vec<u64>)> = query
            .filters
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(facet, values)| {
                let slot = facet_slot(*facet);
                let mut accepted = vec![0u64; words];
                for value in values {
                    // A value in other words than the vocabulary's key ("renal") means its concept.
                    let keys = match facet_kind(*facet) {
                        Some(kind) if !self.dictionaries[slot].ids.contains_key(value) => {
                            Vocabulary::builtin().normalise(value, kind)
                        }
                        _ => vec![value.clone()],
                    };
                    for key in keys {
                        if let Some(id) = self.dictionaries[slot].ids.get(&key) {
                            or_into(&mut accepted, &self.facet_bits[slot][*id as usize]);
                        }
                    }
                }
                (slot, accepted)
            })
            .collect();
        let restricted = |skip: Option<usize>| {
            let mut bits = base.clone();
            for (slot, accepted) in &filters {
                if Some(*slot) != skip {
                    and_into(&mut bits, accepted);
                }
            }
            bits
        };
        let matches = restricted(None);
        let total = popcount(&matches);
        let word_matches = popcount_and(&matches, &word_bits);

        let facets = facets
            .iter()
            .map(|facet| {
                let slot = facet_slot(*facet);
                let own_filter = filters.iter().any(|(s, _)| *s == slot);
                let domain = if disjunctive && own_filter {
                    restricted(Some(slot))
                } else {
                    matches.clone()
                };
                let dictionary = &self.dictionaries[slot];
                let counts: Vec<i64> = self.facet_bits[slot]
                    .iter()
                    .map(|bits| popcount_and(&domain, bits))
                    .collect();
                let mut values: Vec<FacetCount> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(id, count)| FacetCount {
                        value: dictionary.values[id].clone(),
                        label: dictionary.labels[id].clone(),
                        count: *count,
                    })
                    .collect();
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values.truncate(MAX_FACET_VALUES);
                // A selected value stays visible even when it is not among the top values.
                for selected in query.selected(*facet) {
                    if !values.iter().any(|v| &v.value == selected) {
                        let id = dictionary.ids.get(selected).map(|id| *id as usize);
                        values.push(FacetCount {
                            value: selected.clone(),
                            label: id.and_then(|id| dictionary.labels[id].clone()),
                            count: id.map_or(0, |id| counts[id]),
                        });
                    }
                }
                FacetValues {
                    facet: *facet,
                    values,
                }
            })
            .collect();

        let offset = query.offset().max(0) as usize;
        let wanted = query.per_page.max(0) as usize;
        let is_set = |row: u32| matches[row as usize / 64] & (1 << (row % 64)) != 0;
        let page: Vec<u32> = match (query.effective_sort(), text) {
            (Sort::Relevance, Some(hits)) => {
                let mut ranked: Vec<&TextHit> = hits.iter().filter(|hit| is_set(hit.row)).collect();
                let end = offset.saturating_add(wanted).min(ranked.len());
                let compare = |a: &&TextHit, b: &&TextHit| {
                    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
                };
                if offset >= ranked.len() {
                    Vec::new()
                } else {
                    if end < ranked.len() {
                        ranked.select_nth_unstable_by(end, compare);
                        ranked.truncate(end);
                    }
                    ranked.sort_unstable_by(compare);
                    ranked[offset..end].iter().map(|hit| hit.row).collect()
                }
            }
            (Sort::Relevance | Sort::Title, _) => {
                set_rows(&matches).skip(offset).take(wanted).collect()
            }
            (sort @ (Sort::Subjects | Sort::Newest), _) => {
                let order = if sort == Sort::Subjects {
                    &self.by_subjects
                } else {
                    &self.by_newest
                };
                order
                    .iter()
                    .copied()
                    .filter(|row| is_set(*row))
                    .skip(offset)
                    .take(wanted)
                    .collect()
            }
        };
        Evaluation {
            page: page
                .into_iter()
                .map(|row| self.rows[row as usize].id)
                .collect(),
            total,
            word_matches,
            facets,
        }
    }
}

/// A 64-bit hash of a string (for equality checks against stored hashes).
fn hash(value: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(value)
}

fn or_into(target: &mut [u64], bits: &[u64]) {
    for (t, b) in target.iter_mut().zip(bits) {
        *t |= b;
    }
}

fn and_into(target: &mut [u64], bits: &[u64]) {
    for (t, b) in target.iter_mut().zip(bits) {
        *t &= b;
    }
}

fn popcount(bits: &[u64]) -> i64 {
    bits.iter().map(|word| i64::from(word.count_ones())).sum()
}

fn popcount_and(a: &[u64], b: &[u64]) -> i64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i64::from((x & y).count_ones()))
        .sum()
}

/// The set rows of a bitset, ascending.
fn set_rows(bits: &[u64]) -> impl Iterator<Item = u32> + '_ {
    bits.iter().enumerate().flat_map(|(index, word)| {
        let mut word = *word;
        std::iter::from_fn(move || {
            if word == 0 {
                return None;
            }
            let bit = word.trailing_zeros();
            word &= word - 1;
            Some(index as u32 * 64 + bit)
        })
    })
}

/// The current index of one app instance, reloaded when the catalog's version moves.
pub struct IndexHandle {
    current: Arc<RwLock<Arc<CatalogIndex>>>,
    reload: Arc<Mutex<()>>,
}

impl Default for IndexHandle {
    fn default() -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(CatalogIndex::empty(-1)))),
            reload: Arc::new(Mutex::new(())),
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
        let version = super::db::catalog_version(db).await?;
        // A different version, lower too (a restored database), means the snapshot is not current.
        let snapshot = self.snapshot();
        if snapshot.version == version {
            return Ok(snapshot);
        }
        // One reload at a time; whoever waited finds it done.
        let guard = Arc::clone(&self.reload).lock_owned().await;
        let snapshot = self.snapshot();
        if snapshot.version == version {
            return Ok(snapshot);
        }
        // The reload runs as its own task, so a request that gives up (timeout, closed connection)
        // does not abandon a half-built index: the next one finds it installed.
        let current = Arc::clone(&self.current);
        let db = db.clone();
        let reload = tokio::spawn(async move {
            let _guard = guard;
            let fresh = Arc::new(CatalogIndex::load(&db).await?);
            tracing::debug!(
                version = fresh.version,
                datasets = fresh.len(),
                "search index reloaded"
            );
            *current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh.clone();
            crate::metrics::set_index(fresh.version, fresh.len(), std::time::SystemTime::now());
            Ok::<_, sqlx::Error>(fresh)
        });
        reload.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_helpers() {
        let a = [0b1011u64, 1 << 63];
        let b = [0b0110u64, u64::MAX];
        assert_eq!(popcount(&a), 4);
        assert_eq!(popcount_and(&a, &b), 2);
        let mut c = a;
        and_into(&mut c, &b);
        assert_eq!(c, [0b0010, 1 << 63]);
        or_into(&mut c, &[0b1000, 0]);
        assert_eq!(c, [0b1010, 1 << 63]);
        assert_eq!(set_rows(&a).collect::<Vec<_>>(), vec![0, 1, 3, 127]);
    }

    #[test]
    fn hashes_tell_equal_strings() {
        assert_eq!(hash("lidc-idri"), hash("lidc-idri"));
        assert_ne!(hash("lidc-idri"), hash("lidc"));
    }
}
