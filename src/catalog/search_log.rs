//! The search log behind the administrators' search analytics: what was searched and how many
//! datasets it found, never who searched.
//!
//! A search is held in memory ([`SearchLog::record`] takes a lock and pushes, no database round trip)
//! and written later, in batches, by a background job ([`SearchLog::take_batch`], then
//! `db::search_log::insert`). What is kept of a search, and what is not:
//!
//! - its text as sent (trimmed), the same text normalised for grouping (lower case, white space
//!   collapsed), its filters (parameter to sorted values), how many datasets it listed and how many of
//!   those match all of it;
//! - the hour it was made in, not the moment; a batch is shuffled before it is written, so the order
//!   of the rows tells nothing about the order of the searches;
//! - no account, session, address, user agent or request id: nothing that identifies who searched;
//! - only first pages (turning pages is not a new search) and only searches with text or a filter
//!   (the plain list of every dataset is not a search); sort order and page size are left out.
//!
//! The buffer is bounded: when it is full a search is dropped and counted (on this instance, and in
//! the `radportal_search_log_dropped_total` metric) rather than slowing the search down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::seq::SliceRandom;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::query::{Facet, SearchQuery};
use super::search::SearchResults;

/// Most searches one instance holds between two flushes; more are dropped (and counted).
pub const BUFFER_CAPACITY: usize = 10_000;

/// Seconds in the unit searches are timed in (an hour).
const TIME_UNIT_SECS: i64 = 3600;

/// One search, as it is written to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedSearch {
    /// The start of the hour (UTC) the search was made in.
    pub searched_at: OffsetDateTime,
    /// The text as sent, trimmed; empty for a search by filters alone.
    pub text: String,
    /// The text as searches are grouped by: see [`normalize`].
    pub normalized_text: String,
    /// The filters, a JSON object of URL parameter to its values, sorted.
    pub filters: Value,
    /// Datasets the search listed (partial matches and look-alike names included).
    pub result_count: i64,
    /// Of those, the datasets that match all of the search.
    pub matched_count: i64,
}

/// Why a search is not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotLogged {
    /// A page after the first: the same search, read further.
    LaterPage,
    /// Neither text nor a filter: the list of every dataset.
    NothingAsked,
}

impl LoggedSearch {
    /// The log entry for `query`, made at `at`, that listed `result_count` datasets of which
    /// `matched_count` match all of it; or why it is not recorded.
    pub fn of(
        query: &SearchQuery,
        result_count: i64,
        matched_count: i64,
        at: OffsetDateTime,
    ) -> Result<Self, NotLogged> {
        if query.offset() != 0 {
            return Err(NotLogged::LaterPage);
        }
        if query.text.is_empty() && !query.has_filters() {
            return Err(NotLogged::NothingAsked);
        }
        let result_count = result_count.max(0);
        Ok(Self {
            searched_at: start_of_hour(at),
            text: query.text.trim().to_owned(),
            normalized_text: normalize(&query.text),
            filters: filters_json(query),
            result_count,
            matched_count: matched_count.clamp(0, result_count),
        })
    }

    /// The entry for a search that came back with `results`.
    pub fn of_results(
        query: &SearchQuery,
        results: &SearchResults,
        at: OffsetDateTime,
    ) -> Result<Self, NotLogged> {
        let listed = results.pagination.total;
        let matched = if query.text.is_empty() {
            listed
        } else {
            results.all_words_total
        };
        Self::of(query, listed, matched, at)
    }
}

/// Search text as searches are grouped: trimmed, in lower case, each run of white space one space.
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The start of the hour `at` falls in, in UTC.
fn start_of_hour(at: OffsetDateTime) -> OffsetDateTime {
    let seconds = at.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(seconds - seconds.rem_euclid(TIME_UNIT_SECS))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A query's filters as a JSON object of URL parameter to its values, sorted, so that the same
/// filters chosen in another order are the same search.
fn filters_json(query: &SearchQuery) -> Value {
    let mut filters = Map::new();
    for facet in Facet::ALL {
        let mut values = query.selected(facet).to_vec();
        if values.is_empty() {
            continue;
        }
        values.sort();
        filters.insert(
            facet.param().to_owned(),
            Value::Array(values.into_iter().map(Value::String).collect()),
        );
    }
    Value::Object(filters)
}

/// The filters of a log entry as `(facet, values)` in the order the search page shows facets;
/// parameters this version does not know are left out.
pub fn filters_of(filters: &Value) -> Vec<(Facet, Vec<String>)> {
    let Some(object) = filters.as_object() else {
        return Vec::new();
    };
    Facet::ALL
        .into_iter()
        .filter_map(|facet| {
            let values: Vec<String> = object
                .get(facet.param())?
                .as_array()?
                .iter()
                .filter_map(|value| value.as_str().map(str::to_owned))
                .collect();
            (!values.is_empty()).then_some((facet, values))
        })
        .collect()
}

/// The search a log entry stands for, to run it again: its text and those of its filters that are
/// still valid values.
pub fn query_of(text: &str, filters: &Value) -> SearchQuery {
    let mut query = SearchQuery::default();
    // Recorded text passed the same checks when it was searched; text that no longer would is left out.
    let _ = query.set_text(text);
    for (facet, values) in filters_of(filters) {
        for value in values {
            let _ = query.add_filter(facet, &value);
        }
    }
    query
}

/// A period the analytics look back over, from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Period {
    Week,
    #[default]
    Month,
    Quarter,
}

