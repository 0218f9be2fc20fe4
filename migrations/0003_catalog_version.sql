-- A counter that moves whenever the published catalog may have changed, so that every app instance
-- can tell cheaply whether its in-memory search index is current. It moves with the committing
-- transaction, so a reader never sees the new number before the new rows.

create table catalog_state (
    id boolean primary key default true constraint catalog_state_single_row check (id),
    version bigint not null default 1
);

insert into catalog_state (id, version) values (true, 1);

create function bump_catalog_version() returns trigger
language plpgsql as $$
begin
    update catalog_state set version = version + 1 where id;
    return null;
end
$$;

create trigger datasets_bump_catalog_version
    after insert or update or delete or truncate on datasets
    for each statement execute function bump_catalog_version();

create trigger organizations_bump_catalog_version
    after insert or update or delete or truncate on organizations
    for each statement execute function bump_catalog_version();

-- Related datasets on a dataset page: same main anatomy and main modality, largest first, read from one
-- index range instead of scoring every dataset that shares a body part.
alter table datasets
    add column primary_body_part text generated always as (body_parts[1]) stored,
    add column primary_modality text generated always as (modalities[1]) stored;

create index datasets_related_idx on datasets (primary_body_part, primary_modality, subject_count desc nulls last, id)
    where status = 'published';
