-- Tell every app instance when the catalog changes (LISTEN radportal_catalog), so that its caches can
-- follow without asking on every request; keep the one-row version table small under many updates.

alter table catalog_state set (fillfactor = 10);

create or replace function bump_catalog_version() returns trigger
language plpgsql as $$
declare
    next_version bigint;
begin
    update catalog_state set version = version + 1 where id returning version into next_version;
    perform pg_notify('radportal_catalog', next_version::text);
    return null;
end
$$;
