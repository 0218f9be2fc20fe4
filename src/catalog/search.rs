//! Catalog search: the query a researcher builds from text, filters, sort and page — all of it in the URL —
//! and its translation into one SQL query for the results and one per facet for the counts.

use std::fmt::Write as _;

use sqlx::{PgPool, Postgres, QueryBuilder};

use super::db::SUMMARY_COLUMNS;
use super::model::{AccessLevel, DatasetSummary, SourceKind, modality_name};
use crate::web::pagination::{MAX_PAGE, PER_PAGE, Pagination};

/// Longest text query accepted.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most values accepted for one filter.
pub const MAX_FILTER_VALUES: usize = 20;

/// A filterable dimension of the catalog, each with a URL parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facet {
    Organization,
    SourceKind,
    AccessLevel,
    Modality,
    BodyPart,
}

impl Facet {
    pub const ALL: [Self; 5] = [
        Self::SourceKind,
        Self::AccessLevel,
        Self::Modality,
        Self::BodyPart,
        Self::Organization,
    ];

    /// The URL query parameter.
    pub fn param(self) -> &'static str {
        match self {
            Self::Organization => "org",
            Self::SourceKind => "kind",
            Self::AccessLevel => "access",
            Self::Modality => "modality",
            Self::BodyPart => "body_part",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Organization => "Organization",
            Self::SourceKind => "Source kind",
            Self::AccessLevel => "Access",
            Self::Modality => "Modality",
            Self::BodyPart => "Body part",
        }
    }

    /// How a stored value is shown.
    pub fn value_label(self, value: &str) -> String {
        match self {
            Self::SourceKind => SourceKind::parse(value)
                .map(|kind| kind.label().to_owned())
                .unwrap_or_else(|| value.to_owned()),
            Self::AccessLevel => match AccessLevel::parse(value) {
                Some(level) => level.label().to_owned(),
                None => "Not stated".to_owned(),
            },
            Self::Modality => match modality_name(value) {
                Some(name) => format!("{value} — {name}"),
                None => value.to_owned(),
            },
            Self::BodyPart => capitalise(value),
            Self::Organization => value.to_owned(),
        }
    }
}

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (only with a text query; otherwise by title).
    #[default]
    Relevance,
    Title,
    /// Most subjects first.
    Subjects,
    /// Most recently updated upstream first.
    Newest,
}

impl Sort {
    pub const ALL: [Self; 4] = [Self::Relevance, Self::Title, Self::Subjects, Self::Newest];

    pub fn param(self) -> &'static str {
        match self {
            Self::Relevance => "relevance",
            Self::Title => "title",
            Self::Subjects => "subjects",
            Self::Newest => "newest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Relevance => "Relevance",
            Self::Title => "Title (A–Z)",
            Self::Subjects => "Most subjects",
            Self::Newest => "Recently updated",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.param() == value)
    }
}

/// A search as the URL states it. Build with [`SearchQuery::parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    pub organizations: Vec<String>,
    pub kinds: Vec<SourceKind>,
    /// `None` stands for "access not stated".
    pub access: Vec<Option<AccessLevel>>,
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
    pub sort: Sort,
    pub page: i64,
}

/// A query parameter that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("parameter '{parameter}': {message}")]
pub struct ParamError {
    pub parameter: String,
    pub message: String,
}

