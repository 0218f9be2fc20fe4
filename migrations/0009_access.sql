-- Access to controlled datasets: committees and their policy, data-use agreements with immutable
-- versions, which committee and agreement govern each dataset, projects, the cart, requests and their
-- datasets, votes, grants, the hash-chained event log, attachments and in-app notifications.

create type dac_policy as enum ('single', 'votes');

alter table dacs
    add column policy dac_policy not null default 'single',
    add column required_votes integer not null default 1
        constraint dacs_required_votes check (required_votes between 1 and 20),
    add column contact_email text not null default '';

create table duas (
    id bigint generated always as identity primary key,
    slug text not null unique
        constraint duas_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 100),
    title text not null
        constraint duas_title_length check (length(btrim(title)) between 1 and 200),
    created_at timestamptz not null default now()
);

create table dua_versions (
    id bigint generated always as identity primary key,
    dua_id bigint not null references duas (id),
    version integer not null constraint dua_versions_positive check (version >= 1),
    body text not null constraint dua_versions_body check (length(btrim(body)) between 1 and 200000),
    content_hash bytea not null,
    effective_on date not null,
    published_at timestamptz not null default now(),
    published_by bigint references users (id),
    unique (dua_id, version)
);

-- A published version never changes: what someone accepted stays what they accepted.
create function dua_versions_immutable() returns trigger
language plpgsql as $$
begin
    raise exception 'DUA versions are immutable; publish a new version instead';
end
$$;

create trigger dua_versions_no_update before update or delete on dua_versions
    for each row execute function dua_versions_immutable();

-- Who reviews requests for a controlled dataset, under which agreement, for how long by default.
create table dataset_governance (
    dataset_id bigint primary key references datasets (id) on delete cascade,
    dac_id bigint not null references dacs (id),
    dua_id bigint not null references duas (id),
    default_grant_days integer not null default 365
        constraint dataset_governance_days check (default_grant_days between 1 and 3650),
    -- Upstream credentials an applicant must hold (matched by name against their profile).
    required_credentials text[] not null default '{}'
);

create index dataset_governance_dac_idx on dataset_governance (dac_id);