impl Period {
    pub const ALL: [Self; 3] = [Self::Week, Self::Month, Self::Quarter];

    pub fn days(self) -> i32 {
        match self {
            Self::Week => 7,
            Self::Month => 30,
            Self::Quarter => 90,
        }
    }

    /// The period of so many days, as the URL gives them (`7`, `30` or `90`).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|period| period.days().to_string() == value.trim())
    }

    pub fn label(self) -> String {
        format!("Last {} days", self.days())
    }
}

/// Searches with at most this many full matches count as finding few datasets (and at least one).
pub const FEW_MATCHES: i64 = 3;

/// The lists of the analytics page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchList {
    /// Every search, most frequent first.
    Frequent,
    /// Searches that no dataset matched in full, the last time they were made.
    NoMatch,
    /// Searches that 1 to [`FEW_MATCHES`] datasets matched in full, the last time.
    FewMatches,
}

impl SearchList {
    pub const ALL: [Self; 3] = [Self::Frequent, Self::NoMatch, Self::FewMatches];

    /// The full-match counts of the searches in the list.
    pub fn matched(self) -> std::ops::RangeInclusive<i64> {
        match self {
            Self::Frequent => 0..=i64::MAX,
            Self::NoMatch => 0..=0,
            Self::FewMatches => 1..=FEW_MATCHES,
        }
    }

    /// Its name in URLs.
    pub fn param(self) -> &'static str {
        match self {
            Self::Frequent => "frequent",
            Self::NoMatch => "no-results",
            Self::FewMatches => "few-results",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|list| list.param() == value)
    }
}

/// What [`SearchLog::record`] did with a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Held in memory until the next flush.
    Held,
    /// Recording is turned off.
    Off,
    /// Not a search that is recorded.
    NotLogged(NotLogged),
    /// The buffer was full: dropped and counted.
    Dropped,
}

/// One instance's searches not yet written to the log, bounded.
pub struct SearchLog {
    enabled: bool,
    capacity: usize,
    pending: Mutex<Vec<LoggedSearch>>,
    dropped: AtomicU64,
}

impl SearchLog {
    /// A log that records (`enabled`) or ignores every search, holding up to [`BUFFER_CAPACITY`].
    pub fn new(enabled: bool) -> Self {
        Self::with_capacity(enabled, BUFFER_CAPACITY)
    }

