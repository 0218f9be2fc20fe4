//! Walking a hash chain: the checks shared by the event log and the audit log. Each entry names the
//! previous entry's hash and hashes its own content with it; a head row records the newest entry and
//! the number of entries; a signed checkpoint (see [`super::checkpoint`]) records an earlier head
//! outside the database.

/// The "previous hash" of a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Where a chain ends: how many entries it has, the newest one's id and hash. An empty chain ends
/// at id 0 with the genesis hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEnd {
    pub count: u64,
    pub last_id: i64,
    pub last_hash: Vec<u8>,
}

impl ChainEnd {
    /// The end of a chain without entries.
    pub fn genesis() -> Self {
        Self {
            count: 0,
            last_id: 0,
            last_hash: GENESIS.to_vec(),
        }
    }
}

/// What a chain's entries are called in reports.
#[derive(Clone, Copy, Debug)]
pub struct Nouns {
    /// "event"
    pub one: &'static str,
    /// "events"
    pub many: &'static str,
}

/// What a check of a chain found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// How many entries were read.
    pub checked: u64,
    /// One line per problem found in the chain itself or against its head, naming the entry.
    pub problems: Vec<String>,
    /// One line per way the chain fails to extend the checkpoint it was checked against.
    pub checkpoint_problems: Vec<String>,
    /// The end of the chain as read (not as the head claims).
    pub end: Option<ChainEnd>,
}

impl Verification {
    /// No problem at all, with the chain, its head or the checkpoint.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.checkpoint_problems.is_empty()
    }
}

/// A walk along a chain in id order, entry by entry.
pub struct Walk<'a> {
    nouns: Nouns,
    checkpoint: Option<&'a ChainEnd>,
    /// The entry found at the checkpoint's position: its id and hash.
    at_checkpoint: Option<(i64, Vec<u8>)>,
    expected_prev: Vec<u8>,
    last: Option<(i64, Vec<u8>)>,
    result: Verification,
}

impl<'a> Walk<'a> {
    /// A walk that also checks, when `checkpoint` is given, that the chain still extends it.
    pub fn new(nouns: Nouns, checkpoint: Option<&'a ChainEnd>) -> Self {
        Self {
            nouns,
            checkpoint,
            at_checkpoint: None,
            expected_prev: GENESIS.to_vec(),
            last: None,
            result: Verification::default(),
        }
    }

    /// Takes the next entry: `recomputed` is the hash of its stored content with its stored
    /// `prev_hash`, `label` a few words saying what it is.
    pub fn step(
        &mut self,
        id: i64,
        label: &str,
        prev_hash: &[u8],
        hash: Vec<u8>,
        recomputed: &[u8],
    ) {
        let Nouns { one, .. } = self.nouns;
        self.result.checked += 1;
        if prev_hash != self.expected_prev {
            self.result.problems.push(format!(
                "{one} {id}: does not follow the {one} before it (an {one} was inserted or deleted here)"
            ));
        }
        if recomputed != hash {
            self.result.problems.push(format!(
                "{one} {id} ({label}): its content was changed after it was recorded"
            ));
        }
        if self
            .checkpoint
            .is_some_and(|mark| mark.count == self.result.checked)
        {
            self.at_checkpoint = Some((id, hash.clone()));
        }
        self.expected_prev.clone_from(&hash);
        self.last = Some((id, hash));
    }

    /// Ends the walk: compares its end with the recorded `head` (`None` when the head row is
    /// missing) and with the checkpoint.
    pub fn finish(mut self, head: Option<ChainEnd>) -> Verification {
        let end = match self.last.take() {
            Some((last_id, last_hash)) => ChainEnd {
                count: self.result.checked,
                last_id,
                last_hash,
            },
            None => ChainEnd::genesis(),
        };
        self.check_head(&end, head);
        if let Some(mark) = self.checkpoint {
            self.check_checkpoint(&end, mark);
        }
        self.result.end = Some(end);
        self.result
    }

    fn check_head(&mut self, end: &ChainEnd, head: Option<ChainEnd>) {
        let Nouns { one, many } = self.nouns;
        let problems = &mut self.result.problems;
        let Some(head) = head else {
            problems.push(format!("the record of the newest {one} is missing"));
            return;
        };
        if end.count == 0 {
            if head.count > 0 {
                problems.push(format!(
                    "all {} {many} up to {one} {} were deleted",
                    head.count, head.last_id
                ));
            }
            return;
        }
        if end.last_id != head.last_id || end.last_hash != head.last_hash {
            if end.last_id < head.last_id {
                problems.push(format!(
                    "the newest {one} should be {one} {}, but the chain ends at {one} {}: {many} were deleted from the end",
                    head.last_id, end.last_id
                ));
            } else {
                problems.push(format!(
                    "the newest {one} should be {one} {}, but the chain goes on to {one} {}: {many} were added outside the portal, or the record of the newest was changed",
                    head.last_id, end.last_id
                ));
            }
        }
        if head.count != end.count {
            problems.push(format!(
                "{} {many} were recorded but {} are present",
                head.count, end.count
            ));
        }
    }

