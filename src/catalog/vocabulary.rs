//! The radiology vocabulary (`seed/vocabulary.json`): concepts of imaging modality, anatomy, findings
//! and tasks with their codes, synonyms and part-of/is-a hierarchy, and the matcher that finds them in
//! text — longest surface form first — so that dataset facts, facets and search share one vocabulary.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::analysis;

/// What a concept describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConceptKind {
    Modality,
    Anatomy,
    Finding,
    Task,
    /// Who was imaged (children, older adults).
    Population,
}

impl ConceptKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Modality => "modality",
            Self::Anatomy => "body part",
            Self::Finding => "finding",
            Self::Task => "task",
            Self::Population => "population",
        }
    }
}

/// A code for a concept in a public terminology (DICOM, SNOMED CT, RadLex).
#[derive(Clone, Debug, Deserialize)]
pub struct Code {
    pub system: String,
    pub code: String,
}

#[derive(Deserialize)]
struct ConceptFile {
    id: String,
    kind: ConceptKind,
    key: String,
    name: String,
    #[serde(default)]
    codes: Vec<Code>,
    #[serde(default)]
    synonyms: Vec<String>,
    #[serde(default)]
    broader: Vec<String>,
    #[serde(default = "yes")]
    key_is_word: bool,
    /// Short forms matched only when written in capitals ("TB", "PE").
    #[serde(default)]
    abbreviations: Vec<String>,
    /// Forms that only stored facts use ("multiple"), never matched in a query or a text.
    #[serde(default)]
    value_only: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct PhraseFile {
    text: String,
    concepts: Vec<String>,
    /// `all` (the default): the text names all the concepts together (PET/CT); `any`: it names
    /// either of the concepts of one kind (a radiograph is DX or CR), and all of its kinds.
    #[serde(default, rename = "match")]
    matching: Option<String>,
}

#[derive(Deserialize)]
struct VocabularyFile {
    concepts: Vec<ConceptFile>,
    #[serde(default)]
    phrases: Vec<PhraseFile>,
}

/// One concept.
#[derive(Clone, Debug)]
pub struct Concept {
    pub id: String,
    pub kind: ConceptKind,
    /// The facet value stored for it (a DICOM code for modalities, a lower-case term otherwise).
    pub key: String,
    /// The preferred name.
    pub name: String,
    pub codes: Vec<Code>,
    /// The directly broader concepts.
    pub broader: Vec<u32>,
    /// Every broader concept, transitively (nearest first).
    pub ancestors: Vec<u32>,
}

/// A concept found in text: words `start..end` (word indexes) stand for `concepts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub concepts: Vec<u32>,
    /// The form names its concepts together (PET/CT), not as alternatives of one kind.
    pub combination: bool,
}

/// Surface forms that stand for concepts, keyed by their analysed terms joined by spaces.
struct Surface {
    concepts: Vec<u32>,
    combination: bool,
    /// Only for normalising stored facts.
    value_only: bool,
    /// Only when written in capitals in the text (a code that is also an English word, such as "US").
    capitals_only: bool,
}

/// The loaded vocabulary.
pub struct Vocabulary {
    concepts: Vec<Concept>,
    by_id: HashMap<String, u32>,
    by_key: HashMap<(ConceptKind, String), u32>,
    surfaces: HashMap<String, Surface>,
    /// Every proper prefix of a surface form (in terms), so that matching stops as soon as no form
    /// can follow.
    prefixes: std::collections::HashSet<String>,
    longest: usize,
}

/// A word of text prepared for matching: its term (None for a stop word) and whether it was in capitals.
#[derive(Clone, Debug)]
pub struct Word {
    pub term: Option<String>,
    pub capitals: bool,
}

impl Word {
    pub fn of(text: &str) -> Self {
        let lower = text.to_lowercase();
        Self {
            term: analysis::term(&lower),
            capitals: text.chars().any(char::is_alphabetic)
                && !text.chars().any(char::is_lowercase),
        }
    }
}

/// The words of a text, ready for [`Vocabulary::find`].
pub fn words_of(text: &str) -> Vec<Word> {
    analysis::words(text)
        .map(|(_, word)| Word::of(word))
        .collect()
}

