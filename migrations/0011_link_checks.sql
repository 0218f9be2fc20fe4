-- The last check of each dataset's landing URL (only when the deployment turns link checking on).
create table link_checks (
    dataset_id bigint primary key references datasets (id) on delete cascade,
    url text not null,
    status integer,
    error text,
    checked_at timestamptz not null default now()
);