    fn check_checkpoint(&mut self, end: &ChainEnd, mark: &ChainEnd) {
        let Nouns { one, many } = self.nouns;
        if mark.count == 0 {
            return;
        }
        let problems = &mut self.result.checkpoint_problems;
        match &self.at_checkpoint {
            None => problems.push(format!(
                "the checkpoint covers {} {many} up to {one} {}, but only {} are left: {many} it covers were deleted{}",
                mark.count,
                mark.last_id,
                end.count,
                if end.count == 0 { ", all of them" } else { "" }
            )),
            Some((id, hash)) if *hash == mark.last_hash => {
                if *id != mark.last_id {
                    problems.push(format!(
                        "the checkpoint's newest {one} was {one} {}, and is now numbered {id}",
                        mark.last_id
                    ));
                }
            }
            Some((id, _)) if *id == mark.last_id => problems.push(format!(
                "{one} {id}, the newest when the checkpoint was taken, no longer has the hash the checkpoint recorded: {many} up to it were changed and the chain recomputed"
            )),
            Some((id, _)) => problems.push(format!(
                "the checkpoint's newest {one} was {one} {} at position {} in the chain, but {one} {id} is there now, with another hash: {many} up to it were inserted, deleted or changed and the chain recomputed",
                mark.last_id, mark.count
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOUNS: Nouns = Nouns {
        one: "entry",
        many: "entries",
    };

    fn hash(n: u8) -> Vec<u8> {
        vec![n; 32]
    }

    /// A well-formed chain of `n` entries with ids 1..=n: entry i has hash [i; 32].
    fn walk(n: u8, checkpoint: Option<&ChainEnd>) -> Walk<'_> {
        let mut walk = Walk::new(NOUNS, checkpoint);
        for i in 1..=n {
            let prev = if i == 1 {
                GENESIS.to_vec()
            } else {
                hash(i - 1)
            };
            walk.step(i64::from(i), "x", &prev, hash(i), &hash(i));
        }
        walk
    }

    fn end(count: u64, last_id: i64, last_hash: Vec<u8>) -> ChainEnd {
        ChainEnd {
            count,
            last_id,
            last_hash,
        }
    }

    #[test]
    fn an_intact_chain_extends_its_checkpoints() {
        let mark = end(2, 2, hash(2));
        let result = walk(3, Some(&mark)).finish(Some(end(3, 3, hash(3))));
        assert!(result.is_intact(), "{result:?}");
        assert_eq!(result.end, Some(end(3, 3, hash(3))));
        let empty = walk(0, None).finish(Some(ChainEnd::genesis()));
        assert!(empty.is_intact(), "{empty:?}");
    }

    #[test]
    fn a_trimmed_chain_with_a_rewound_head_fails_only_the_checkpoint() {
        let mark = end(3, 3, hash(3));
        let result = walk(2, Some(&mark)).finish(Some(end(2, 2, hash(2))));
        assert!(result.problems.is_empty());
        assert!(result.checkpoint_problems[0].contains("only 2 are left"));
        let emptied = walk(0, Some(&mark)).finish(Some(ChainEnd::genesis()));
        assert!(emptied.checkpoint_problems[0].contains("all of them"));
    }

    #[test]
    fn a_recomputed_chain_fails_the_checkpoint() {
        let mark = end(2, 2, hash(9));
        let result = walk(3, Some(&mark)).finish(Some(end(3, 3, hash(3))));
        assert!(result.checkpoint_problems[0].contains("recomputed"));
    }

    #[test]
    fn head_and_chain_disagreeing_is_a_problem() {
        let deleted = walk(2, None).finish(Some(end(3, 3, hash(3))));
        assert!(deleted.problems[0].contains("deleted from the end"));
        let added = walk(3, None).finish(Some(end(2, 2, hash(2))));
        assert!(added.problems[0].contains("goes on to entry 3"));
        let missing = walk(1, None).finish(None);
        assert!(missing.problems[0].contains("missing"));
        let all = walk(0, None).finish(Some(end(3, 3, hash(3))));
        assert!(all.problems[0].contains("all 3 entries"));
    }
}