impl Vocabulary {
    /// The vocabulary shipped in `seed/vocabulary.json`.
    pub fn builtin() -> &'static Self {
        static BUILTIN: OnceLock<Vocabulary> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Self::parse(include_str!("../../seed/vocabulary.json"))
                .expect("seed/vocabulary.json is a valid vocabulary")
        })
    }

    /// Reads a vocabulary file, checking that every broader concept and phrase target exists.
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: VocabularyFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let by_id: HashMap<String, u32> = file
            .concepts
            .iter()
            .enumerate()
            .map(|(index, concept)| (concept.id.clone(), index as u32))
            .collect();
        let resolve = |id: &str| {
            by_id
                .get(id)
                .copied()
                .ok_or_else(|| format!("unknown concept {id}"))
        };
        let mut broader = Vec::with_capacity(file.concepts.len());
        for concept in &file.concepts {
            broader.push(
                concept
                    .broader
                    .iter()
                    .map(|id| resolve(id))
                    .collect::<Result<Vec<u32>, _>>()?,
            );
        }
        let mut vocabulary = Self {
            concepts: Vec::with_capacity(file.concepts.len()),
            by_id: by_id.clone(),
            by_key: HashMap::new(),
            surfaces: HashMap::new(),
            prefixes: std::collections::HashSet::new(),
            longest: 1,
        };
        for (index, concept) in file.concepts.iter().enumerate() {
            let ancestors = ancestors_of(index as u32, &broader);
            vocabulary
                .by_key
                .insert((concept.kind, concept.key.to_lowercase()), index as u32);
            vocabulary.concepts.push(Concept {
                id: concept.id.clone(),
                kind: concept.kind,
                key: concept.key.clone(),
                name: concept.name.clone(),
                codes: concept.codes.clone(),
                broader: broader[index].clone(),
                ancestors,
            });
        }
        for (index, concept) in file.concepts.iter().enumerate() {
            let index = index as u32;
            let key_capitals_only = concept.kind == ConceptKind::Modality && !concept.key_is_word;
            vocabulary.add_surface(&concept.key, &[index], key_capitals_only, false);
            vocabulary.add_surface(&concept.name, &[index], false, false);
            for synonym in &concept.synonyms {
                vocabulary.add_surface(synonym, &[index], false, false);
            }
            for abbreviation in &concept.abbreviations {
                vocabulary.add_surface(abbreviation, &[index], true, false);
            }
            for value in &concept.value_only {
                vocabulary.add_value_only(value, index);
            }
        }
        for phrase in &file.phrases {
            let concepts = phrase
                .concepts
                .iter()
                .map(|id| resolve(id))
                .collect::<Result<Vec<u32>, _>>()?;
            let combination = phrase.matching.as_deref() != Some("any");
            vocabulary.add_surface(&phrase.text, &concepts, false, combination);
        }
        let prefixes: Vec<String> = vocabulary
            .surfaces
            .keys()
            .flat_map(|key| {
                let terms: Vec<&str> = key.split(' ').collect();
                (1..terms.len())
                    .map(|n| terms[..n].join(" "))
                    .collect::<Vec<_>>()
            })
            .collect();
        vocabulary.prefixes.extend(prefixes);
        Ok(vocabulary)
    }

    fn add_value_only(&mut self, text: &str, concept: u32) {
        let terms: Vec<String> = words_of(text).into_iter().filter_map(|w| w.term).collect();
        if terms.is_empty() {
            return;
        }
        self.longest = self.longest.max(terms.len());
        self.surfaces.entry(terms.join(" ")).or_insert(Surface {
            concepts: vec![concept],
            combination: false,
            value_only: true,
            capitals_only: false,
        });
    }

    fn add_surface(
        &mut self,
        text: &str,
        concepts: &[u32],
        capitals_only: bool,
        combination: bool,
    ) {
        let terms: Vec<String> = words_of(text).into_iter().filter_map(|w| w.term).collect();
        if terms.is_empty() {
            return;
        }
        self.longest = self.longest.max(terms.len());
        let surface = self.surfaces.entry(terms.join(" ")).or_insert(Surface {
            concepts: Vec::new(),
            capitals_only,
            combination,
            value_only: false,
        });
        surface.value_only = false;
        surface.combination |= combination;
        // A form that is also written as an ordinary word elsewhere matches in any case.
        surface.capitals_only &= capitals_only;
        for concept in concepts {
            if !surface.concepts.contains(concept) {
                surface.concepts.push(*concept);
            }
        }
    }

    pub fn concept(&self, index: u32) -> &Concept {
        &self.concepts[index as usize]
    }

    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    pub fn by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The concept of `kind` whose key is `key` (any case).
    pub fn by_key(&self, kind: ConceptKind, key: &str) -> Option<u32> {
        self.by_key.get(&(kind, key.to_lowercase())).copied()
    }

    /// Concepts in `words`, longest match first, left to right; stop words inside a form are skipped
    /// over (so "head and neck" is one form).
    pub fn find(&self, words: &[Word]) -> Vec<Found> {
        self.find_with(words, true, false)
    }

    /// Every form in `words`, overlapping ones included ("lung cancer" gives lung cancer, lung and
    /// cancer): what a document is annotated with.
    pub fn find_all(&self, words: &[Word]) -> Vec<Found> {
        self.find_with(words, false, false)
    }

    fn find_with(&self, words: &[Word], longest_only: bool, facts: bool) -> Vec<Found> {
        let mut found = Vec::new();
        let mut start = 0;
        while start < words.len() {
            if words[start].term.is_none() {
                start += 1;
                continue;
            }
            let mut best: Option<Found> = None;
            let mut key = String::new();
            let mut terms = 0;
            let mut end = start;
            while end < words.len() && terms < self.longest {
                if let Some(term) = &words[end].term {
                    if !key.is_empty() {
                        key.push(' ');
                    }
                    key.push_str(term);
                    terms += 1;
                    if let Some(surface) =
                        self.surfaces.get(&key).filter(|s| facts || !s.value_only)
                    {
                        let capitals_ok = !surface.capitals_only
                            || words[start..=end]
                                .iter()
                                .all(|w| w.term.is_none() || w.capitals);
                        if capitals_ok {
                            let hit = Found {
                                start,
                                end: end + 1,
                                concepts: surface.concepts.clone(),
                                combination: surface.combination,
                            };
                            if !longest_only {
                                found.push(hit.clone());
                            }
                            best = Some(hit);
                        }
                    }
                    if !self.prefixes.contains(&key) {
                        break;
                    }
                }
                end += 1;
            }
            match best {
                Some(hit) if longest_only => {
                    start = hit.end;
                    found.push(hit);
                }
                _ => start += 1,
            }
        }
        found
    }

    /// The concepts a structured fact names ("tspine", "Kidney Renal Clear Cell Carcinoma",
    /// "segmentation (brain tumor)"), of the given kinds.
    pub fn concepts_of_fact(&self, fact: &str, kinds: &[ConceptKind]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for found in self.find_with(&words_of(fact), true, true) {
            for concept in found.concepts {
                if kinds.contains(&self.concepts[concept as usize].kind) && !out.contains(&concept)
                {
                    out.push(concept);
                }
            }
        }
        out
    }

    /// The facet values a stored fact stands for: the keys of the concepts it names, or the fact
    /// itself when it names none.
    pub fn normalise(&self, fact: &str, kind: ConceptKind) -> Vec<String> {
        if let Some(exact) = self.by_key(kind, fact.trim()) {
            return vec![self.concepts[exact as usize].key.clone()];
        }
        // The head of a qualified fact: "segmentation (brain tumor)" → "segmentation".
        let head = fact.split(" (").next().unwrap_or(fact);
        let head = head.split(';').next().unwrap_or(head);
        let concepts = self.concepts_of_fact(head, &[kind]);
        if concepts.is_empty() {
            vec![fact.trim().to_owned()]
        } else {
            concepts
                .into_iter()
                .map(|c| self.concepts[c as usize].key.clone())
                .collect()
        }
    }
}

