//! The search analytics page (`/admin/searches`): over the last 7, 30 or 90 days, the most frequent
//! searches, those no dataset matched in full, those few matched, and the totals, each list also as
//! CSV. Read from the anonymous search log, which holds no trace of who searched.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::catalog::db::search_log::{self, SearchGroup, Totals};
use crate::catalog::metadata::defuse_formula;
use crate::catalog::search_log::{FEW_MATCHES, Period, SearchList, filters_of, query_of};
use crate::error::AppError;
use crate::format::{datetime, rfc3339, thousands};
use crate::web::AppState;
use crate::web::extract::AdminUser;
use crate::web::{Layout, Nav, render};

/// Searches each list of the page shows.
const LIST_LENGTH: i64 = 50;
/// Searches one CSV download holds.
const CSV_MAX_ROWS: i64 = 10_000;

/// What the page and the downloads read from the URL.
struct Selection {
    period: Period,
    list: Option<SearchList>,
}

impl Selection {
    /// Reads `days` (7, 30 or 90; 30 when absent) and `list`; anything else is ignored.
    fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let mut selection = Self {
            period: Period::default(),
            list: None,
        };
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "days" => {
                    selection.period = Period::parse(&value).ok_or_else(|| {
                        AppError::BadRequest(
                            "The period must be the last 7, 30 or 90 days (days=7, days=30 or days=90)."
                                .to_owned(),
                        )
                    })?;
                }
                "list" => {
                    selection.list = Some(SearchList::parse(&value).ok_or_else(|| {
                        AppError::BadRequest(
                            "The list must be frequent, no-results or few-results.".to_owned(),
                        )
                    })?);
                }
                _ => {}
            }
        }
        Ok(selection)
    }
}

/// One row of a list, ready to show.
pub struct Row {
    pub group: SearchGroup,
    /// The search page for the same search.
    pub href: String,
    /// "Modality: CT — Computed tomography", one per filtered facet.
    pub filters: Vec<String>,
    /// The hour it was last made in, as people read it.
    pub last_searched: String,
}

impl Row {
    fn new(group: SearchGroup) -> Self {
        let href = query_of(&group.query_text, &group.filters).href();
        let filters = filter_labels(&group.filters);
        Self {
            last_searched: datetime(group.last_searched_at),
            group,
            href,
            filters,
        }
    }
}

/// The filters of a logged search as people read them.
fn filter_labels(filters: &serde_json::Value) -> Vec<String> {
    filters_of(filters)
        .into_iter()
        .map(|(facet, values)| {
            let values: Vec<String> = values
                .iter()
                .map(|value| facet.value_label(value))
                .collect();
            format!("{}: {}", facet.label(), values.join(" or "))
        })
        .collect()
}

/// The filters of a logged search as URL parameters (`modality=CT&body_part=kidney`), for CSV.
fn filter_params(filters: &serde_json::Value) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (facet, values) in filters_of(filters) {
        for value in values {
            out.append_pair(facet.param(), &value);
        }
    }
    out.finish()
}

#[derive(Template)]
#[template(path = "admin/searches.html")]
pub struct SearchesPage {
    pub layout: Layout,
    pub period: Period,
    pub periods: Vec<(Period, bool)>,
    pub totals: Totals,
    pub frequent: Vec<Row>,
    pub no_match: Vec<Row>,
    pub few_matches: Vec<Row>,
    pub few_limit: i64,
    /// Days the log keeps searches; 0 when recording is off.
    pub retention_days: u32,
    /// Searches this instance dropped since it started because its buffer was full.
    pub dropped: u64,
}

impl SearchesPage {
    fn number(&self, value: &i64) -> String {
        thousands(*value)
    }

    fn share_without_match(&self) -> String {
        if self.totals.searches == 0 {
            "0%".to_owned()
        } else {
            let share = self.totals.without_match as f64 * 100.0 / self.totals.searches as f64;
            format!("{share:.0}%")
        }
    }

    fn csv_href(&self, list: SearchList) -> String {
        format!(
            "/admin/searches.csv?days={}&list={}",
            self.period.days(),
            list.param()
        )
    }

    fn frequent_csv(&self) -> String {
        self.csv_href(SearchList::Frequent)
    }

    fn no_match_csv(&self) -> String {
        self.csv_href(SearchList::NoMatch)
    }

    fn few_matches_csv(&self) -> String {
        self.csv_href(SearchList::FewMatches)
    }
}

/// `GET /admin/searches`: the analytics of the chosen period.
pub async fn page(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let Selection { period, .. } = Selection::parse(raw.as_deref())?;
    let days = period.days();
    let rows = |groups: Vec<SearchGroup>| groups.into_iter().map(Row::new).collect::<Vec<_>>();
    let totals = search_log::totals(&state.db, days).await?;
    let lists = search_log::lists(&state.db, days, FEW_MATCHES, LIST_LENGTH).await?;
    render(&SearchesPage {
        layout: Layout::new("Search analytics", Nav::None).with_user(Some(&admin)),
        period,
        periods: Period::ALL.map(|p| (p, p == period)).to_vec(),
        totals,
        frequent: rows(lists.frequent),
        no_match: rows(lists.no_match),
        few_matches: rows(lists.few_matches),
        few_limit: FEW_MATCHES,
        retention_days: state.config.search_log_days,
        dropped: state.search_log.dropped(),
    })
}

/// `GET /admin/searches.csv?days=…&list=…`: one list of the page, in full (up to
/// [`CSV_MAX_ROWS`] searches).
pub async fn csv(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let selection = Selection::parse(raw.as_deref())?;
    let list = selection.list.unwrap_or(SearchList::Frequent);
    let groups = search_log::grouped(
        &state.db,
        selection.period.days(),
        list.matched(),
        CSV_MAX_ROWS,
    )
    .await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "search",
            "filters",
            "searches",
            "results",
            "matching_all",
            "last_searched_hour",
        ])
        .map_err(anyhow::Error::from)?;
    for group in &groups {
        writer
            .write_record([
                defuse_formula(&group.query_text),
                defuse_formula(&filter_params(&group.filters)),
                group.searches.to_string(),
                group.result_count.to_string(),
                group.matched_count.to_string(),
                rfc3339(group.last_searched_at),
            ])
            .map_err(anyhow::Error::from)?;
    }
    let body = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let disposition = format!(
        "attachment; filename=\"radportal-searches-{}-{}days.csv\"",
        list.param(),
        selection.period.days()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_defaults_to_thirty_days_and_anything_else_is_refused() {
        assert_eq!(Selection::parse(None).unwrap().period, Period::Month);
        assert_eq!(
            Selection::parse(Some("days=7&other=x")).unwrap().period,
            Period::Week
        );
        for bad in [
            "days=",
            "days=8",
            "days=%00",
            "days=9999999999999999999",
            "list=all",
        ] {
            assert!(
                matches!(Selection::parse(Some(bad)), Err(AppError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_read_as_labels_and_as_parameters() {
        let filters = serde_json::json!({"modality": ["CT", "PT"], "access": ["open"]});
        assert_eq!(
            filter_params(&filters),
            "access=open&modality=CT&modality=PT"
        );
        let labels = filter_labels(&filters);
        assert_eq!(labels.len(), 2);
        assert!(labels[1].starts_with("Modality: CT"), "{labels:?}");
    }
}
