//! The text half of the in-memory search index: an inverted index of every published dataset's words
//! in four fields (names, structured facts, summary, description) with positions, the concepts of the
//! radiology vocabulary found in them, and BM25F ranking of a parsed query over it.
//!
//! A query is a list of *units* that must all match (or, when few datasets match them all, as many as
//! possible): a word, a quoted phrase, a concept of the vocabulary (which matches its synonyms in the
//! text and the dataset's structured facts, narrower concepts included), or alternatives joined by
//! `OR`. A unit's score is BM25F: the field-weighted, length-normalised frequency of what it matched,
//! saturated, times its inverse document frequency; datasets matching more units rank first.

use std::collections::HashMap;
use std::sync::Arc;

use super::analysis;
use super::vocabulary::{ConceptKind, Found, Vocabulary, Word, words_of};

/// The fields of a search document, most telling first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Title, aliases and slug.
    Names = 0,
    /// Organization, modalities, body parts, tasks, conditions, annotation objects, challenge.
    Facts = 1,
    Summary = 2,
    Description = 3,
}

pub const FIELDS: usize = 4;

/// Positions of different fields never touch, so a phrase never spans two fields.
const FIELD_GAP: u32 = 1 << 16;

/// How a ranking weighs things (switchable for measuring what each part contributes).
#[derive(Clone, Copy, Debug)]
pub struct Ranking {
    /// Inverse document frequency: rare words count more.
    pub idf: bool,
    /// Words map to concepts of the vocabulary (synonyms, abbreviations, spellings, hierarchy).
    pub vocabulary: bool,
    /// Concepts match the datasets' structured facts.
    pub facts: bool,
    /// Field weights (names > facts > summary > description); without, every field weighs one.
    pub field_weights: bool,
}

impl Ranking {
    pub const FULL: Self = Self {
        idf: true,
        vocabulary: true,
        facts: true,
        field_weights: true,
    };
}

const WEIGHTS: [f32; FIELDS] = [4.0, 2.5, 1.2, 0.8];
const LENGTH_NORMALISATION: [f32; FIELDS] = [0.5, 0.3, 0.75, 0.75];
const K1: f32 = 1.2;
/// A concept found only through a narrower one (abdomen for a kidney dataset) counts this much.
const BROADER_WEIGHT: f32 = 0.5;
/// A word found only as a correction of a misspelt one counts this much.
const CORRECTION_WEIGHT: f32 = 0.8;
/// Words that say only that a dataset holds images: a dataset need not have them to match a query.
const FILLER_WORDS: &[&str] = &[
    "image",
    "images",
    "imaging",
    "picture",
    "pictures",
    "scan",
    "scans",
    "data",
    "dataset",
    "datasets",
    "collection",
    "collections",
    "database",
    "databases",
    "set",
    "sets",
    "study",
    "studies",
    "people",
    "patients",
    "patient",
    "subjects",
    "cases",
    "open",
    "public",
    "available",
    "download",
    "free",
];

/// A concept fewer datasets have than this is also looked for one step broader when few match.
const RARE_CONCEPT: usize = 10;

/// Most units of a query (further words are ignored).
pub const MAX_UNITS: usize = 32;

/// One posting: a row, its term frequency per field (one byte each) and where its positions start.
#[derive(Clone, Copy)]
struct Posting {
    row: u32,
    tfs: [u8; FIELDS],
    positions: u32,
}

/// Postings per chunk of a list.
const CHUNK: usize = 1024;

/// Up to [`CHUNK`] postings of a list, in row order, and the varint-coded position deltas of its word
/// postings.
#[derive(Clone, Default)]
struct Chunk {
    postings: Vec<Posting>,
    positions: Vec<u8>,
}

/// The postings of one word or concept, in row order, in chunks: every chunk but the last is full.
/// Chunks are shared between snapshots of the index, so an update that appends a row copies only
/// the last chunk of each list it touches.
#[derive(Clone, Default)]
struct PostingList {
    chunks: Vec<Arc<Chunk>>,
    len: usize,
}

impl PostingList {
    fn len(&self) -> usize {
        self.len
    }

    /// Every posting with the chunk holding its positions.
    fn iter(&self) -> impl Iterator<Item = (&Chunk, &Posting)> {
        self.chunks.iter().flat_map(|chunk| {
            chunk
                .postings
                .iter()
                .map(move |posting| (&**chunk, posting))
        })
    }

    /// The `at`-th posting with its chunk.
    fn get(&self, at: usize) -> (&Chunk, &Posting) {
        let chunk = &self.chunks[at / CHUNK];
        (chunk, &chunk.postings[at % CHUNK])
    }

    /// Appends a posting (its row after every row of the list) with its positions, ascending.
    fn push(&mut self, row: u32, tfs: [u8; FIELDS], positions: &[u32]) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Chunk::default()));
        }
        let chunk = Arc::make_mut(self.chunks.last_mut().expect("a chunk was just ensured"));
        let start = if positions.is_empty() {
            u32::MAX
        } else {
            chunk.positions.len() as u32
        };
        let mut previous = 0;
        for position in positions {
            push_varint(&mut chunk.positions, position - previous);
            previous = *position;
        }
        chunk.postings.push(Posting {
            row,
            tfs,
            positions: start,
        });
        self.len += 1;
    }
}

/// A document to index: its four fields' text and the concepts of its structured facts.
pub struct Document<'a> {
    pub fields: [&'a str; FIELDS],
    pub fact_concepts: &'a [u32],
}

