//! The text half of the in-memory search index: an inverted index of the lexemes of every published
//! dataset's weighted search document (the same `tsvector` PostgreSQL keeps), and evaluation of the
//! `tsquery` that PostgreSQL's `websearch_to_tsquery` makes of the researcher's words.

use std::collections::HashMap;

/// A parsed `tsquery`.
#[derive(Clone, Debug, PartialEq)]
pub enum TsQuery {
    Term(String),
    Not(Box<TsQuery>),
    And(Vec<TsQuery>),
    Or(Vec<TsQuery>),
    /// Words that must follow each other; matched here as all of them (PostgreSQL checks the order
    /// when the researcher quoted a phrase).
    Phrase(Vec<TsQuery>),
}

impl TsQuery {
    /// Parses the text form of a `tsquery` (`'lung' & 'nodul' & !'ct'`, `'head' <2> 'neck'`).
    pub fn parse(text: &str) -> Option<Self> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return None;
        }
        let mut parser = Parser {
            tokens,
            position: 0,
        };
        let query = parser.or()?;
        (parser.position == parser.tokens.len()).then_some(query)
    }

    /// The same query with its top-level AND turned into OR ("any of the words"); exclusions stay
    /// exclusions.
    pub fn relaxed(&self) -> Self {
        match self {
            Self::And(parts) | Self::Phrase(parts) => {
                let (negative, positive): (Vec<Self>, Vec<Self>) = parts
                    .iter()
                    .cloned()
                    .partition(|part| matches!(part, Self::Not(_)));
                let any = match positive.len() {
                    0 => return self.clone(),
                    1 => positive.into_iter().next().expect("one part"),
                    _ => Self::Or(positive),
                };
                if negative.is_empty() {
                    any
                } else {
                    let mut parts = vec![any];
                    parts.extend(negative);
                    Self::And(parts)
                }
            }
            other => other.clone(),
        }
    }

    /// The distinct lexemes the query looks for (not those it excludes).
    pub fn positive_terms(&self) -> Vec<&str> {
        let mut terms = Vec::new();
        self.collect_terms(&mut terms);
        terms.sort_unstable();
        terms.dedup();
        terms
    }

    fn collect_terms<'a>(&'a self, terms: &mut Vec<&'a str>) {
        match self {
            Self::Term(term) => terms.push(term),
            Self::Not(_) => {}
            Self::And(parts) | Self::Or(parts) | Self::Phrase(parts) => {
                for part in parts {
                    part.collect_terms(terms);
                }
            }
        }
    }

    pub fn has_phrase(&self) -> bool {
        match self {
            Self::Phrase(_) => true,
            Self::Term(_) => false,
            Self::Not(inner) => inner.has_phrase(),
            Self::And(parts) | Self::Or(parts) => parts.iter().any(Self::has_phrase),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Term(String),
    And,
    Or,
    Not,
    Follows,
    Open,
    Close,
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '&' => tokens.push(Token::And),
            '|' => tokens.push(Token::Or),
            '!' => tokens.push(Token::Not),
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '<' => {
                // `<->` or `<N>`
                for next in chars.by_ref() {
                    if next == '>' {
                        break;
                    }
                }
                tokens.push(Token::Follows);
            }
            '\'' => {
                let mut term = String::new();
                loop {
                    match chars.next()? {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            term.push('\'');
                        }
                        '\'' => break,
                        other => term.push(other),
                    }
                }
                // Weight or prefix markers (`:*`, `:AB`) are not produced by websearch_to_tsquery.
                if chars.peek() == Some(&':') {
                    chars.next();
                    while chars
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphabetic() || *c == '*')
                    {
                        chars.next();
                    }
                }
                tokens.push(Token::Term(term));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<TsQuery> {
        let mut parts = vec![self.and()?];
        while self.eat(&Token::Or) {
            parts.push(self.and()?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            TsQuery::Or(parts)
        })
    }

    fn and(&mut self) -> Option<TsQuery> {
        let mut parts = vec![self.phrase()?];
        while self.eat(&Token::And) {
            parts.push(self.phrase()?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            TsQuery::And(parts)
        })
    }

    fn phrase(&mut self) -> Option<TsQuery> {
        let mut parts = vec![self.unary()?];
        while self.eat(&Token::Follows) {
            parts.push(self.unary()?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            TsQuery::Phrase(parts)
        })
    }

    fn unary(&mut self) -> Option<TsQuery> {
        match self.tokens.get(self.position).cloned()? {
            Token::Not => {
                self.position += 1;
                Some(TsQuery::Not(Box::new(self.unary()?)))
            }
            Token::Open => {
                self.position += 1;
                let inner = self.or()?;
                self.eat(&Token::Close).then_some(inner)
            }
            Token::Term(term) => {
                self.position += 1;
                Some(TsQuery::Term(term))
            }
            _ => None,
        }
    }
}

