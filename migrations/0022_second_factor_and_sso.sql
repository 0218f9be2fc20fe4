-- Two-factor sign-in for local accounts: each account's authenticator (its secret sealed with the
-- operator's key, the last time step accepted, so a code works once), single-use recovery codes (only
-- their SHA-256 is kept), and sign-ins waiting for their second step.

create table totp_authenticators (
    user_id bigint primary key references users (id) on delete cascade,
    -- AES-256-GCM: a 12-byte nonce, the ciphertext and its tag.
    secret_sealed bytea not null
        constraint totp_authenticators_sealed_length check (length(secret_sealed) between 28 and 200),
    -- Null until the account holder proves with a code that their app has the secret.
    confirmed_at timestamptz,
    -- The RFC 6238 time step (Unix time / 30) of the last code accepted; later codes must be newer.
    last_used_step bigint,
    created_at timestamptz not null default now()
);

create table recovery_codes (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    code_hash bytea not null,
    used_at timestamptz,
    created_at timestamptz not null default now(),
    constraint recovery_codes_unique unique (user_id, code_hash)
);

-- A password checked, a code still to come. Only the SHA-256 of the browser's token is kept.
create table sign_in_challenges (
    token_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    next_path text not null
        constraint sign_in_challenges_next_length check (length(next_path) <= 2048),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index sign_in_challenges_user_idx on sign_in_challenges (user_id);
create index sign_in_challenges_expires_idx on sign_in_challenges (expires_at);
