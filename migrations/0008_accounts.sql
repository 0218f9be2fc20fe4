-- Accounts grown up: ORCID iDs, closing, e-mail tokens, throttling, upstream credentials, API tokens,
-- committee membership (the reviewer role), an outbox for mail, and the audit log.

alter table users
    add column orcid text
        constraint users_orcid_format check (orcid ~ '^\d{4}-\d{4}-\d{4}-\d{3}[0-9X]$'),
    add column closed_at timestamptz,
    add constraint users_institution_length check (length(institution) <= 200);

-- Single-use links sent by e-mail. Only the SHA-256 of the token is kept.
create type email_token_purpose as enum ('verify_email', 'reset_password');

create table email_tokens (
    token_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    purpose email_token_purpose not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);

create index email_tokens_user_idx on email_tokens (user_id, purpose);

-- Failed sign-ins and reset requests, counted per account (the typed address) and per client address.
create table auth_attempts (
    id bigint generated always as identity primary key,
    action text not null,
    subject text not null,
    attempted_at timestamptz not null default now()
);

create index auth_attempts_subject_idx on auth_attempts (action, subject, attempted_at);
create index auth_attempts_time_idx on auth_attempts (attempted_at);

-- What a researcher holds upstream (PhysioNet credentialing, CITI training, ...), for reviewers to see.
create table credentials (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    kind text not null
        constraint credentials_kind_length check (length(btrim(kind)) between 1 and 100),
    issuer text not null default ''
        constraint credentials_issuer_length check (length(issuer) <= 200),
    identifier text not null default ''
        constraint credentials_identifier_length check (length(identifier) <= 200),
    issued_on date,
    expires_on date,
    evidence_name text,
    evidence_type text
        constraint credentials_evidence_type check (evidence_type in ('application/pdf', 'image/png', 'image/jpeg')),
    evidence bytea,
    created_at timestamptz not null default now(),
    constraint credentials_dates check (expires_on is null or issued_on is null or expires_on >= issued_on),
    constraint credentials_evidence_whole check ((evidence is null) = (evidence_type is null) and (evidence is null) = (evidence_name is null))
);

create index credentials_user_idx on credentials (user_id);

-- Personal API tokens for /api/v1. Only the SHA-256 of the token is kept.
create type api_token_scope as enum ('read', 'read_write');

create table api_tokens (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    name text not null
        constraint api_tokens_name_length check (length(btrim(name)) between 1 and 100),
    token_hash bytea not null unique,
    prefix text not null,
    scope api_token_scope not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz
);

create index api_tokens_user_idx on api_tokens (user_id);

-- Data Access Committees and their members: membership is what makes an account a reviewer.
create table dacs (
    id bigint generated always as identity primary key,
    slug text not null unique
        constraint dacs_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 100),
    name text not null
        constraint dacs_name_length check (length(btrim(name)) between 1 and 200),
    description text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger dacs_set_updated_at before update on dacs
    for each row execute function set_updated_at();

create table dac_members (
    dac_id bigint not null references dacs (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    added_at timestamptz not null default now(),
    primary key (dac_id, user_id)
);

create index dac_members_user_idx on dac_members (user_id);

-- Mail waiting to be sent. A worker takes rows with FOR UPDATE SKIP LOCKED, so each is sent once even
-- with several instances running; failures are retried with backoff.
create table outbox (
    id bigint generated always as identity primary key,
    recipient text not null,
    subject text not null,
    body text not null,
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    sent_at timestamptz,
    last_error text
);

create index outbox_pending_idx on outbox (next_attempt_at) where sent_at is null;

-- Who did what, when, to what. Rows are only ever added; a closed account's rows stay, marked by the
-- account's closed_at.
create table audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor_id bigint references users (id),
    action text not null,
    target_type text not null,
    target_id text not null,
    details jsonb not null default '{}'
);

create index audit_log_actor_idx on audit_log (actor_id, occurred_at);
create index audit_log_target_idx on audit_log (target_type, target_id, occurred_at);
create index audit_log_time_idx on audit_log (occurred_at);