fn ancestors_of(concept: u32, broader: &[Vec<u32>]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue: Vec<u32> = broader[concept as usize].clone();
    let mut next = 0;
    while next < queue.len() {
        let current = queue[next];
        next += 1;
        if current == concept || out.contains(&current) {
            continue;
        }
        out.push(current);
        queue.extend(broader[current as usize].iter().copied());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{
      "concepts": [
        {"id": "modality:CT", "kind": "modality", "key": "CT", "name": "Computed Tomography",
         "synonyms": ["cat scan"]},
        {"id": "modality:PT", "kind": "modality", "key": "PT", "name": "Positron emission tomography",
         "synonyms": ["pet"], "key_is_word": false},
        {"id": "modality:US", "kind": "modality", "key": "US", "name": "Ultrasound",
         "synonyms": ["sonography"], "key_is_word": false},
        {"id": "anatomy:abdomen", "kind": "anatomy", "key": "abdomen", "name": "Abdomen"},
        {"id": "anatomy:kidney", "kind": "anatomy", "key": "kidney", "name": "Kidney",
         "synonyms": ["renal"], "broader": ["anatomy:abdomen"]},
        {"id": "anatomy:head and neck", "kind": "anatomy", "key": "head and neck", "name": "Head and neck"},
        {"id": "anatomy:head", "kind": "anatomy", "key": "head", "name": "Head", "broader": ["anatomy:head and neck"]},
        {"id": "finding:tumor", "kind": "finding", "key": "tumor", "name": "Tumor",
         "synonyms": ["neoplasm", "cancer"]},
        {"id": "finding:kidney cancer", "kind": "finding", "key": "kidney cancer", "name": "Kidney cancer",
         "synonyms": ["renal cell carcinoma"], "broader": ["finding:tumor"]},
        {"id": "task:segmentation", "kind": "task", "key": "segmentation", "name": "Segmentation"}
      ],
      "phrases": [{"text": "pet/ct", "concepts": ["modality:PT", "modality:CT"]}]
    }"#;

    fn sample() -> Vocabulary {
        Vocabulary::parse(SAMPLE).unwrap()
    }

    fn ids(vocabulary: &Vocabulary, text: &str) -> Vec<Vec<String>> {
        vocabulary
            .find(&words_of(text))
            .into_iter()
            .map(|f| {
                f.concepts
                    .iter()
                    .map(|c| vocabulary.concept(*c).id.clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn longest_form_wins_and_stop_words_are_skipped() {
        let v = sample();
        assert_eq!(
            ids(&v, "Head and Neck CT"),
            [vec!["anatomy:head and neck"], vec!["modality:CT"]]
        );
        assert_eq!(
            ids(&v, "renal tumours"),
            [vec!["anatomy:kidney"], vec!["finding:tumor"]]
        );
        assert_eq!(
            ids(&v, "renal cell carcinoma"),
            [vec!["finding:kidney cancer"]]
        );
        assert_eq!(ids(&v, "PET/CT"), [vec!["modality:PT", "modality:CT"]]);
    }

    #[test]
    fn codes_that_are_words_match_only_in_capitals() {
        let v = sample();
        assert_eq!(
            ids(&v, "kidney US"),
            [vec!["anatomy:kidney"], vec!["modality:US"]]
        );
        assert_eq!(ids(&v, "datasets of us"), Vec::<Vec<String>>::new());
        assert_eq!(ids(&v, "pet scans"), [vec!["modality:PT"]]);
    }

    #[test]
    fn every_overlapping_form_annotates_a_document() {
        let v = sample();
        let all = v.find_all(&words_of("renal cell carcinoma"));
        let concepts: Vec<&str> = all
            .iter()
            .flat_map(|f| f.concepts.iter().map(|c| v.concept(*c).id.as_str()))
            .collect();
        assert!(concepts.contains(&"anatomy:kidney"));
        assert!(concepts.contains(&"finding:kidney cancer"));
    }

    #[test]
    fn ancestors_are_transitive() {
        let v = sample();
        let head = v.by_id("anatomy:head").unwrap();
        assert_eq!(
            v.concept(head).ancestors,
            [v.by_id("anatomy:head and neck").unwrap()]
        );
        let kc = v.by_id("finding:kidney cancer").unwrap();
        assert_eq!(v.concept(kc).ancestors, [v.by_id("finding:tumor").unwrap()]);
    }

    #[test]
    fn facts_normalise_to_keys() {
        let v = sample();
        assert_eq!(v.normalise("Renal", ConceptKind::Anatomy), ["kidney"]);
        assert_eq!(
            v.normalise("segmentation (brain tumor)", ConceptKind::Task),
            ["segmentation"]
        );
        assert_eq!(v.normalise("spleen", ConceptKind::Anatomy), ["spleen"]);
    }

    #[test]
    fn unknown_broader_concepts_are_refused() {
        let bad = r#"{"concepts": [{"id": "a", "kind": "task", "key": "a", "name": "A", "broader": ["b"]}]}"#;
        assert!(Vocabulary::parse(bad).is_err());
    }
}
