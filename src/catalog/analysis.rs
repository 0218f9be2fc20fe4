//! Text analysis shared by the index and the query: words split at anything that is not a letter or a
//! digit, lower-cased, British spellings folded into American ones, English stop words dropped (their
//! positions kept, so phrases still line up) and words reduced to their Snowball stem.

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words too common to search by (positions still advance over them).
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "our", "so", "some", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would",
    "you", "your", "want", "need", "looking", "find", "show", "get", "like", "please", "also",
    "any", "using", "used",
];

/// British spellings and their American forms, matched on whole words (plural `s` allowed).
const SPELLINGS: &[(&str, &str)] = &[
    ("tumour", "tumor"),
    ("tumours", "tumors"),
    ("haemorrhage", "hemorrhage"),
    ("haemorrhagic", "hemorrhagic"),
    ("oesophagus", "esophagus"),
    ("oesophageal", "esophageal"),
    ("paediatric", "pediatric"),
    ("paediatrics", "pediatrics"),
    ("oedema", "edema"),
    ("anaemia", "anemia"),
    ("leukaemia", "leukemia"),
    ("oestrogen", "estrogen"),
    ("foetal", "fetal"),
    ("foetus", "fetus"),
    ("ischaemic", "ischemic"),
    ("ischaemia", "ischemia"),
    ("haematoma", "hematoma"),
    ("haemangioma", "hemangioma"),
    ("gynaecological", "gynecological"),
    ("orthopaedic", "orthopedic"),
    ("localisation", "localization"),
    ("localised", "localized"),
    ("characterisation", "characterization"),
    ("colour", "color"),
    ("centre", "center"),
    ("centres", "centers"),
    ("randomised", "randomized"),
    ("computerised", "computerized"),
    ("anonymised", "anonymized"),
    ("optimisation", "optimization"),
    ("standardised", "standardized"),
    ("labelled", "labeled"),
    ("labelling", "labeling"),
    ("modelling", "modeling"),
    ("grey", "gray"),
    ("programme", "program"),
];

/// One analysed word: its stem and its position in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    pub position: u32,
}

/// One word as it stands in the text, with its byte range, for snippets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub term: Option<String>,
    pub start: usize,
    pub end: usize,
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Whether a lower-case word is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The American form of a lower-case British word, or the word itself.
pub fn american(word: &str) -> &str {
    SPELLINGS
        .iter()
        .find(|(british, _)| *british == word)
        .map_or(word, |(_, american)| american)
}

/// Rewrites British spellings word by word in free text (keeping everything else as it is).
pub fn american_spelling(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let lower = word.to_lowercase();
            let bare = lower.trim_matches(|c: char| !c.is_alphanumeric());
            let folded = american(bare);
            if folded == bare {
                word.to_owned()
            } else {
                lower.replacen(bare, folded, 1)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The index term of one lower-case word: the stem of its American spelling; `None` for stop words.
pub fn term(word: &str) -> Option<String> {
    if word.is_empty() || is_stop_word(word) {
        return None;
    }
    // Stems repeat (every snippet, every query): each thread remembers the words it has seen.
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, String>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(known) = SEEN.with(|seen| seen.borrow().get(word).cloned()) {
        return Some(known);
    }
    let term = stem_of(word);
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.len() >= MAX_REMEMBERED_WORDS {
            seen.clear();
        }
        seen.insert(word.to_owned(), term.clone());
    });
    Some(term)
}

/// Most words a thread remembers the stems of.
const MAX_REMEMBERED_WORDS: usize = 100_000;

fn stem_of(word: &str) -> String {
    let word = american(word);
    // Codes and names with digits ("brats21", "t1", "covid") are kept whole.
    if word.chars().any(|c| c.is_ascii_digit()) || word.len() <= 3 {
        return word.to_owned();
    }
    stemmer().stem(word).into_owned()
}

/// The words of `text` with their byte offsets (letters and digits; everything else separates).
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while chars.peek().is_some_and(|(_, c)| !c.is_alphanumeric()) {
            chars.next();
        }
        let (start, _) = *chars.peek()?;
        let mut end = start;
        while let Some((at, c)) = chars.peek().copied() {
            if !c.is_alphanumeric() {
                break;
            }
            end = at + c.len_utf8();
            chars.next();
        }
        Some((start, &text[start..end]))
    })
}

/// The analysed words of `text`, positions starting at `first_position`.
pub fn tokens(text: &str, first_position: u32) -> Vec<Token> {
    let mut out = Vec::new();
    for (position, (_, word)) in (first_position..).zip(words(text)) {
        let lower = word.to_lowercase();
        if let Some(term) = term(&lower) {
            out.push(Token { term, position });
        }
    }
    out
}

/// Every word of `text` with its range and its term (for highlighting).
pub fn spans(text: &str) -> Vec<Span> {
    words(text)
        .map(|(start, word)| Span {
            term: term(&word.to_lowercase()),
            start,
            end: start + word.len(),
        })
        .collect()
}

/// Damerau–Levenshtein distance (adjacent transpositions count one) between two short words, or
/// `None` once it exceeds `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut previous2 = vec![0usize; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current = vec![0usize; width];
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(previous2[j - 2] + 1);
            }
            current[j] = value;
            row_min = row_min.min(value);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut previous2, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokens(text, 0)
            .into_iter()
            .map(|token| token.term)
            .collect()
    }

    #[test]
    fn words_are_stemmed_folded_and_stop_words_dropped() {
        assert_eq!(terms("The Tumours of the kidneys"), ["tumor", "kidney"]);
        assert_eq!(terms("Segmentation, segmenting"), ["segment", "segment"]);
        assert_eq!(
            terms("BraTS21 T1-weighted MRI"),
            ["brats21", "t1", "weight", "mri"]
        );
        assert_eq!(terms("haemorrhage"), terms("hemorrhages"));
    }

    #[test]
    fn positions_advance_over_stop_words() {
        let tokens = tokens("head and neck", 10);
        assert_eq!(tokens[0].position, 10);
        assert_eq!(tokens[1].position, 12);
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "PET/CT — ﬁne “lung” nodules";
        for span in spans(text) {
            assert!(text.get(span.start..span.end).is_some());
        }
        let found: Vec<&str> = spans(text).iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(found, ["PET", "CT", "ﬁne", "lung", "nodules"]);
    }

    #[test]
    fn british_text_is_rewritten() {
        assert_eq!(american_spelling("Paediatric tumours"), "pediatric tumors");
        assert_eq!(american_spelling("lung CT"), "lung CT");
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("chexpret", "chexpert", 2), Some(1));
        assert_eq!(edit_distance("mimc", "mimic", 1), Some(1));
        assert_eq!(edit_distance("lung", "brain", 2), None);
    }
}
