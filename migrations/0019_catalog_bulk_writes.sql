-- Writes of the catalog pay only for what is read. Search runs in memory, so the search document
-- (search_vector, search_names, task_categories), the trigger that computed it on every write, the
-- re-indexing of an organization's datasets when it is renamed, and the indexes only the SQL search
-- read are dropped. Long values are compressed with lz4, which is much cheaper to write than pglz.

drop trigger datasets_search_vector on datasets;
drop function datasets_refresh_search_vector();
drop trigger organizations_reindex_datasets on organizations;
drop function organizations_reindex_datasets();

-- Their indexes go with the columns.
alter table datasets
    drop column search_vector,
    drop column search_names,
    drop column task_categories;

drop function dataset_search_vector(text, text[], text, text, text, text[], text[], text[], text[], text[], text, text, text);
drop function modality_search_terms(text[]);
drop function task_categories(text[]);
drop function task_category(text);

drop index datasets_modalities_idx;
drop index datasets_body_parts_idx;
drop index datasets_data_use_limitations_idx;
drop index datasets_license_idx;

-- Every value PostgreSQL may compress, in both tables. Values written from now on; the ones already
-- stored stay as they are until they are rewritten.
do $$
declare
    col record;
begin
    for col in
        select a.attrelid::regclass as tab, a.attname as name
        from pg_attribute a join pg_type t on t.oid = a.atttypid
        where a.attrelid in ('datasets'::regclass, 'dataset_revisions'::regclass)
          and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
          and t.typstorage in ('x', 'm')
    loop
        execute format('alter table %s alter column %I set compression lz4', col.tab, col.name);
    end loop;
end
$$;
