-- Files uploaded for a bulk import, kept between the dry run and the commit (pruned after a day).
create table import_uploads (
    id bigint generated always as identity primary key,
    admin_id bigint not null references users (id),
    file_name text not null,
    format text not null constraint import_uploads_format check (format in ('json', 'csv')),
    bytes bytea not null,
    created_at timestamptz not null default now()
);
