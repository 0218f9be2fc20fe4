-- Search analytics for curators: what was searched on the search page (/datasets), the JSON API
-- (/api/v1/datasets) and the CKAN Action API (package_search), and how many datasets it found, so
-- that curators see what the catalog lacks. Rows are kept for RADPORTAL_SEARCH_LOG_DAYS (default 90)
-- and pruned after that; 0 turns recording off.
--
-- Nothing here says who searched: no user id, session, IP address, user agent, referrer or request
-- id is stored, by design. Nor is anything that would let a row be lined up with a request log:
-- `searched_at` is the hour the search was made in (not the moment), there is no row id or sequence,
-- and the searches written in one batch are shuffled first, so the order of the rows says nothing
-- about the order of the searches within an hour.
--
-- Only a search's first page is recorded (turning pages is not a new search), and only searches with
-- text or at least one filter (the plain list of all datasets is not a search).
create table search_log (
    -- The start of the hour (UTC) the search was made in.
    searched_at timestamptz not null,
    -- The text as it was sent, trimmed; empty for a search by filters alone.
    query_text text not null,
    -- The text trimmed, in lower case, with runs of white space as one space: what searches are
    -- grouped by.
    normalized_text text not null,
    -- The filters as the URL gives them, parameter to sorted values: {"modality": ["CT", "PT"]}.
    filters jsonb not null default '{}',
    -- Datasets the search listed, partial matches and look-alike names included.
    result_count bigint not null,
    -- Of those, the datasets matching all of the search (every filter and every part of the text).
    matched_count bigint not null,
    constraint search_log_hour check (extract(epoch from searched_at) % 3600 = 0),
    constraint search_log_filters_object check (jsonb_typeof(filters) = 'object'),
    constraint search_log_counts check (result_count >= 0 and matched_count between 0 and result_count),
    constraint search_log_is_a_search check (query_text <> '' or filters <> '{}')
);

-- The analytics page reads one period back from now, and pruning deletes from the far end.
create index search_log_searched_at on search_log (searched_at);
