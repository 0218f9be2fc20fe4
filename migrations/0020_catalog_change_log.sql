-- The catalog's change log: which datasets and organizations each catalog version changed, so that
-- every app instance updates its in-memory search index with the changed rows only instead of reading
-- the whole catalog again.
--
-- The version now moves once per statement that really changed rows (not once per row), so that a
-- bulk import writing thousands of rows in one statement costs one update of `catalog_state`, one
-- notification and one index update. Every version has at least one row here; a version with none (a
-- restore moves the version without logging) tells an instance that the log does not cover its gap,
-- and it reads the whole catalog. A row with neither id (a truncation) means everything changed.

create table catalog_changes (
    version bigint not null,
    dataset_id bigint,
    organization_id bigint,
    changed_at timestamptz not null default now()
);

create index catalog_changes_version_idx on catalog_changes (version);

drop trigger datasets_bump_catalog_version_on_insert_or_delete on datasets;
drop trigger datasets_bump_catalog_version_on_update on datasets;
drop trigger datasets_bump_catalog_version_on_truncate on datasets;
drop trigger organizations_bump_catalog_version_on_insert_or_delete on organizations;
drop trigger organizations_bump_catalog_version_on_update on organizations;
drop trigger organizations_bump_catalog_version_on_truncate on organizations;

create or replace function bump_catalog_version() returns trigger
language plpgsql as $$
declare
    changed bigint[];
    next_version bigint;
begin
    if TG_OP = 'INSERT' then
        select array_agg(id) into changed from new_rows;
    elsif TG_OP = 'DELETE' then
        select array_agg(id) into changed from old_rows;
    elsif TG_OP = 'UPDATE' then
        select array_agg(n.id) into changed
        from new_rows n join old_rows o on o.id = n.id
        where (o.*) is distinct from (n.*);
    end if;
    if TG_OP <> 'TRUNCATE' and changed is null then
        -- No row really changed: caches stay valid.
        return null;
    end if;
    update catalog_state set version = version + 1 where id returning version into next_version;
    if TG_OP = 'TRUNCATE' then
        insert into catalog_changes (version) values (next_version);
    elsif TG_TABLE_NAME = 'datasets' then
        insert into catalog_changes (version, dataset_id) select next_version, unnest(changed);
    else
        insert into catalog_changes (version, organization_id) select next_version, unnest(changed);
    end if;
    perform pg_notify('radportal_catalog', next_version::text);
    return null;
end
$$;

create trigger datasets_bump_catalog_version_on_insert
    after insert on datasets referencing new table as new_rows
    for each statement execute function bump_catalog_version();
create trigger datasets_bump_catalog_version_on_update
    after update on datasets referencing old table as old_rows new table as new_rows
    for each statement execute function bump_catalog_version();
create trigger datasets_bump_catalog_version_on_delete
    after delete on datasets referencing old table as old_rows
    for each statement execute function bump_catalog_version();
create trigger datasets_bump_catalog_version_on_truncate
    after truncate on datasets
    for each statement execute function bump_catalog_version();

create trigger organizations_bump_catalog_version_on_insert
    after insert on organizations referencing new table as new_rows
    for each statement execute function bump_catalog_version();
create trigger organizations_bump_catalog_version_on_update
    after update on organizations referencing old table as old_rows new table as new_rows
    for each statement execute function bump_catalog_version();
create trigger organizations_bump_catalog_version_on_delete
    after delete on organizations referencing old table as old_rows
    for each statement execute function bump_catalog_version();
create trigger organizations_bump_catalog_version_on_truncate
    after truncate on organizations
    for each statement execute function bump_catalog_version();