/// The inverted index. Rows are appended; a row that changed or left the catalog is marked dead
/// (skipped by every match and left out of the statistics) and its replacement appended, until the
/// whole index is built again.
#[derive(Clone, Default)]
pub struct InvertedIndex {
    words: HashMap<Arc<str>, u32>,
    /// Concept → list of its exact occurrences, and of occurrences through a narrower concept.
    concept_exact: HashMap<u32, u32>,
    concept_broad: HashMap<u32, u32>,
    lists: Vec<Arc<PostingList>>,
    /// Rows marked dead, one bit each, and how many.
    dead: Vec<u64>,
    dead_rows: usize,
    lengths: Vec<[u16; FIELDS]>,
    total_lengths: [u64; FIELDS],
    /// Per list: whether the word occurs in some dataset's names.
    in_names: Vec<bool>,
    /// The words of dataset names (without digits) by their length in characters, for corrections.
    name_words: Vec<Vec<(Arc<str>, u32)>>,
    /// Per row and field: the field's weight over its BM25 length normalisation.
    norms: Vec<[f32; FIELDS]>,
    /// While building: each word as written, lower-cased and as a term.
    analysed: HashMap<Box<str>, (String, Option<String>)>,
}

/// What one field of one document contributes, before it is merged into postings.
struct Pending {
    tfs: [u8; FIELDS],
    positions: Vec<u32>,
}