/// Lexeme → the datasets (row numbers, ascending) that contain it, with the lexeme's best weight there
/// (3 = A: title, aliases; 2 = B: facts; 1 = C: summary; 0 = D: description), packed as
/// `row | weight << 30` so that a posting takes four bytes.
#[derive(Default)]
pub struct InvertedIndex {
    lexemes: HashMap<Box<str>, u32>,
    postings: Vec<Vec<u32>>,
}

const ROW_MASK: u32 = (1 << 30) - 1;

fn unpack(posting: u32) -> (u32, u8) {
    (posting & ROW_MASK, (posting >> 30) as u8)
}

/// What a weight class adds to a dataset's score, as PostgreSQL's default `ts_rank` weights.
const WEIGHT_VALUES: [f32; 4] = [0.1, 0.2, 0.4, 1.0];

impl InvertedIndex {
    pub fn add(&mut self, row: u32, lexeme: &str, weight: u8) {
        let id = match self.lexemes.get(lexeme) {
            Some(id) => *id,
            None => {
                let id = self.postings.len() as u32;
                self.lexemes.insert(lexeme.into(), id);
                self.postings.push(Vec::new());
                id
            }
        };
        self.postings[id as usize].push((row & ROW_MASK) | (u32::from(weight.min(3)) << 30));
    }