    /// A log holding up to `capacity` searches between flushes.
    pub fn with_capacity(enabled: bool, capacity: usize) -> Self {
        Self {
            enabled,
            capacity,
            pending: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether searches are recorded.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Records a search that came back with `results`, now. Never waits for anything but the lock
    /// of the buffer.
    pub fn record(&self, query: &SearchQuery, results: &SearchResults) -> Recorded {
        if !self.enabled {
            return Recorded::Off;
        }
        match LoggedSearch::of_results(query, results, OffsetDateTime::now_utc()) {
            Ok(search) => self.hold(search),
            Err(reason) => Recorded::NotLogged(reason),
        }
    }

    /// Holds `search` until the next flush, or drops it when the buffer is full.
    pub fn hold(&self, search: LoggedSearch) -> Recorded {
        if !self.enabled {
            return Recorded::Off;
        }
        let mut pending = self.lock();
        if pending.len() >= self.capacity {
            drop(pending);
            self.count_dropped(1);
            return Recorded::Dropped;
        }
        pending.push(search);
        Recorded::Held
    }

    /// Takes every search held, in random order (the log must not tell in which order they came).
    pub fn take_batch(&self) -> Vec<LoggedSearch> {
        let mut batch = std::mem::take(&mut *self.lock());
        batch.shuffle(&mut rand::thread_rng());
        batch
    }

    /// Gives back a batch that could not be written, to be tried again at the next flush; what no
    /// longer fits is dropped and counted.
    pub fn put_back(&self, batch: Vec<LoggedSearch>) {
        let mut pending = self.lock();
        let room = self.capacity.saturating_sub(pending.len());
        let lost = batch.len().saturating_sub(room);
        pending.extend(batch.into_iter().take(room));
        drop(pending);
        self.count_dropped(lost);
    }

    /// Searches held, not yet written.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Searches dropped on this instance since it started because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_dropped(&self, count: usize) {
        if count > 0 {
            self.dropped.fetch_add(count as u64, Ordering::Relaxed);
            crate::metrics::search_log_dropped(count as u64);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LoggedSearch>> {
        // A panic while holding the lock leaves a valid vector behind.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn query(raw: &str) -> SearchQuery {
        SearchQuery::parse(Some(raw)).unwrap()
    }

    fn entry(raw: &str) -> Result<LoggedSearch, NotLogged> {
        LoggedSearch::of(&query(raw), 5, 3, datetime!(2026-03-04 10:59:58.5 UTC))
    }

    #[test]
    fn text_is_grouped_trimmed_in_lower_case_with_spaces_collapsed() {
        assert_eq!(normalize("  Lung \t Nodule\n CT "), "lung nodule ct");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn a_search_is_kept_with_its_hour_text_filters_and_counts() {
        let logged =
            entry("q=Lung%20%20CT&modality=pt&modality=CT&sort=title&per_page=50").unwrap();
        assert_eq!(logged.searched_at, datetime!(2026-03-04 10:00 UTC));
        assert_eq!(logged.text, "Lung  CT");
        assert_eq!(logged.normalized_text, "lung ct");
        assert_eq!(
            logged.filters,
            serde_json::json!({"modality": ["CT", "PT"]})
        );
        assert_eq!((logged.result_count, logged.matched_count), (5, 3));
    }

    #[test]
    fn the_hour_is_taken_in_utc_whatever_the_offset() {
        let at = datetime!(2026-03-04 16:29:00 +05:30);
        let logged = LoggedSearch::of(&query("q=x"), 1, 1, at).unwrap();
        assert_eq!(logged.searched_at, datetime!(2026-03-04 10:00 UTC));
    }

    #[test]
    fn later_pages_and_empty_searches_are_not_logged() {
        assert_eq!(entry("q=lung&page=2"), Err(NotLogged::LaterPage));
        assert_eq!(entry(""), Err(NotLogged::NothingAsked));
        assert_eq!(entry("sort=newest&page=1"), Err(NotLogged::NothingAsked));
        assert!(entry("access=open").is_ok());
        let mut from_offset = query("q=lung");
        from_offset.start = Some(20);
        assert_eq!(
            LoggedSearch::of(&from_offset, 1, 1, OffsetDateTime::now_utc()),
            Err(NotLogged::LaterPage)
        );
    }

    #[test]
    fn counts_are_kept_consistent() {
        let logged = LoggedSearch::of(&query("q=x"), 2, 9, OffsetDateTime::now_utc()).unwrap();
        assert_eq!((logged.result_count, logged.matched_count), (2, 2));
    }

    #[test]
    fn a_logged_search_links_back_to_the_same_search() {
        let logged = entry("q=Kidney&body_part=Kidney&modality=CT").unwrap();
        let again = query_of(&logged.text, &logged.filters);
        assert_eq!(
            again.href(),
            "/datasets?q=Kidney&modality=CT&body_part=kidney"
        );
        assert_eq!(
            filters_of(&serde_json::json!({"modality": ["MR"], "nonsense": ["x"]})),
            vec![(Facet::Modality, vec!["MR".to_owned()])]
        );
    }

    #[test]
    fn a_full_buffer_drops_and_counts_and_a_failed_batch_comes_back() {
        let log = SearchLog::with_capacity(true, 2);
        let one = entry("q=one").unwrap();
        assert_eq!(log.hold(one.clone()), Recorded::Held);
        assert_eq!(log.hold(one.clone()), Recorded::Held);
        assert_eq!(log.hold(one.clone()), Recorded::Dropped);
        assert_eq!((log.pending(), log.dropped()), (2, 1));
        let batch = log.take_batch();
        assert_eq!((batch.len(), log.pending()), (2, 0));
        assert_eq!(log.hold(one.clone()), Recorded::Held);
        log.put_back(batch);
        assert_eq!((log.pending(), log.dropped()), (2, 2));
    }

    #[test]
    fn periods_and_lists_read_their_url_forms_only() {
        assert_eq!(Period::parse("7"), Some(Period::Week));
        assert_eq!(Period::parse("90"), Some(Period::Quarter));
        for bad in ["", "8", "-7", "30.0", "seven", "070"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        for list in SearchList::ALL {
            assert_eq!(SearchList::parse(list.param()), Some(list));
        }
        assert_eq!(SearchList::parse("all"), None);
    }

    #[test]
    fn a_log_turned_off_holds_nothing() {
        let log = SearchLog::new(false);
        assert_eq!(log.hold(entry("q=one").unwrap()), Recorded::Off);
        assert_eq!(log.pending(), 0);
    }
}