fn push_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u32 {
    let mut value = 0u32;
    let mut shift = 0;
    while let Some(byte) = bytes.get(*at) {
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    value
}

impl InvertedIndex {
    /// Rows, dead ones included (row numbers run below this).
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    /// Rows not marked dead: the documents the statistics count.
    pub fn live_rows(&self) -> usize {
        self.rows() - self.dead_rows
    }

    fn is_dead(&self, row: u32) -> bool {
        self.dead_rows > 0
            && self
                .dead
                .get(row as usize / 64)
                .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }

    /// Marks a row dead: it matches nothing from now on.
    pub fn remove(&mut self, row: u32) {
        let at = row as usize;
        if at >= self.rows() || self.is_dead(row) {
            return;
        }
        if self.dead.len() <= at / 64 {
            self.dead.resize(at / 64 + 1, 0);
        }
        self.dead[at / 64] |= 1 << (row % 64);
        self.dead_rows += 1;
        for (field, length) in self.lengths[at].iter().enumerate() {
            self.total_lengths[field] -= u64::from(*length);
        }
    }

    fn list_for_word(&mut self, word: &str) -> u32 {
        if let Some(list) = self.words.get(word) {
            return *list;
        }
        let list = self.lists.len() as u32;
        self.lists.push(Arc::default());
        self.in_names.push(false);
        self.words.insert(word.into(), list);
        list
    }

    fn list_for_concept(&mut self, concept: u32, broad: bool) -> u32 {
        let map = if broad {
            &mut self.concept_broad
        } else {
            &mut self.concept_exact
        };
        if let Some(list) = map.get(&concept) {
            return *list;
        }
        let list = self.lists.len() as u32;
        map.insert(concept, list);
        self.lists.push(Arc::default());
        self.in_names.push(false);
        list
    }

    /// Adds the next row (rows are added in order, from 0; after [`Self::finish`] too, followed by
    /// [`Self::refresh`]).
    pub fn add(&mut self, document: &Document<'_>, vocabulary: &Vocabulary) {
        let row = self.lengths.len() as u32;
        let mut words: HashMap<String, Pending> = HashMap::new();
        let mut concepts: HashMap<(u32, bool), [u8; FIELDS]> = HashMap::new();
        let mut lengths = [0u16; FIELDS];
        for (field, text) in document.fields.iter().enumerate() {
            let base = field as u32 * FIELD_GAP;
            let mut length = 0u32;
            let mut prepared: Vec<Word> = Vec::new();
            for (position, (_, word)) in analysis::words(text).enumerate() {
                let position = position as u32;
                if position >= FIELD_GAP - 1 {
                    break;
                }
                // Words repeat across datasets: each distinct word is analysed once.
                let (lower, term) = match self.analysed.get(word) {
                    Some(known) => known.clone(),
                    None => {
                        let lower = word.to_lowercase();
                        let term = analysis::term(&lower);
                        let known = (lower, term);
                        self.analysed.insert(word.into(), known.clone());
                        known
                    }
                };
                prepared.push(Word {
                    term: term.clone(),
                    capitals: word.chars().any(char::is_alphabetic)
                        && !word.chars().any(char::is_lowercase),
                });
                let Some(term) = term else {
                    continue;
                };
                length += 1;
                for term in std::iter::once(term).chain(split_digits(&lower)) {
                    let entry = words.entry(term).or_insert_with(|| Pending {
                        tfs: [0; FIELDS],
                        positions: Vec::new(),
                    });
                    entry.tfs[field] = entry.tfs[field].saturating_add(1);
                    entry.positions.push(base + position);
                }
            }
            if field == Field::Names as usize {
                // "PI-CAI" is also found as "picai", "CT-ORG" as "ctorg".
                for (position, joined) in joined_names(text) {
                    let entry = words.entry(joined).or_insert_with(|| Pending {
                        tfs: [0; FIELDS],
                        positions: Vec::new(),
                    });
                    entry.tfs[field] = entry.tfs[field].saturating_add(1);
                    entry.positions.push(base + position);
                }
            }
            lengths[field] = length.min(u32::from(u16::MAX)) as u16;
            for found in vocabulary.find_all(&prepared) {
                for concept in found.concepts {
                    bump(&mut concepts, (concept, false), field);
                    for ancestor in &vocabulary.concept(concept).ancestors {
                        bump(&mut concepts, (*ancestor, true), field);
                    }
                }
            }
        }
        for concept in document.fact_concepts {
            bump(&mut concepts, (*concept, false), Field::Facts as usize);
            for ancestor in &vocabulary.concept(*concept).ancestors {
                bump(&mut concepts, (*ancestor, true), Field::Facts as usize);
            }
        }
        for (word, pending) in words {
            let list = self.list_for_word(&word);
            if pending.tfs[Field::Names as usize] > 0 {
                self.note_name_word(&word, list);
            }
            let mut positions = pending.positions;
            positions.sort_unstable();
            positions.dedup();
            Arc::make_mut(&mut self.lists[list as usize]).push(row, pending.tfs, &positions);
        }
        for ((concept, broad), tfs) in concepts {
            let list = self.list_for_concept(concept, broad);
            Arc::make_mut(&mut self.lists[list as usize]).push(row, tfs, &[]);
        }
        for (field, length) in lengths.iter().enumerate() {
            self.total_lengths[field] += u64::from(*length);
        }
        self.lengths.push(lengths);
    }

    /// Records that a word occurs in some dataset's name (for corrections of misspelt names).
    fn note_name_word(&mut self, word: &str, list: u32) {
        if std::mem::replace(&mut self.in_names[list as usize], true)
            || word.chars().any(|c| c.is_ascii_digit())
        {
            return;
        }
        let length = word.chars().count();
        if self.name_words.len() <= length {
            self.name_words.resize_with(length + 1, Vec::new);
        }
        self.name_words[length].push((word.into(), list));
    }

    /// Frees spare capacity once every row is in, and computes the length norms.
    pub fn finish(&mut self) {
        for list in &mut self.lists {
            for chunk in &mut Arc::make_mut(list).chunks {
                let chunk = Arc::make_mut(chunk);
                chunk.postings.shrink_to_fit();
                chunk.positions.shrink_to_fit();
            }
        }
        self.lengths.shrink_to_fit();
        self.refresh();
    }

    /// After rows were added or marked dead: the length norms over the live rows again.
    pub fn refresh(&mut self) {
        self.analysed = HashMap::new();
        let rows = self.live_rows().max(1) as f32;
        let averages: Vec<f32> = (0..FIELDS)
            .map(|field| (self.total_lengths[field] as f32 / rows).max(1.0))
            .collect();
        self.norms = self
            .lengths
            .iter()
            .map(|lengths| {
                let mut norms = [0f32; FIELDS];
                for field in 0..FIELDS {
                    let b = LENGTH_NORMALISATION[field];
                    let norm = 1.0 - b + b * f32::from(lengths[field]) / averages[field];
                    norms[field] = WEIGHTS[field] / norm;
                }
                norms
            })
            .collect();
    }

    /// A posting's positions, into `out` (cleared first).
    fn positions_into(chunk: &Chunk, posting: &Posting, out: &mut Vec<u32>) {
        out.clear();
        let count: u32 = posting.tfs.iter().map(|tf| u32::from(*tf)).sum();
        let mut at = posting.positions as usize;
        let mut position = 0;
        for _ in 0..count {
            position += read_varint(&chunk.positions, &mut at);
            out.push(position);
        }
    }

    fn word_list(&self, term: &str) -> Option<&PostingList> {
        self.words
            .get(term)
            .map(|list| &*self.lists[*list as usize])
    }

    /// Postings of live rows in a list.
    fn live_len(&self, list: &PostingList) -> usize {
        if self.dead_rows == 0 {
            return list.len();
        }
        list.iter()
            .filter(|(_, posting)| !self.is_dead(posting.row))
            .count()
    }

    /// Number of documents with a concept (exactly, not through a narrower one).
    pub fn concept_frequency(&self, concept: u32) -> usize {
        self.concept_exact
            .get(&concept)
            .map_or(0, |list| self.live_len(&self.lists[*list as usize]))
    }

    /// Number of documents containing a word.
    pub fn word_frequency(&self, term: &str) -> usize {
        self.word_list(term).map_or(0, |list| self.live_len(list))
    }

    /// Words of dataset names close to a misspelt one (Damerau–Levenshtein 1, or 2 for long words),
    /// most frequent first: names that look alike.
    fn corrections(&self, term: &str) -> Vec<String> {
        let length = term.chars().count();
        let limit = match length {
            0..=3 => return Vec::new(),
            4..=7 => 1,
            _ => 2,
        };
        let first = term.chars().next();
        let lengths = length.saturating_sub(limit)..=(length + limit);
        let mut found: Vec<(usize, usize, &str)> = lengths
            .filter_map(|length| self.name_words.get(length))
            .flatten()
            .filter(|(word, _)| word.chars().next() == first || limit > 1)
            .filter_map(|(word, list)| {
                analysis::edit_distance(term, word, limit).map(|distance| {
                    (
                        distance,
                        self.live_len(&self.lists[*list as usize]),
                        &**word,
                    )
                })
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        found
            .into_iter()
            .take(3)
            .map(|(_, _, w)| w.to_owned())
            .collect()
    }

    /// The BM25F-normalised frequency of a posting.
    fn weighted_tf(&self, posting: &Posting, tfs: [u8; FIELDS], ranking: Ranking) -> f32 {
        if ranking.field_weights {
            // The usual case: each field's weight over its length normalisation, computed once.
            let norms = &self.norms[posting.row as usize];
            return (0..FIELDS)
                .map(|field| f32::from(tfs[field]) * norms[field])
                .sum();
        }
        let lengths = &self.lengths[posting.row as usize];
        let rows = self.live_rows().max(1) as f32;
        let mut total = 0.0;
        for field in 0..FIELDS {
            if tfs[field] == 0 {
                continue;
            }
            let average = (self.total_lengths[field] as f32 / rows).max(1.0);
            let b = LENGTH_NORMALISATION[field];
            let norm = 1.0 - b + b * f32::from(lengths[field]) / average;
            let weight = if ranking.field_weights {
                WEIGHTS[field]
            } else {
                1.0
            };
            total += weight * f32::from(tfs[field]) / norm;
        }
        total
    }
}

fn bump(concepts: &mut HashMap<(u32, bool), [u8; FIELDS]>, key: (u32, bool), field: usize) {
    let tfs = concepts.entry(key).or_insert([0; FIELDS]);
    tfs[field] = tfs[field].saturating_add(1);
}

/// Names written with inner hyphens, dots or slashes ("PI-CAI", "CT-ORG", "MIMIC-CXR"), joined into one
/// word, with the position of their first part.
fn joined_names(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut position = 0u32;
    for chunk in text.split_whitespace() {
        let parts: Vec<&str> = analysis::words(chunk).map(|(_, w)| w).collect();
        if parts.len() > 1 && parts.len() <= 4 {
            out.push((position, parts.concat().to_lowercase()));
        }
        position += parts.len() as u32;
    }
    out
}

/// The letter part and the number part of a word that has both ("kits19" → "kit", "19"), so that a
/// name found with its number is found without it.
fn split_digits(word: &str) -> Vec<String> {
    let letters = word.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.len() == word.len()
        || letters.len() < 2
        || letters.chars().any(|c| c.is_ascii_digit())
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(term) = analysis::term(letters) {
        out.push(term);
    }
    out.push(word[letters.len()..].to_owned());
    out
}

/// One way a unit can match.
#[derive(Clone, Debug, PartialEq)]
enum Alternative {
    Word {
        term: String,
        weight: f32,
    },
    /// Words that must follow each other (offsets relative to the first).
    Phrase {
        terms: Vec<(String, u32)>,
    },
    Concept {
        concept: u32,
    },
}

/// Something the query looks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    alternatives: Vec<Alternative>,
    /// The words of the query this unit stands for.
    pub text: String,
    /// Whether the unit only corrects a misspelt word.
    pub corrected: bool,
    /// Whether a dataset may lack it and still match "every word" (words every dataset of images
    /// could say of itself: "scans", "images", "dataset").
    pub optional: bool,
}

impl Unit {
    /// The concepts this unit recognised (for chips).
    pub fn concepts(&self) -> Vec<u32> {
        self.alternatives
            .iter()
            .filter_map(|alternative| match alternative {
                Alternative::Concept { concept } => Some(*concept),
                _ => None,
            })
            .collect()
    }

    /// The index words this unit matches, for highlighting.
    pub fn words(&self) -> Vec<&str> {
        self.alternatives
            .iter()
            .flat_map(|alternative| match alternative {
                Alternative::Word { term, .. } => vec![term.as_str()],
                Alternative::Phrase { terms } => terms.iter().map(|(t, _)| t.as_str()).collect(),
                Alternative::Concept { .. } => Vec::new(),
            })
            .collect()
    }
}

/// A parsed query: units to find, units to exclude.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub units: Vec<Unit>,
    pub excluded: Vec<Unit>,
    /// Whether the researcher used `OR`, `-` or quotes (then "some of the words" is not offered).
    pub has_operators: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.units.is_empty() && self.excluded.is_empty()
    }

    pub fn has_phrase(&self) -> bool {
        self.units.iter().any(|unit| {
            unit.alternatives
                .iter()
                .any(|a| matches!(a, Alternative::Phrase { .. }))
        })
    }

    /// This plan's units and, for each form of several words it read as one concept, its words read
    /// one by one (`words` is the same text planned word by word): what a widened search looks for.
    /// A rare concept's directly broader ones count too ("HNSCC" also finds head and neck cancer);
    /// `frequency` tells how many datasets have a concept.
    pub fn widened(
        &self,
        words: Plan,
        vocabulary: &Vocabulary,
        frequency: impl Fn(u32) -> usize,
    ) -> Plan {
        let mut plan = self.clone();
        for unit in words.units {
            let known = plan.units.iter().any(|u| u.text == unit.text);
            if !known && plan.units.len() < MAX_UNITS {
                plan.units.push(unit);
            }
        }
        for unit in &self.units {
            let broader: Vec<Alternative> = unit
                .concepts()
                .into_iter()
                .filter(|concept| frequency(*concept) < RARE_CONCEPT)
                .flat_map(|concept| vocabulary.concept(concept).broader.clone())
                .map(|concept| Alternative::Concept { concept })
                .collect();
            if !broader.is_empty() && plan.units.len() < MAX_UNITS {
                plan.units.push(Unit {
                    alternatives: broader,
                    text: String::new(),
                    corrected: false,
                    optional: true,
                });
            }
        }
        plan
    }

    /// A plan that looks for any of `concepts` (to find datasets like one whose concepts they are).
    pub fn of_concepts(concepts: &[u32]) -> Plan {
        Plan {
            units: concepts
                .iter()
                .take(MAX_UNITS)
                .map(|concept| Unit {
                    alternatives: vec![Alternative::Concept { concept: *concept }],
                    text: String::new(),
                    corrected: false,
                    optional: true,
                })
                .collect(),
            excluded: Vec::new(),
            has_operators: false,
        }
    }

    /// Every concept the query recognised.
    pub fn concepts(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for unit in &self.units {
            for concept in unit.concepts() {
                if !out.contains(&concept) {
                    out.push(concept);
                }
            }
        }
        out
    }

    /// The terms to highlight.
    pub fn highlight_terms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for unit in &self.units {
            for word in unit.words() {
                if !out.iter().any(|w| w == word) {
                    out.push(word.to_owned());
                }
            }
        }
        out
    }
}

