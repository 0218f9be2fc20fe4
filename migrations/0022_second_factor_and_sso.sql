-- Two-factor sign-in for local accounts, and sign-in through institutions (OpenID Connect).
--
-- Two-factor: each account's authenticator (its secret sealed with the operator's key, the last time
-- step accepted, so a code works once), single-use recovery codes (only their SHA-256 is kept), and
-- sign-ins waiting for their second step.

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

-- Sign-in through institutions (OpenID Connect). An account made by a provider has no password here.
alter table users alter column password_hash drop not null;

-- Which provider's person an account is: the issuer and its subject identifier, never the e-mail.
create table oidc_identities (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    -- The configured provider's id (`RADPORTAL_OIDC_PROVIDERS`).
    provider text not null,
    issuer text not null,
    subject text not null,
    -- Whether the provider's groups made the account an administrator, so that leaving the group
    -- takes it away again (a flag set in the portal is the portal's to take away).
    grants_admin boolean not null default false,
    created_at timestamptz not null default now(),
    last_sign_in_at timestamptz not null default now(),
    constraint oidc_identities_subject_unique unique (issuer, subject),
    constraint oidc_identities_user_provider_unique unique (user_id, provider)
);

-- A committee seat given by a provider's groups (null: given in the portal).
alter table dac_members add column via_provider text;

-- Sign-ins sent to a provider and not back yet: the `state` (only its SHA-256 is kept), the `nonce`
-- the ID token must carry, and the PKCE verifier for the code exchange.
create table oidc_sign_ins (
    state_hash bytea primary key,
    provider text not null,
    nonce text not null,
    code_verifier text not null,
    next_path text not null
        constraint oidc_sign_ins_next_length check (length(next_path) <= 2048),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index oidc_sign_ins_expires_idx on oidc_sign_ins (expires_at);

-- The provider a session was signed in through (null: a password here), for signing out there too.
alter table sessions add column provider text;
