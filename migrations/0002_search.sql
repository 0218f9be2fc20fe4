-- Search upkeep beyond the weighted document: names for typo-tolerant matching, task categories for the
-- task facet.

-- "segmentation (brain tumor)" → "segmentation"; "Classification/detection (...)" → "classification/detection".
create function task_category(task text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(lower(split_part(split_part(task, ' (', 1), ';', 1))), '')
$$;

create function task_categories(tasks text[]) returns text[]
language sql immutable parallel safe as $$
    select coalesce(array_agg(distinct category order by category), '{}')
    from (select task_category(task) as category from unnest(tasks) as task) as categories
    where category is not null
$$;

alter table datasets
    add column search_names text not null default '',
    add column task_categories text[] not null default '{}';

create or replace function datasets_refresh_search_vector() returns trigger
language plpgsql as $$
begin
    new.search_vector = dataset_search_vector(
        new.title, new.aliases, new.slug, new.doi,
        (select name from organizations where id = new.organization_id),
        new.modalities, new.body_parts, new.tasks, new.conditions, new.annotation_objects,
        new.challenge, new.summary, new.description);
    new.search_names = lower(new.title || ' ' || array_to_string(new.aliases, ' ') || ' ' || new.slug);
    new.task_categories = task_categories(new.tasks);
    return new;
end
$$;

-- Fill the new columns for the rows already there (the trigger recomputes them).
update datasets set organization_id = organization_id;

create index datasets_search_names_trgm_idx on datasets using gin (search_names gin_trgm_ops);
create index datasets_task_categories_idx on datasets using gin (task_categories);
create index datasets_data_use_limitations_idx on datasets using gin (data_use_limitations);
create index datasets_license_idx on datasets (license);
drop index datasets_title_trgm_idx;