/// A piece of query syntax.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Words(String),
    Quoted(String),
    Or,
}

/// Splits web-search syntax: `"quoted phrases"`, `-exclusions`, `OR` between alternatives.
fn pieces(text: &str) -> Vec<(bool, Piece)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<(bool, Piece)>| {
        for word in current.split_whitespace() {
            if word.eq_ignore_ascii_case("or") {
                out.push((false, Piece::Or));
            } else if let Some(excluded) = word.strip_prefix('-').filter(|w| !w.is_empty()) {
                out.push((true, Piece::Words(excluded.to_owned())));
            } else {
                out.push((false, Piece::Words(word.to_owned())));
            }
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        if c == '"' {
            let negated = current.ends_with('-')
                && current[..current.len() - 1]
                    .chars()
                    .last()
                    .is_none_or(char::is_whitespace);
            if negated {
                current.pop();
            }
            flush(&mut current, &mut out);
            let mut quoted = String::new();
            for next in chars.by_ref() {
                if next == '"' {
                    break;
                }
                quoted.push(next);
            }
            if !quoted.trim().is_empty() {
                out.push((negated, Piece::Quoted(quoted)));
            }
        } else {
            current.push(c);
        }
    }
    flush(&mut current, &mut out);
    out
}

impl InvertedIndex {
    /// Parses a researcher's text into units.
    pub fn plan(&self, text: &str, vocabulary: &Vocabulary, ranking: Ranking) -> Plan {
        self.plan_with(text, vocabulary, ranking, false)
    }

