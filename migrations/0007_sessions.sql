-- Signed-in sessions, shared by every app instance. Only a hash of the cookie's token is stored.
create table sessions (
    token_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index sessions_user_id_idx on sessions (user_id);
create index sessions_expires_at_idx on sessions (expires_at);
