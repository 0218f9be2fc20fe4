//! The in-memory search index: the published catalog's filterable fields, held column-wise in each app
//! instance so that filters, the eight facet counts, sorting and paging cost microseconds rather than a
//! scan of the datasets table per facet, and the text index that matches and ranks the words. PostgreSQL
//! stays the source of truth; when `catalog_state.version` moves, the rows the change log names are
//! read again and applied to a copy of the index, which replaces it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use sqlx::PgPool;
use tokio::sync::{Mutex, watch};

use super::query::{Facet, FacetCount, FacetValues, SearchQuery, Sort};
use super::textindex::{Document, InvertedIndex, Plan, Ranking};
use super::vocabulary::{ConceptKind, Vocabulary};
use super::watch::CatalogWatch;

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
#[derive(Clone, Default)]
struct Dictionary {
    values: Vec<String>,
    labels: Vec<Option<String>>,
    ids: HashMap<String, u32>,
}

impl Dictionary {
    /// The number of a value; a label given replaces the one known (an organization renamed).
    fn id(&mut self, value: &str, label: Option<&str>) -> u32 {
        if let Some(id) = self.ids.get(value) {
            let known = &mut self.labels[*id as usize];
            if let Some(label) = label
                && known.as_deref() != Some(label)
            {
                *known = Some(label.to_owned());
            }
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.to_owned());
        self.labels.push(label.map(str::to_owned));
        self.ids.insert(value.to_owned(), id);
        id
    }
}

/// One published dataset's filterable and sortable fields. Rows read with the whole catalog are in
/// title order; rows appended by updates follow.
#[derive(Clone)]
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
    /// The hash of the lower-case DOI.
    doi_hash: Option<u64>,
    /// The lower-case title, for placing appended rows in title order.
    title_key: Arc<str>,
    /// The vocabulary's concepts of the dataset's structured facts.
    concepts: Arc<[u32]>,
}

/// A snapshot of the published catalog. Snapshots share their posting lists: an update copies the
/// small parts and the lists it appends to.
#[derive(Clone)]
pub struct CatalogIndex {
    version: i64,
    rows: Vec<Row>,
    /// Rows not marked dead, one bit each, and how many.
    live: Vec<u64>,
    live_rows: usize,
    /// Live rows in title order; each row's place in it (ties of other orders go by title); and
    /// whether the rows themselves are in title order (every row live, none appended).
    by_title: Vec<u32>,
    title_rank: Vec<u32>,
    title_ordered: bool,
    values: Vec<u32>,
    dictionaries: Vec<Dictionary>,
    by_id: HashMap<i64, u32>,
    text: InvertedIndex,
    /// Rows by the hash of their lower-case DOI.
    by_doi: HashMap<u64, u32>,
    /// While adding rows: `values[starts[i][f]..starts[i][f + 1]]` are the value ids for facet `f` of
    /// the `i`-th row added.
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

/// One published dataset as the index reads it.
struct Source {
    id: i64,
    organization_slug: String,
    organization_name: String,
    source_kind: String,
    access_level: String,
    license: String,
    modalities: Vec<String>,
    body_parts: Vec<String>,
    tasks: Vec<String>,
    data_use_limitations: Vec<String>,
    subject_count: Option<i64>,
    newest: Option<i32>,
    title: String,
    aliases: Vec<String>,
    slug: String,
    doi: Option<String>,
    conditions: Vec<String>,
    annotation_objects: Vec<String>,
    challenge: Option<String>,
    summary: String,
    description: String,
    modified: i64,
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
        let mut sources = sqlx::query_as!(
            Source,
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
            index.push(source, vocabulary);
        }
        drop(sources);
        tx.commit().await?;
        index.text.finish();
        index.rows.shrink_to_fit();
        index.index_rows_from(0);
        Ok(index)
    }