    /// The plan with every word read on its own ("report generation" as report and generation),
    /// for widening a search that found few datasets.
    pub fn plan_words(&self, text: &str, vocabulary: &Vocabulary, ranking: Ranking) -> Plan {
        self.plan_with(text, vocabulary, ranking, true)
    }

    fn plan_with(
        &self,
        text: &str,
        vocabulary: &Vocabulary,
        ranking: Ranking,
        split: bool,
    ) -> Plan {
        let mut plan = Plan::default();
        // Items in order; an OR joins the unit before it with the one after it.
        let mut groups: Vec<(bool, Vec<Unit>)> = Vec::new();
        let mut join_next = false;
        let mut run: Vec<String> = Vec::new();
        let pieces = pieces(text);
        plan.has_operators = pieces
            .iter()
            .any(|(negated, piece)| *negated || !matches!(piece, Piece::Words(_)));
        let flush_run =
            |run: &mut Vec<String>, groups: &mut Vec<(bool, Vec<Unit>)>, join_next: &mut bool| {
                if run.is_empty() {
                    return;
                }
                let joined = run.join(" ");
                run.clear();
                let units = self.units_of_words(&joined, vocabulary, ranking, split);
                for (position, unit) in units.into_iter().enumerate() {
                    if position == 0 && *join_next && !groups.is_empty() {
                        groups.last_mut().expect("a group").1.push(unit);
                    } else {
                        groups.push((false, vec![unit]));
                    }
                }
                *join_next = false;
            };
        for (negated, piece) in pieces {
            match piece {
                Piece::Or => {
                    flush_run(&mut run, &mut groups, &mut join_next);
                    join_next = true;
                }
                Piece::Words(word) if !negated && !join_next => run.push(word),
                Piece::Words(word) => {
                    flush_run(&mut run, &mut groups, &mut join_next);
                    let units = self.units_of_words(&word, vocabulary, ranking, split);
                    push_units(&mut groups, units, negated, &mut join_next);
                }
                Piece::Quoted(phrase) => {
                    flush_run(&mut run, &mut groups, &mut join_next);
                    let units = phrase_unit(&phrase).into_iter().collect();
                    push_units(&mut groups, units, negated, &mut join_next);
                }
            }
        }
        flush_run(&mut run, &mut groups, &mut join_next);
        for (negated, units) in groups {
            let mut merged = Unit {
                alternatives: Vec::new(),
                text: units
                    .iter()
                    .map(|u| u.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" OR "),
                corrected: units.iter().all(|u| u.corrected),
                optional: units.iter().all(|u| u.optional),
            };
            for unit in units {
                merged.alternatives.extend(unit.alternatives);
            }
            if merged.alternatives.is_empty() {
                continue;
            }
            if negated {
                plan.excluded.push(merged);
            } else if plan.units.len() < MAX_UNITS {
                plan.units.push(merged);
            }
        }
        plan
    }

    /// Units for plain words: concepts (longest form first) and the remaining words.
    fn units_of_words(
        &self,
        text: &str,
        vocabulary: &Vocabulary,
        ranking: Ranking,
        split: bool,
    ) -> Vec<Unit> {
        let original: Vec<&str> = analysis::words(text).map(|(_, w)| w).collect();
        let prepared = words_of(text);
        let found = match (ranking.vocabulary, split) {
            (false, _) => Vec::new(),
            (true, false) => vocabulary.find(&prepared),
            (true, true) => (0..prepared.len())
                .flat_map(|at| {
                    vocabulary
                        .find(&prepared[at..=at])
                        .into_iter()
                        .map(move |found| Found {
                            start: at,
                            end: at + 1,
                            ..found
                        })
                })
                .collect(),
        };
        let mut units = Vec::new();
        let mut next = 0;
        let mut found = found.into_iter().peekable();
        while next < prepared.len() {
            if let Some(hit) = found.next_if(|hit| hit.start == next) {
                let text = original[hit.start..hit.end].join(" ");
                // The words as typed count too, so that a dataset saying them ranks first.
                let literal = literal_alternative(&prepared[hit.start..hit.end]);
                for mut unit in concept_units(&hit.concepts, hit.combination, vocabulary, &text) {
                    unit.alternatives.extend(literal.clone());
                    units.push(unit);
                }
                next = hit.end;
                continue;
            }
            if let Some(term) = &prepared[next].term {
                units.push(self.word_unit(term, original[next]));
            }
            next += 1;
        }
        units
    }