impl ParamError {
    fn new(parameter: &str, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

impl SearchQuery {
    /// Reads a search from a URL query string. Unknown parameters are ignored; bad values are errors.
    pub fn parse(raw_query: Option<&str>) -> Result<Self, ParamError> {
        let mut query = Self {
            page: 1,
            ..Self::default()
        };
        let pairs = url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes());
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                // `modality=` from an untouched form control means "no filter".
                continue;
            }
            match key.as_ref() {
                "q" => {
                    if value.chars().count() > MAX_QUERY_CHARS {
                        return Err(ParamError::new(
                            "q",
                            format!("the search text is limited to {MAX_QUERY_CHARS} characters"),
                        ));
                    }
                    if value.contains('\0') {
                        return Err(ParamError::new(
                            "q",
                            "the search text contains a NUL character",
                        ));
                    }
                    query.text = value.to_owned();
                }
                "org" => push_value(&mut query.organizations, "org", value.to_lowercase())?,
                "kind" => {
                    let kind = SourceKind::parse(value).ok_or_else(|| {
                        ParamError::new("kind", format!("'{value}' is not a source kind"))
                    })?;
                    push_value(&mut query.kinds, "kind", kind)?;
                }
                "access" => {
                    let level = match value {
                        "unknown" => None,
                        other => Some(AccessLevel::parse(other).ok_or_else(|| {
                            ParamError::new("access", format!("'{other}' is not an access level"))
                        })?),
                    };
                    push_value(&mut query.access, "access", level)?;
                }
                "modality" => push_value(&mut query.modalities, "modality", value.to_uppercase())?,
                "body_part" => {
                    push_value(&mut query.body_parts, "body_part", value.to_lowercase())?
                }
                "sort" => {
                    query.sort = Sort::parse(value).ok_or_else(|| {
                        ParamError::new("sort", "must be one of relevance, title, subjects, newest")
                    })?;
                }
                "page" => {
                    query.page = value
                        .parse::<i64>()
                        .ok()
                        .filter(|page| (1..=MAX_PAGE).contains(page))
                        .ok_or_else(|| {
                            ParamError::new(
                                "page",
                                format!("must be a whole number from 1 to {MAX_PAGE}"),
                            )
                        })?;
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// The sort in effect: relevance needs text to rank by.
    pub fn effective_sort(&self) -> Sort {
        match (self.sort, self.text.is_empty()) {
            (Sort::Relevance, true) => Sort::Title,
            (sort, _) => sort,
        }
    }

    /// The values selected for a facet, in their URL form.
    pub fn selected(&self, facet: Facet) -> Vec<String> {
        match facet {
            Facet::Organization => self.organizations.clone(),
            Facet::SourceKind => self.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            Facet::AccessLevel => self
                .access
                .iter()
                .map(|level| level.map_or("unknown", AccessLevel::as_str).to_owned())
                .collect(),
            Facet::Modality => self.modalities.clone(),
            Facet::BodyPart => self.body_parts.clone(),
        }
    }

    pub fn is_selected(&self, facet: Facet, value: &str) -> bool {
        self.selected(facet)
            .iter()
            .any(|selected| selected == value)
    }

    pub fn has_filters(&self) -> bool {
        Facet::ALL
            .iter()
            .any(|facet| !self.selected(*facet).is_empty())
    }

    /// The URL query string for this search (page 1 is left out).
    pub fn to_query_string(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if !self.text.is_empty() {
            out.append_pair("q", &self.text);
        }
        for facet in Facet::ALL {
            for value in self.selected(facet) {
                out.append_pair(facet.param(), &value);
            }
        }
        if self.sort != Sort::default() {
            out.append_pair("sort", self.sort.param());
        }
        if self.page > 1 {
            out.append_pair("page", &self.page.to_string());
        }
        out.finish()
    }

    /// `/datasets?…` for this search.
    pub fn href(&self) -> String {
        let query = self.to_query_string();
        let mut href = "/datasets".to_owned();
        if !query.is_empty() {
            let _ = write!(href, "?{query}");
        }
        href
    }

    /// The same search on another page.
    pub fn with_page(&self, page: i64) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }

    /// The same search with `value` added to or removed from a facet, back on page 1.
    pub fn toggled(&self, facet: Facet, value: &str) -> Self {
        let mut next = Self {
            page: 1,
            ..self.clone()
        };
        let toggle_string = |values: &mut Vec<String>| {
            if let Some(index) = values.iter().position(|v| v == value) {
                values.remove(index);
            } else {
                values.push(value.to_owned());
            }
        };
        match facet {
            Facet::Organization => toggle_string(&mut next.organizations),
            Facet::Modality => toggle_string(&mut next.modalities),
            Facet::BodyPart => toggle_string(&mut next.body_parts),
            Facet::SourceKind => {
                if let Some(kind) = SourceKind::parse(value) {
                    toggle(&mut next.kinds, kind);
                }
            }
            Facet::AccessLevel => {
                let level = AccessLevel::parse(value);
                if level.is_some() || value == "unknown" {
                    toggle(&mut next.access, level);
                }
            }
        }
        next
    }

    /// The same search with another sort order, back on page 1.
    pub fn sorted_by(&self, sort: Sort) -> Self {
        Self {
            sort,
            page: 1,
            ..self.clone()
        }
    }

    /// The same filters without any text.
    pub fn without_text(&self) -> Self {
        Self {
            text: String::new(),
            page: 1,
            ..self.clone()
        }
    }
}

fn push_value<T: PartialEq>(
    values: &mut Vec<T>,
    parameter: &str,
    value: T,
) -> Result<(), ParamError> {
    if values.contains(&value) {
        return Ok(());
    }
    if values.len() >= MAX_FILTER_VALUES {
        return Err(ParamError::new(
            parameter,
            format!("at most {MAX_FILTER_VALUES} values may be selected"),
        ));
    }
    values.push(value);
    Ok(())
}

fn toggle<T: PartialEq>(values: &mut Vec<T>, value: T) {
    if let Some(index) = values.iter().position(|v| *v == value) {
        values.remove(index);
    } else {
        values.push(value);
    }
}

fn capitalise(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One value of a facet with the number of matching datasets.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FacetCount {
    pub value: String,
    pub label: Option<String>,
    pub count: i64,
}

/// A facet's values as the page shows them.
#[derive(Clone, Debug)]
pub struct FacetValues {
    pub facet: Facet,
    pub values: Vec<FacetCount>,
}

/// One page of results with the total and the facet counts.
#[derive(Clone, Debug)]
pub struct SearchResults {
    pub items: Vec<DatasetSummary>,
    pub pagination: Pagination,
    pub facets: Vec<FacetValues>,
}

/// Runs a search: the page of results and every facet's counts.
pub async fn search(db: &PgPool, query: &SearchQuery) -> sqlx::Result<SearchResults> {
    let results = fetch_page(db, query);
    let facets = async {
        let mut all = Vec::with_capacity(Facet::ALL.len());
        for facet in Facet::ALL {
            all.push(FacetValues {
                facet,
                values: facet_counts(db, query, facet).await?,
            });
        }
        Ok::<_, sqlx::Error>(all)
    };
    let ((items, total), facets) = tokio::try_join!(results, facets)?;
    Ok(SearchResults {
        items,
        pagination: Pagination::new(query.page, PER_PAGE, total),
        facets,
    })
}

/// Adds `from … where …` for `query`, leaving out the filter on `skip` (a facet counts its own values
/// against the other filters, so that selecting one value does not hide the others).
fn push_from_where(
    builder: &mut QueryBuilder<'_, Postgres>,
    query: &SearchQuery,
    skip: Option<Facet>,
    extra_join: &str,
) {
    builder
        .push(" from datasets d join organizations o on o.id = d.organization_id")
        .push(extra_join)
        .push(" where d.status = 'published'");
    if !query.text.is_empty() {
        builder
            .push(" and d.search_vector @@ websearch_to_tsquery('english', ")
            .push_bind(query.text.clone())
            .push(")");
    }
    if skip != Some(Facet::Organization) && !query.organizations.is_empty() {
        builder
            .push(" and o.slug = any(")
            .push_bind(query.organizations.clone())
            .push(")");
    }
    if skip != Some(Facet::SourceKind) && !query.kinds.is_empty() {
        builder
            .push(" and d.source_kind = any(")
            .push_bind(query.kinds.clone())
            .push(")");
    }
    if skip != Some(Facet::AccessLevel) && !query.access.is_empty() {
        let levels: Vec<AccessLevel> = query.access.iter().flatten().copied().collect();
        let include_unknown = query.access.contains(&None);
        builder
            .push(" and (d.access_level = any(")
            .push_bind(levels)
            .push(")");
        if include_unknown {
            builder.push(" or d.access_level is null");
        }
        builder.push(")");
    }
    if skip != Some(Facet::Modality) && !query.modalities.is_empty() {
        builder
            .push(" and d.modalities && ")
            .push_bind(query.modalities.clone());
    }
    if skip != Some(Facet::BodyPart) && !query.body_parts.is_empty() {
        builder
            .push(" and d.body_parts && ")
            .push_bind(query.body_parts.clone());
    }
}

async fn fetch_page(db: &PgPool, query: &SearchQuery) -> sqlx::Result<(Vec<DatasetSummary>, i64)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        summary: DatasetSummary,
        total: i64,
    }
    let mut builder = QueryBuilder::new(format!(
        "select {SUMMARY_COLUMNS}, count(*) over () as total"
    ));
    push_from_where(&mut builder, query, None, "");
    builder.push(" order by ");
    match query.effective_sort() {
        Sort::Relevance => {
            builder
                .push("ts_rank_cd(d.search_vector, websearch_to_tsquery('english', ")
                .push_bind(query.text.clone())
                .push(")) desc, lower(d.title)");
        }
        Sort::Title => {
            builder.push("lower(d.title)");
        }
        Sort::Subjects => {
            builder.push("d.subject_count desc nulls last, lower(d.title)");
        }
        Sort::Newest => {
            builder.push(
                "coalesce(d.last_updated_upstream, make_date(d.year, 1, 1)) desc nulls last, lower(d.title)",
            );
        }
    }
    builder
        .push(", d.id limit ")
        .push_bind(PER_PAGE)
        .push(" offset ")
        .push_bind((query.page - 1) * PER_PAGE);
    let rows: Vec<Row> = builder.build_query_as().fetch_all(db).await?;
    let total = match rows.first() {
        Some(row) => row.total,
        // Past the last page: count anyway so the page can say how many there are.
        None if query.page > 1 => count(db, query).await?,
        None => 0,
    };
    Ok((rows.into_iter().map(|row| row.summary).collect(), total))
}

async fn count(db: &PgPool, query: &SearchQuery) -> sqlx::Result<i64> {
    let mut builder = QueryBuilder::new("select count(*)");
    push_from_where(&mut builder, query, None, "");
    builder.build_query_scalar().fetch_one(db).await
}

/// Counts per value of one facet over the datasets matching every other filter.
async fn facet_counts(
    db: &PgPool,
    query: &SearchQuery,
    facet: Facet,
) -> sqlx::Result<Vec<FacetCount>> {
    let (value, label, join) = match facet {
        Facet::Organization => ("o.slug", "o.name", ""),
        Facet::SourceKind => ("d.source_kind::text", "null", ""),
        Facet::AccessLevel => ("coalesce(d.access_level::text, 'unknown')", "null", ""),
        Facet::Modality => (
            "m.value",
            "null",
            " cross join lateral unnest(d.modalities) as m(value)",
        ),
        Facet::BodyPart => (
            "b.value",
            "null",
            " cross join lateral unnest(d.body_parts) as b(value)",
        ),
    };
    let mut builder = QueryBuilder::new(format!(
        "select {value} as value, min({label}) as label, count(*) as count"
    ));
    push_from_where(&mut builder, query, Some(facet), join);
    builder.push(" group by 1 order by 3 desc, 1 limit 40");
    builder.build_query_as().fetch_all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_filters_and_round_trips() {
        let query = SearchQuery::parse(Some(
            "q=lung+nodule&modality=CT&modality=mr&access=open&access=unknown&kind=imaging_archive&org=tcia&sort=subjects&page=2",
        ))
        .unwrap();
        assert_eq!(query.text, "lung nodule");
        assert_eq!(query.modalities, vec!["CT", "MR"]);
        assert_eq!(query.access, vec![Some(AccessLevel::Open), None]);
        assert_eq!(query.kinds, vec![SourceKind::ImagingArchive]);
        assert_eq!(query.sort, Sort::Subjects);
        assert_eq!(query.page, 2);
        assert_eq!(
            SearchQuery::parse(Some(&query.to_query_string())).unwrap(),
            query
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (raw, parameter) in [
            ("kind=spaceship", "kind"),
            ("access=free", "access"),
            ("page=0", "page"),
            ("page=abc", "page"),
            ("page=100000", "page"),
            ("sort=random", "sort"),
        ] {
            let error = SearchQuery::parse(Some(raw)).unwrap_err();
            assert_eq!(error.parameter, parameter, "{raw}");
        }
        let long = format!("q={}", "a".repeat(MAX_QUERY_CHARS + 1));
        assert_eq!(SearchQuery::parse(Some(&long)).unwrap_err().parameter, "q");
    }

    #[test]
    fn blank_and_unknown_parameters_are_ignored() {
        let query = SearchQuery::parse(Some("q=&modality=&kind=&utm_source=mail")).unwrap();
        assert_eq!(
            query,
            SearchQuery {
                page: 1,
                ..SearchQuery::default()
            }
        );
    }

    #[test]
    fn toggling_adds_and_removes_and_resets_the_page() {
        let query = SearchQuery::parse(Some("modality=CT&page=3")).unwrap();
        let more = query.toggled(Facet::Modality, "MR");
        assert_eq!(more.modalities, vec!["CT", "MR"]);
        assert_eq!(more.page, 1);
        let fewer = more.toggled(Facet::Modality, "CT");
        assert_eq!(fewer.modalities, vec!["MR"]);
        assert_eq!(fewer.href(), "/datasets?modality=MR");
    }

    #[test]
    fn relevance_falls_back_to_title_without_text() {
        let query = SearchQuery::parse(None).unwrap();
        assert_eq!(query.effective_sort(), Sort::Title);
    }
}