    /// Sorts every posting list by row; call once after the last `add`.
    pub fn finish(&mut self) {
        for posting in &mut self.postings {
            posting.sort_unstable_by_key(|posting| posting & ROW_MASK);
            posting.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
        self.lexemes.shrink_to_fit();
    }

    fn posting(&self, lexeme: &str) -> &[u32] {
        self.lexemes
            .get(lexeme)
            .map_or(&[], |id| self.postings[*id as usize].as_slice())
    }

    /// The rows (ascending) matching `query` among `rows` datasets.
    pub fn matching(&self, query: &TsQuery, rows: u32) -> Vec<u32> {
        match query {
            TsQuery::Term(term) => self
                .posting(term)
                .iter()
                .map(|posting| unpack(*posting).0)
                .collect(),
            TsQuery::Not(inner) => {
                difference(&(0..rows).collect::<Vec<_>>(), &self.matching(inner, rows))
            }
            TsQuery::Or(parts) => parts
                .iter()
                .map(|part| self.matching(part, rows))
                .reduce(|a, b| union(&a, &b))
                .unwrap_or_default(),
            TsQuery::And(parts) | TsQuery::Phrase(parts) => {
                let (negative, positive): (Vec<&TsQuery>, Vec<&TsQuery>) = parts
                    .iter()
                    .partition(|part| matches!(part, TsQuery::Not(_)));
                let mut result = if positive.is_empty() {
                    (0..rows).collect()
                } else {
                    let mut lists: Vec<Vec<u32>> = positive
                        .iter()
                        .map(|part| self.matching(part, rows))
                        .collect();
                    lists.sort_by_key(Vec::len);
                    let mut result = lists.remove(0);
                    for list in &lists {
                        result = intersection(&result, list);
                    }
                    result
                };
                for part in negative {
                    if let TsQuery::Not(inner) = part {
                        result = difference(&result, &self.matching(inner, rows));
                    }
                }
                result
            }
        }
    }

    /// Per row: the summed weight of the query's terms it contains, how many of them it contains, and
    /// how many of them are in its names (weight A).
    pub fn scores(&self, query: &TsQuery, rows: usize) -> Scores {
        let mut scores = Scores {
            weights: vec![0f32; rows],
            counts: vec![0u8; rows],
            in_names: vec![0u8; rows],
            terms: 0,
        };
        for term in query.positive_terms() {
            scores.terms += 1;
            for posting in self.posting(term) {
                let (row, weight) = unpack(*posting);
                let row = row as usize;
                scores.weights[row] += WEIGHT_VALUES[weight as usize];
                scores.counts[row] = scores.counts[row].saturating_add(1);
                if weight == 3 {
                    scores.in_names[row] = scores.in_names[row].saturating_add(1);
                }
            }
        }
        scores
    }
}

/// Per-row figures for ranking, indexed by row number.
#[derive(Default)]
pub struct Scores {
    pub weights: Vec<f32>,
    pub counts: Vec<u8>,
    pub in_names: Vec<u8>,
    /// Distinct terms the query looks for.
    pub terms: u8,
}

fn intersection(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|row| {
            while j < b.len() && b[j] < *row {
                j += 1;
            }
            !(j < b.len() && b[j] == *row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: &str) -> TsQuery {
        TsQuery::Term(t.to_owned())
    }

    #[test]
    fn parses_websearch_output() {
        assert_eq!(
            TsQuery::parse("'lung' & 'nodul' & 'ct'"),
            Some(TsQuery::And(vec![term("lung"), term("nodul"), term("ct")]))
        );
        assert_eq!(
            TsQuery::parse("'head' <2> 'neck' & !'ct'"),
            Some(TsQuery::And(vec![
                TsQuery::Phrase(vec![term("head"), term("neck")]),
                TsQuery::Not(Box::new(term("ct")))
            ]))
        );
        assert_eq!(
            TsQuery::parse("'lung' | 'liver'"),
            Some(TsQuery::Or(vec![term("lung"), term("liver")]))
        );
        assert_eq!(TsQuery::parse("'alzheimer''s'"), Some(term("alzheimer's")));
        assert_eq!(TsQuery::parse(""), None);
        assert_eq!(TsQuery::parse("'a' &"), None);
    }

    fn index() -> InvertedIndex {
        let mut index = InvertedIndex::default();
        // row 0: lung ct (title), row 1: lung mr, row 2: liver ct
        for (row, lexemes) in [
            (0, ["lung", "ct"]),
            (1, ["lung", "mr"]),
            (2, ["liver", "ct"]),
        ] {
            for (position, lexeme) in lexemes.iter().enumerate() {
                index.add(row, lexeme, if position == 0 { 3 } else { 1 });
            }
        }
        index.finish();
        index
    }

    #[test]
    fn evaluates_and_or_not() {
        let index = index();
        let q = |text: &str| index.matching(&TsQuery::parse(text).unwrap(), 3);
        assert_eq!(q("'lung' & 'ct'"), vec![0]);
        assert_eq!(q("'lung' | 'liver'"), vec![0, 1, 2]);
        assert_eq!(q("'ct' & !'lung'"), vec![2]);
        assert_eq!(q("!'ct'"), vec![1]);
        assert_eq!(q("'nothing'"), Vec::<u32>::new());
        assert_eq!(
            q("'lung' & 'ct'").len(),
            index
                .matching(&TsQuery::parse("'lung' <-> 'ct'").unwrap(), 3)
                .len()
        );
    }

    #[test]
    fn relaxing_keeps_exclusions() {
        let relaxed = TsQuery::parse("'lung' & 'nodul' & !'ct'")
            .unwrap()
            .relaxed();
        assert_eq!(
            relaxed,
            TsQuery::And(vec![
                TsQuery::Or(vec![term("lung"), term("nodul")]),
                TsQuery::Not(Box::new(term("ct")))
            ])
        );
        assert_eq!(
            index().matching(
                &TsQuery::parse("'lung' & 'mr' & !'ct'").unwrap().relaxed(),
                3
            ),
            vec![1]
        );
    }

    #[test]
    fn scores_weight_title_words_higher() {
        let index = index();
        let scores = index.scores(&TsQuery::parse("'lung' & 'ct'").unwrap(), 3);
        assert_eq!(scores.counts, vec![2, 1, 1]);
        assert_eq!(scores.in_names, vec![1, 1, 0]);
        assert_eq!(scores.terms, 2);
        assert!(scores.weights[0] > scores.weights[1] && scores.weights[1] > scores.weights[2]);
    }

    #[test]
    fn set_operations() {
        assert_eq!(intersection(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        assert_eq!(union(&[1, 3], &[2, 3, 9]), vec![1, 2, 3, 9]);
        assert_eq!(difference(&[1, 2, 3, 4], &[2, 4, 8]), vec![1, 3]);
    }
}