    /// A unit for one word: the word, and its corrections when no dataset has it.
    fn word_unit(&self, term: &str, original: &str) -> Unit {
        let mut alternatives = vec![Alternative::Word {
            term: term.to_owned(),
            weight: 1.0,
        }];
        let mut corrected = false;
        if self.word_frequency(term) == 0 {
            for correction in self.corrections(term) {
                corrected = true;
                alternatives.push(Alternative::Word {
                    term: correction,
                    weight: CORRECTION_WEIGHT,
                });
            }
        }
        Unit {
            alternatives,
            text: original.to_owned(),
            corrected,
            optional: FILLER_WORDS.contains(&original.to_lowercase().as_str()),
        }
    }
}

fn push_units(
    groups: &mut Vec<(bool, Vec<Unit>)>,
    units: Vec<Unit>,
    negated: bool,
    join_next: &mut bool,
) {
    for (position, unit) in units.into_iter().enumerate() {
        if position == 0 && *join_next && !groups.is_empty() && !negated {
            groups.last_mut().expect("a group").1.push(unit);
        } else {
            groups.push((negated, vec![unit]));
        }
    }
    *join_next = false;
}

/// The units of a recognised form: one per kind of concept (a form naming two concepts of one kind,
/// such as "radiograph" for DX and CR, matches either), or one per concept for a form that names a
/// combination ("PET/CT": PET and CT).
fn concept_units(
    concepts: &[u32],
    combination: bool,
    vocabulary: &Vocabulary,
    text: &str,
) -> Vec<Unit> {
    let mut by_kind: Vec<(ConceptKind, Vec<u32>)> = Vec::new();
    for concept in concepts {
        let kind = vocabulary.concept(*concept).kind;
        match by_kind.iter_mut().find(|(k, _)| *k == kind && !combination) {
            Some((_, list)) => list.push(*concept),
            None => by_kind.push((kind, vec![*concept])),
        }
    }
    by_kind
        .into_iter()
        .map(|(_, concepts)| Unit {
            alternatives: concepts
                .into_iter()
                .map(|concept| Alternative::Concept { concept })
                .collect(),
            text: text.to_owned(),
            corrected: false,
            optional: false,
        })
        .collect()
}

/// The words of a recognised form as a word or phrase alternative.
fn literal_alternative(words: &[Word]) -> Option<Alternative> {
    let mut terms = Vec::new();
    for (offset, word) in words.iter().enumerate() {
        if let Some(term) = &word.term {
            terms.push((term.clone(), offset as u32));
        }
    }
    match terms.len() {
        0 => None,
        1 => Some(Alternative::Word {
            term: terms.remove(0).0,
            weight: 1.0,
        }),
        _ => {
            let first = terms[0].1;
            Some(Alternative::Phrase {
                terms: terms.into_iter().map(|(t, o)| (t, o - first)).collect(),
            })
        }
    }
}

fn phrase_unit(phrase: &str) -> Option<Unit> {
    let tokens = analysis::tokens(phrase, 0);
    let first = tokens.first()?.position;
    let terms: Vec<(String, u32)> = tokens
        .iter()
        .map(|t| (t.term.clone(), t.position - first))
        .collect();
    let alternative = if terms.len() == 1 {
        Alternative::Word {
            term: terms[0].0.clone(),
            weight: 1.0,
        }
    } else {
        Alternative::Phrase { terms }
    };
    Some(Unit {
        alternatives: vec![alternative],
        text: format!("\"{}\"", phrase.trim()),
        corrected: false,
        optional: false,
    })
}

/// How the datasets matched a plan.
pub struct Matches {
    /// Score per row (0 where nothing matched).
    pub scores: Vec<f32>,
    /// Units matched per row, one bit per unit.
    pub matched: Vec<u32>,
    /// Rows each unit matched.
    pub unit_frequencies: Vec<usize>,
    /// Rows an exclusion removes.
    pub excluded: Vec<bool>,
    /// Units matched only through a correction, per row.
    pub corrected: Vec<u8>,
    pub units: usize,
    /// Live rows (the number of documents the frequencies are out of).
    pub live_rows: usize,
}

impl Matches {
    /// The units a dataset must match to match "every word": all but those most datasets have
    /// ("dataset", "scans"), which only add to the score — unless every unit is that common.
    pub fn required(&self, plan: &Plan) -> u32 {
        let rows = self.live_rows;
        let all = if self.units >= 32 {
            u32::MAX
        } else {
            (1u32 << self.units) - 1
        };
        let common = self
            .unit_frequencies
            .iter()
            .enumerate()
            .filter(|(unit, df)| **df * 2 > rows || plan.units[*unit].optional)
            .fold(0u32, |mask, (unit, _)| mask | 1 << unit);
        if common == all { all } else { all & !common }
    }
}

