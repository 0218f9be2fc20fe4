-- When each background job is next due, shared by every instance: an instance claims a due job with
-- `for update skip locked` and moves its next run forward, so a job runs once per interval however many
-- instances there are.
create table job_schedule (
    name text primary key,
    next_run_at timestamptz not null default now(),
    last_started_at timestamptz,
    last_finished_at timestamptz,
    last_error text,
    runs bigint not null default 0,
    failures bigint not null default 0
);