    /// This index with the changes since its version applied: the changed datasets (and every
    /// dataset of a changed organization) are read again, their old rows marked dead and the
    /// published ones appended. `None` when the change log does not cover the gap (a restored
    /// database, a truncation, a log pruned since), and the whole catalog must be read.
    pub async fn updated(&self, db: &PgPool) -> sqlx::Result<Option<Self>> {
        let vocabulary = Vocabulary::builtin();
        let mut tx = db
            .begin_with("begin isolation level repeatable read, read only")
            .await?;
        let Some(changes) = super::db::catalog_changes_since(&mut tx, self.version).await? else {
            return Ok(None);
        };
        let sources = sqlx::query_as!(
            Source,
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
               and (d.id = any($1) or d.organization_id = any($2))
             order by lower(d.title), d.id"#,
            &changes.datasets,
            &changes.organizations,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut next = self.clone();
        next.version = changes.version;
        for id in changes
            .datasets
            .iter()
            .chain(sources.iter().map(|source| &source.id))
        {
            if let Some(row) = next.by_id.remove(id) {
                next.remove_row(row);
            }
        }
        let first = next.rows.len();
        for source in sources {
            next.push(source, vocabulary);
        }
        next.text.refresh();
        next.index_rows_from(first);
        Ok(Some(next))
    }

    /// Rows marked dead since the index was last read whole.
    pub fn dead_rows(&self) -> usize {
        self.rows.len() - self.live_rows
    }

    /// Marks a row dead: it matches no filter, text or identifier any more.
    fn remove_row(&mut self, row: u32) {
        let at = row as usize;
        self.live[at / 64] &= !(1 << (row % 64));
        self.live_rows -= 1;
        self.text.remove(row);
        if let Some(doi) = self.rows[at].doi_hash
            && self.by_doi.get(&doi) == Some(&row)
        {
            self.by_doi.remove(&doi);
        }
    }

    /// Appends a dataset as the next row: its facet values (made bitsets by
    /// [`Self::index_rows_from`]), its text, its identifiers.
    fn push(&mut self, source: Source, vocabulary: &Vocabulary) {
        let row_number = self.rows.len() as u32;
        let mut starts = [0u32; FACETS.len() + 1];
        let mut fact_concepts: Vec<u32> = Vec::new();
        for (slot, facet) in FACETS.iter().enumerate() {
            starts[slot] = self.values.len() as u32;
            let dictionary = &mut self.dictionaries[slot];
            let values = &mut self.values;
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
                    let id =
                        dictionary.id(&source.organization_slug, Some(&source.organization_name));
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
        starts[FACETS.len()] = self.values.len() as u32;
        self.starts.push(starts);
        self.by_id.insert(source.id, row_number);
        let doi_hash = source.doi.as_deref().map(hash);
        if let Some(doi) = doi_hash {
            self.by_doi.insert(doi, row_number);
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
        self.text.add(
            &Document {
                fields: [&names, &facts, &source.summary, &source.description],
                fact_concepts: &fact_concepts,
            },
            vocabulary,
        );
        let title = source.title.to_lowercase();
        self.rows.push(Row {
            id: source.id,
            subject_count: source.subject_count,
            newest: source.newest,
            modified: source.modified,
            title_hash: hash(&title),
            slug_hash: hash(&source.slug),
            doi_hash,
            title_key: title.into(),
            concepts: fact_concepts.into(),
        });
        self.live_rows += 1;
    }

    /// An index of nothing, at `version`.
    fn empty(version: i64) -> Self {
        Self {
            version,
            rows: Vec::new(),
            live: Vec::new(),
            live_rows: 0,
            by_title: Vec::new(),
            title_rank: Vec::new(),
            title_ordered: true,
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

    /// Published datasets.
    pub fn len(&self) -> usize {
        self.live_rows
    }

    pub fn is_empty(&self) -> bool {
        self.live_rows == 0
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
            hits = set_rows(&self.live)
                .filter(|row| !matches.excluded[*row as usize])
                .map(|row| TextHit {
                    row,
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
            .filter(|concept| self.text.concept_frequency(*concept) * 2 <= self.live_rows)
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
        alike.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(self.title_rank[a.row as usize].cmp(&self.title_rank[b.row as usize]))
        });
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

    /// Makes the rows from `first` on (just added) filterable and sortable: each row's facet values
    /// into the bitsets of the values (`facet_bits[slot][value]`), the row into the live rows and
    /// the orders by subjects, date and title.
    fn index_rows_from(&mut self, first: usize) {
        let words = self.rows.len().div_ceil(64);
        self.live.resize(words, 0);
        for row in first..self.rows.len() {
            self.live[row / 64] |= 1 << (row % 64);
        }
        self.facet_bits.resize_with(FACETS.len(), Vec::new);
        for (slot, dictionary) in self.dictionaries.iter().enumerate() {
            let bits = &mut self.facet_bits[slot];
            for value in bits.iter_mut() {
                value.resize(words, 0);
            }
            bits.resize_with(dictionary.values.len(), || vec![0u64; words]);
        }
        for (added, starts) in self.starts.iter().enumerate() {
            let row = first + added;
            for slot in 0..FACETS.len() {
                for value in &self.values[starts[slot] as usize..starts[slot + 1] as usize] {
                    self.facet_bits[slot][*value as usize][row / 64] |= 1 << (row % 64);
                }
            }
        }
        // The per-row values were only needed to build the bitsets.
        self.values = Vec::new();
        self.starts = Vec::new();
        let rows = &self.rows;
        let live = &self.live;
        let by_title = |a: &u32, b: &u32| {
            rows[*a as usize]
                .title_key
                .cmp(&rows[*b as usize].title_key)
                .then(rows[*a as usize].id.cmp(&rows[*b as usize].id))
        };
        let added = first as u32..rows.len() as u32;
        self.by_title = merged(&self.by_title, added.clone(), live, by_title);
        self.title_ordered = self.by_title.len() == rows.len()
            && self
                .by_title
                .iter()
                .enumerate()
                .all(|(at, row)| at == *row as usize);
        let mut title_rank = vec![u32::MAX; rows.len()];
        for (rank, row) in self.by_title.iter().enumerate() {
            title_rank[*row as usize] = rank as u32;
        }
        let rank = &title_rank;
        let by_subjects = |a: &u32, b: &u32| {
            rows[*b as usize]
                .subject_count
                .cmp(&rows[*a as usize].subject_count)
                .then(rank[*a as usize].cmp(&rank[*b as usize]))
        };
        let by_newest = |a: &u32, b: &u32| {
            rows[*b as usize]
                .newest
                .cmp(&rows[*a as usize].newest)
                .then(rank[*a as usize].cmp(&rank[*b as usize]))
        };
        self.by_subjects = merged(&self.by_subjects, added.clone(), live, by_subjects);
        self.by_newest = merged(&self.by_newest, added, live, by_newest);
        self.title_rank = title_rank;
    }

    /// A bitset with every live row set.
    fn all_rows(&self) -> Vec<u64> {
        self.live.clone()
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
                    b.score
                        .total_cmp(&a.score)
                        .then(self.title_rank[a.row as usize].cmp(&self.title_rank[b.row as usize]))
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
            (Sort::Relevance | Sort::Title, _) if self.title_ordered => {
                set_rows(&matches).skip(offset).take(wanted).collect()
            }
            (Sort::Relevance | Sort::Title, _) => self
                .by_title
                .iter()
                .copied()
                .filter(|row| is_set(*row))
                .skip(offset)
                .take(wanted)
                .collect(),
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

/// The live rows of `order` and the rows `added` (sorted by `compare` first), merged in the order
/// `compare` gives.
fn merged(
    order: &[u32],
    added: std::ops::Range<u32>,
    live: &[u64],
    compare: impl Fn(&u32, &u32) -> std::cmp::Ordering,
) -> Vec<u32> {
    let mut added: Vec<u32> = added.collect();
    added.sort_by(&compare);
    let is_live = |row: &u32| live[*row as usize / 64] & (1 << (row % 64)) != 0;
    let mut out = Vec::with_capacity(order.len() + added.len());
    let mut added = added.into_iter().peekable();
    for row in order.iter().filter(|row| is_live(row)) {
        while let Some(next) = added.next_if(|next| compare(next, row).is_lt()) {
            out.push(next);
        }
        out.push(*row);
    }
    out.extend(added);
    out
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

/// A search waits for an update of at most this many changed datasets to be applied (read your own
/// writes); larger changes are applied while searches read the previous snapshot.
const WAIT_FOR_AT_MOST: i64 = 256;
/// An index of at most this many datasets is brought up to date before every search, whatever the
/// change: updating it takes milliseconds.
const SMALL_CATALOG: usize = 10_000;
/// How long a search waits for an update at most.
const WAIT_AT_MOST: Duration = Duration::from_secs(2);
/// The whole catalog is read again (in the background) once this share of rows is dead.
const DEAD_SHARE_FOR_RELOAD: usize = 5;
/// The longest pause between two updates.
const MAX_PAUSE: Duration = Duration::from_millis(500);
/// How often the follower checks the catalog's version even without a notification.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// The current index of one app instance, kept current with the catalog's change log: a change
/// is applied to a copy of the index (changed rows only) which then replaces it, so searches never
/// wait for the whole catalog to be read (except the very first time).
pub struct IndexHandle {
    current: RwLock<Arc<CatalogIndex>>,
    /// Held while the index is read or updated: one update at a time.
    updating: Arc<Mutex<()>>,
    /// Set when the index may be behind; the updater runs until it finds it clear.
    behind: AtomicBool,
    /// The version of the installed snapshot, for searches waiting for an update.
    installed: watch::Sender<i64>,
}

impl Default for IndexHandle {
    fn default() -> Self {
        Self {
            current: RwLock::new(Arc::new(CatalogIndex::empty(-1))),
            updating: Arc::new(Mutex::new(())),
            behind: AtomicBool::new(false),
            installed: watch::channel(-1).0,
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

    /// The catalog version of the installed snapshot (-1 before the first read).
    pub fn installed_version(&self) -> i64 {
        *self.installed.borrow()
    }

    fn install(&self, fresh: Arc<CatalogIndex>) {
        crate::metrics::set_index(fresh.version, fresh.len(), std::time::SystemTime::now());
        let version = fresh.version;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        self.installed.send_replace(version);
    }

    /// The index for a search. The catalog's version (and how much changed since the snapshot) is
    /// read on every search: a change of a few datasets, and any change of a small catalog, is
    /// waited for, so that a search sees it once it is committed; a larger one is applied in the
    /// background while the search reads the previous snapshot.
    pub async fn current(self: &Arc<Self>, db: &PgPool) -> sqlx::Result<Arc<CatalogIndex>> {
        let snapshot = self.snapshot();
        let lag = super::db::catalog_lag(db, snapshot.version).await?;
        if lag.version == snapshot.version {
            return Ok(snapshot);
        }
        if snapshot.version < 0 {
            // Nothing to serve yet: the first read of the catalog is waited for.
            return self.load_first(db).await;
        }
        let mut installed = self.installed.subscribe();
        self.follow(db);
        if snapshot.len() <= SMALL_CATALOG || (lag.complete && lag.datasets <= WAIT_FOR_AT_MOST) {
            let target = lag.version;
            let waited =
                tokio::time::timeout(WAIT_AT_MOST, installed.wait_for(|v| *v >= target)).await;
            if waited.is_err() {
                tracing::warn!(
                    version = target,
                    "search index update is slow; serving the previous snapshot"
                );
            }
        }
        Ok(self.snapshot())
    }

    async fn load_first(self: &Arc<Self>, db: &PgPool) -> sqlx::Result<Arc<CatalogIndex>> {
        let guard = Arc::clone(&self.updating).lock_owned().await;
        let snapshot = self.snapshot();
        if snapshot.version >= 0 {
            return Ok(snapshot);
        }
        // Its own task, so that a request that gives up does not abandon a half-read index.
        let handle = Arc::clone(self);
        let db = db.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let fresh = Arc::new(CatalogIndex::load(&db).await?);
            handle.install(Arc::clone(&fresh));
            Ok::<_, sqlx::Error>(fresh)
        })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Brings the index up to date in the background (unless it was never read: the first search
    /// reads it). Several calls at once start one updater, which runs until nobody asked again.
    pub fn follow(self: &Arc<Self>, db: &PgPool) {
        self.behind.store(true, Ordering::Release);
        let Ok(guard) = Arc::clone(&self.updating).try_lock_owned() else {
            // The running updater sees `behind` and goes round again.
            return;
        };
        let handle = Arc::clone(self);
        let db = db.clone();
        tokio::spawn(async move {
            let mut guard = Some(guard);
            loop {
                while handle.behind.swap(false, Ordering::AcqRel) {
                    let started = Instant::now();
                    if let Err(error) = handle.update(&db).await {
                        tracing::warn!(%error, "search index update failed; retrying shortly");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        handle.behind.store(true, Ordering::Release);
                    }
                    // Under a stream of changes (a slow bulk import), updates take at most about
                    // half of one core: as long a pause as the update took, changes meanwhile
                    // gathered into the next.
                    tokio::time::sleep(started.elapsed().min(MAX_PAUSE)).await;
                }
                drop(guard.take());
                // Asked again between the last check and the release: go on if nobody else did.
                if !handle.behind.load(Ordering::Acquire) {
                    return;
                }
                match Arc::clone(&handle.updating).try_lock_owned() {
                    Ok(again) => guard = Some(again),
                    Err(_) => return,
                }
            }
        });
    }

    /// One update: the changed rows, or the whole catalog when the change log does not reach back
    /// or too many rows are dead.
    async fn update(&self, db: &PgPool) -> sqlx::Result<()> {
        let snapshot = self.snapshot();
        if snapshot.version < 0 {
            return Ok(());
        }
        let started = Instant::now();
        let whole = snapshot.dead_rows() * DEAD_SHARE_FOR_RELOAD > snapshot.rows.len().max(1000);
        let fresh = match (whole, snapshot.updated(db).await?) {
            (false, Some(updated)) => updated,
            _ => CatalogIndex::load(db).await?,
        };
        if fresh.version != snapshot.version {
            tracing::debug!(
                version = fresh.version,
                datasets = fresh.len(),
                dead = fresh.dead_rows(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "search index updated"
            );
            self.install(Arc::new(fresh));
        }
        Ok(())
    }

    /// Keeps the index current for as long as the process runs: on every catalog notification, and
    /// every second without one (a lost notification, or a connection pooler that does not pass
    /// them on).
    pub fn spawn_follower(self: &Arc<Self>, db: PgPool, catalog: Arc<CatalogWatch>) {
        let handle = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = catalog.changed() => {}
                    () = tokio::time::sleep(FOLLOW_EVERY) => {}
                }
                if handle.snapshot().version >= 0 {
                    handle.follow(&db);
                }
            }
        });
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