impl InvertedIndex {
    /// Scores every row against the plan.
    pub fn evaluate(&self, plan: &Plan, vocabulary: &Vocabulary, ranking: Ranking) -> Matches {
        let rows = self.rows();
        let live_rows = self.live_rows();
        let mut matches = Matches {
            scores: vec![0.0; rows],
            matched: vec![0; rows],
            unit_frequencies: Vec::with_capacity(plan.units.len()),
            excluded: vec![false; rows],
            corrected: vec![0; rows],
            units: plan.units.len(),
            live_rows,
        };
        let mut frequency = vec![0f32; rows];
        let mut only_corrected = vec![false; rows];
        let mut touched: Vec<u32> = Vec::new();
        for (number, unit) in plan.units.iter().enumerate() {
            self.accumulate(
                unit,
                ranking,
                &mut frequency,
                &mut touched,
                &mut only_corrected,
            );
            matches.unit_frequencies.push(touched.len());
            let df = touched.len() as f32;
            let idf = if ranking.idf {
                (1.0 + (live_rows as f32 - df + 0.5) / (df + 0.5)).ln()
            } else {
                1.0
            };
            let unit_weight = if unit.concepts().is_empty() { 1.0 } else { 2.0 };
            for row in touched.drain(..) {
                let tf = std::mem::take(&mut frequency[row as usize]);
                let row = row as usize;
                matches.scores[row] += unit_weight * idf * tf * (K1 + 1.0) / (K1 + tf);
                matches.matched[row] |= 1 << number;
                if std::mem::take(&mut only_corrected[row]) {
                    matches.corrected[row] += 1;
                }
            }
        }
        for unit in &plan.excluded {
            self.accumulate(
                unit,
                ranking,
                &mut frequency,
                &mut touched,
                &mut only_corrected,
            );
            for row in touched.drain(..) {
                frequency[row as usize] = 0.0;
                only_corrected[row as usize] = false;
                matches.excluded[row as usize] = true;
            }
        }
        let _ = vocabulary;
        matches
    }

    /// Adds a unit's weighted frequency per row into `frequency`, listing the rows it touched, and
    /// marks in `only_corrected` the rows found only through corrections of a misspelt word.
    fn accumulate(
        &self,
        unit: &Unit,
        ranking: Ranking,
        frequency: &mut [f32],
        touched: &mut Vec<u32>,
        only_corrected: &mut [bool],
    ) {
        let mut add = |row: u32, value: f32, corrected: bool| {
            if self.is_dead(row) {
                return;
            }
            let at = row as usize;
            if frequency[at] == 0.0 {
                touched.push(row);
                only_corrected[at] = corrected;
            } else if !corrected {
                only_corrected[at] = false;
            }
            frequency[at] += value.max(f32::MIN_POSITIVE);
        };
        for alternative in &unit.alternatives {
            match alternative {
                Alternative::Word { term, weight } => {
                    let corrected = *weight < 1.0;
                    if let Some(list) = self.word_list(term) {
                        for (_, posting) in list.iter() {
                            add(
                                posting.row,
                                weight * self.weighted_tf(posting, posting.tfs, ranking),
                                corrected,
                            );
                        }
                    }
                }
                Alternative::Phrase { terms } => {
                    for (row, tfs) in self.phrase_matches(terms) {
                        let posting = Posting {
                            row,
                            tfs,
                            positions: 0,
                        };
                        add(row, self.weighted_tf(&posting, tfs, ranking), false);
                    }
                }
                Alternative::Concept { concept } => {
                    for (map, weight) in [
                        (&self.concept_exact, 1.0),
                        (&self.concept_broad, BROADER_WEIGHT),
                    ] {
                        let Some(list) = map.get(concept) else {
                            continue;
                        };
                        for (_, posting) in self.lists[*list as usize].iter() {
                            let mut tfs = posting.tfs;
                            if !ranking.facts {
                                tfs[Field::Facts as usize] = 0;
                                if tfs.iter().all(|tf| *tf == 0) {
                                    continue;
                                }
                            }
                            add(
                                posting.row,
                                weight * self.weighted_tf(posting, tfs, ranking),
                                false,
                            );
                        }
                    }
                }
            }
        }
    }

