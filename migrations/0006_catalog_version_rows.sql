-- Move the catalog version only when a row really changes: an import of unchanged records, or an
-- organization upsert that finds the organization, no longer invalidates every cache.

drop trigger datasets_bump_catalog_version on datasets;
drop trigger organizations_bump_catalog_version on organizations;

create trigger datasets_bump_catalog_version_on_insert_or_delete
    after insert or delete on datasets
    for each row execute function bump_catalog_version();
create trigger datasets_bump_catalog_version_on_update
    after update on datasets
    for each row when (old.* is distinct from new.*) execute function bump_catalog_version();
create trigger datasets_bump_catalog_version_on_truncate
    after truncate on datasets
    for each statement execute function bump_catalog_version();

create trigger organizations_bump_catalog_version_on_insert_or_delete
    after insert or delete on organizations
    for each row execute function bump_catalog_version();
create trigger organizations_bump_catalog_version_on_update
    after update on organizations
    for each row when (old.* is distinct from new.*) execute function bump_catalog_version();
create trigger organizations_bump_catalog_version_on_truncate
    after truncate on organizations
    for each statement execute function bump_catalog_version();