create table projects (
    id bigint generated always as identity primary key,
    owner_id bigint not null references users (id),
    title text not null constraint projects_title_length check (length(btrim(title)) between 1 and 200),
    research_use text not null constraint projects_research_use_length check (length(research_use) <= 20000),
    -- The declared research use: a DUO permission term (GRU, HMB, DS, POA) and the facts that modifiers
    -- are checked against.
    purpose text not null constraint projects_purpose check (purpose in ('GRU', 'HMB', 'DS', 'POA')),
    diseases text[] not null default '{}',
    methods_development boolean not null default false,
    commercial boolean not null default false,
    for_profit boolean not null default false,
    genetic boolean not null default false,
    clinical_care boolean not null default false,
    country text not null default '' constraint projects_country_length check (length(country) <= 100),
    pi_name text not null default '' constraint projects_pi_length check (length(pi_name) <= 200),
    institution text not null default '' constraint projects_institution_length check (length(institution) <= 200),
    irb_number text not null default '' constraint projects_irb_number_length check (length(irb_number) <= 100),
    irb_body text not null default '' constraint projects_irb_body_length check (length(irb_body) <= 200),
    irb_expires_on date,
    security_plan text not null default '' constraint projects_security_plan_length check (length(security_plan) <= 20000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger projects_set_updated_at before update on projects
    for each row execute function set_updated_at();

create index projects_owner_idx on projects (owner_id);

-- Team members: an account, or an e-mail address not (yet) registered.
create table project_members (
    project_id bigint not null references projects (id) on delete cascade,
    email citext not null,
    user_id bigint references users (id),
    added_at timestamptz not null default now(),
    primary key (project_id, email)
);

create index project_members_user_idx on project_members (user_id);

create table cart_items (
    user_id bigint not null references users (id) on delete cascade,
    dataset_id bigint not null references datasets (id) on delete cascade,
    added_at timestamptz not null default now(),
    primary key (user_id, dataset_id)
);

create type request_state as enum (
    'draft', 'submitted', 'in_review', 'changes_requested', 'approved', 'rejected', 'withdrawn'
);

create table access_requests (
    id bigint generated always as identity primary key,
    project_id bigint not null references projects (id),
    applicant_id bigint not null references users (id),
    dac_id bigint not null references dacs (id),
    state request_state not null default 'draft',
    -- Bumped by every transition; a transition names the version it saw, so two cannot both win.
    version integer not null default 1,
    requested_days integer not null constraint access_requests_days check (requested_days between 1 and 3650),
    renewal_of bigint references access_requests (id),
    submitted_at timestamptz,
    decided_at timestamptz,
    decided_by bigint references users (id),
    decision_rationale text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger access_requests_set_updated_at before update on access_requests
    for each row execute function set_updated_at();

create index access_requests_queue_idx on access_requests (dac_id, state, submitted_at);
create index access_requests_applicant_idx on access_requests (applicant_id);

create table request_datasets (
    request_id bigint not null references access_requests (id) on delete cascade,
    dataset_id bigint not null references datasets (id),
    dua_version_id bigint not null references dua_versions (id),
    accepted_name text not null constraint request_datasets_name check (length(btrim(accepted_name)) between 1 and 200),
    accepted_at timestamptz not null default now(),
    dua_hash bytea not null,
    grant_days integer not null constraint request_datasets_days check (grant_days between 1 and 3650),
    primary key (request_id, dataset_id)
);

create index request_datasets_dataset_idx on request_datasets (dataset_id);

create type vote_choice as enum ('approve', 'reject');

create table request_votes (
    request_id bigint not null references access_requests (id) on delete cascade,
    reviewer_id bigint not null references users (id),
    choice vote_choice not null,
    rationale text not null,
    cast_at timestamptz not null default now(),
    primary key (request_id, reviewer_id)
);

create table grants (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id),
    dataset_id bigint not null references datasets (id),
    request_id bigint not null references access_requests (id),
    dua_version_id bigint not null references dua_versions (id),
    starts_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz,
    revoked_by bigint references users (id),
    revoke_reason text,
    -- A newer DUA version was published: the holder must accept it by this time or access is suspended.
    reaccept_by timestamptz,
    suspended_at timestamptz,
    reminded_30_at timestamptz,
    reminded_7_at timestamptz,
    expiry_recorded_at timestamptz,
    constraint grants_period check (expires_at > starts_at)
);

create index grants_user_idx on grants (user_id);
create index grants_dataset_idx on grants (dataset_id, expires_at);

-- Append-only, hash-chained record of everything that happens to requests and grants.
create table events (
    id bigint generated always as identity primary key,
    request_id bigint references access_requests (id),
    grant_id bigint references grants (id),
    actor_id bigint references users (id),
    kind text not null,
    internal boolean not null default false,
    body jsonb not null default '{}',
    created_at timestamptz not null default now(),
    prev_hash bytea not null,
    hash bytea not null unique
);

create index events_request_idx on events (request_id, id);

create table attachments (
    id bigint generated always as identity primary key,
    request_id bigint references access_requests (id),
    project_id bigint references projects (id) on delete cascade,
    uploaded_by bigint not null references users (id),
    purpose text not null,
    file_name text not null,
    content_type text not null
        constraint attachments_type check (content_type in ('application/pdf', 'image/png', 'image/jpeg')),
    bytes bytea not null,
    created_at timestamptz not null default now(),
    constraint attachments_owner check ((request_id is null) <> (project_id is null))
);

create index attachments_request_idx on attachments (request_id);
create index attachments_project_idx on attachments (project_id);

create table notifications (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    text text not null,
    link text not null,
    created_at timestamptz not null default now(),
    read_at timestamptz
);

create index notifications_user_idx on notifications (user_id, created_at desc);
create index notifications_unread_idx on notifications (user_id) where read_at is null;

-- The newest event and how many there are, updated with every append, so that deleting the newest
-- events is noticed too.
create table events_head (
    singleton boolean primary key default true constraint events_head_singleton check (singleton),
    last_id bigint not null,
    last_hash bytea not null,
    event_count bigint not null
);

-- Events are only ever added. (Someone with the database's superuser powers can still change rows;
-- `radportal audit verify` finds that through the hash chain.)
create function events_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'events are append-only';
end
$$;

create trigger events_no_update before update or delete on events
    for each row execute function events_append_only();

-- Tokens for data hosts, which read the entitlements API.
alter type api_token_scope add value 'data_host';