    /// Rows where the terms follow each other at their offsets, with the phrase's count per field.
    fn phrase_matches(&self, terms: &[(String, u32)]) -> Vec<(u32, [u8; FIELDS])> {
        let mut lists: Vec<(&PostingList, u32)> = Vec::with_capacity(terms.len());
        for (term, offset) in terms {
            match self.word_list(term) {
                Some(list) => lists.push((list, *offset)),
                None => return Vec::new(),
            }
        }
        // Walk the shortest list; the others follow with cursors (every list is in row order).
        lists.sort_by_key(|(list, _)| list.len());
        let (shortest, shortest_offset) = lists[0];
        let mut cursors = vec![0usize; lists.len()];
        let mut starts: Vec<u32> = Vec::new();
        let mut others: Vec<(Vec<u32>, u32)> =
            lists[1..].iter().map(|(_, o)| (Vec::new(), *o)).collect();
        let mut out = Vec::new();
        'rows: for (chunk, posting) in shortest.iter() {
            if self.is_dead(posting.row) {
                continue;
            }
            for (number, (list, _)) in lists.iter().enumerate().skip(1) {
                let cursor = &mut cursors[number];
                while *cursor < list.len() && list.get(*cursor).1.row < posting.row {
                    *cursor += 1;
                }
                if *cursor >= list.len() || list.get(*cursor).1.row != posting.row {
                    continue 'rows;
                }
            }
            for (number, (list, _)) in lists.iter().enumerate().skip(1) {
                let (other_chunk, other) = list.get(cursors[number]);
                Self::positions_into(other_chunk, other, &mut others[number - 1].0);
            }
            Self::positions_into(chunk, posting, &mut starts);
            let mut tfs = [0u8; FIELDS];
            for start in &starts {
                let Some(origin) = start.checked_sub(shortest_offset) else {
                    continue;
                };
                let all = others
                    .iter()
                    .all(|(positions, offset)| positions.binary_search(&(origin + offset)).is_ok());
                if all {
                    let field = ((origin / FIELD_GAP) as usize).min(FIELDS - 1);
                    tfs[field] = tfs[field].saturating_add(1);
                }
            }
            if tfs.iter().any(|tf| *tf > 0) {
                out.push((posting.row, tfs));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::vocabulary::tests::SAMPLE;

    fn vocabulary() -> Vocabulary {
        Vocabulary::parse(SAMPLE).unwrap()
    }

    fn index(v: &Vocabulary, docs: &[([&str; FIELDS], Vec<&str>)]) -> InvertedIndex {
        let mut index = InvertedIndex::default();
        for (fields, facts) in docs {
            let concepts: Vec<u32> = facts.iter().map(|id| v.by_id(id).unwrap()).collect();
            index.add(
                &Document {
                    fields: *fields,
                    fact_concepts: &concepts,
                },
                v,
            );
        }
        index.finish();
        index
    }

    fn ranked(index: &InvertedIndex, v: &Vocabulary, text: &str) -> Vec<usize> {
        let plan = index.plan(text, v, Ranking::FULL);
        let m = index.evaluate(&plan, v, Ranking::FULL);
        let mut rows: Vec<usize> = (0..index.rows())
            .filter(|r| m.matched[*r] > 0 && !m.excluded[*r])
            .collect();
        rows.sort_by(|a, b| {
            m.matched[*b]
                .count_ones()
                .cmp(&m.matched[*a].count_ones())
                .then(m.scores[*b].total_cmp(&m.scores[*a]))
        });
        rows
    }

    fn catalog(v: &Vocabulary) -> InvertedIndex {
        index(
            v,
            &[
                (
                    ["KiTS19", "", "Kidney tumour CT", ""],
                    vec!["anatomy:kidney", "modality:CT"],
                ),
                (
                    ["Abdomen scans", "", "", "Scans of the abdomen"],
                    vec!["anatomy:abdomen"],
                ),
                (
                    ["Brain tumour MRI", "", "Tumour segmentation", ""],
                    vec!["finding:tumor"],
                ),
                (["Liver lesions", "", "", "Lesions of the liver"], vec![]),
                (
                    [
                        "Head and neck cancer",
                        "",
                        "",
                        "PET/CT of the head and neck",
                    ],
                    vec![],
                ),
            ],
        )
    }

    #[test]
    fn concepts_match_synonyms_and_facts() {
        let v = vocabulary();
        let index = catalog(&v);
        assert_eq!(ranked(&index, &v, "renal")[0], 0);
        // Abdomen finds the kidney dataset through the hierarchy, after the abdomen one.
        assert_eq!(ranked(&index, &v, "abdomen"), [1, 0]);
        assert_eq!(ranked(&index, &v, "neoplasm").len(), 3);
    }

    #[test]
    fn names_with_numbers_are_found_without_them() {
        let v = vocabulary();
        let index = catalog(&v);
        assert_eq!(ranked(&index, &v, "kits")[0], 0);
    }

    #[test]
    fn phrases_need_order_and_exclusions_remove() {
        let v = vocabulary();
        let index = catalog(&v);
        assert_eq!(ranked(&index, &v, "\"lesions of the liver\""), [3]);
        assert!(ranked(&index, &v, "\"liver of the lesions\"").is_empty());
        let mut found = ranked(&index, &v, "tumour -brain");
        found.sort_unstable();
        assert_eq!(found, [0, 4]);
    }

    #[test]
    fn or_joins_alternatives() {
        let v = vocabulary();
        let index = catalog(&v);
        let plan = index.plan("liver OR abdomen", &v, Ranking::FULL);
        assert_eq!(plan.units.len(), 1);
        assert_eq!(ranked(&index, &v, "liver OR abdomen").len(), 3);
    }

    #[test]
    fn misspelt_words_are_corrected() {
        let v = vocabulary();
        let index = catalog(&v);
        let plan = index.plan("lesoins", &v, Ranking::FULL);
        assert!(plan.units[0].corrected);
        assert_eq!(ranked(&index, &v, "lesoins"), [3]);
    }

    #[test]
    fn a_combination_needs_both() {
        let v = vocabulary();
        let plan = catalog(&v).plan("PET/CT", &v, Ranking::FULL);
        assert_eq!(plan.units.len(), 2);
    }

    #[test]
    fn rare_words_count_more() {
        let v = vocabulary();
        let index = catalog(&v);
        let plan = index.plan("liver scans", &v, Ranking::FULL);
        let m = index.evaluate(&plan, &v, Ranking::FULL);
        assert!(m.scores[3] > 0.0 && m.scores[1] > 0.0);
    }

    #[test]
    fn varints_round_trip() {
        let mut bytes = Vec::new();
        for value in [0, 1, 127, 128, 300, 1 << 20] {
            push_varint(&mut bytes, value);
        }
        let mut at = 0;
        let back: Vec<u32> = (0..6).map(|_| read_varint(&bytes, &mut at)).collect();
        assert_eq!(back, [0, 1, 127, 128, 300, 1 << 20]);
    }
}
