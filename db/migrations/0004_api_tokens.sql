-- Bearer tokens of the read-model API: each belongs to exactly one business.
-- Only a SHA-256 of the token is kept; the token itself is shown once, when created.
create table api_tokens (
    id text primary key,                 -- the token's public prefix, safe to show and log
    business_id text not null,
    name text not null default '',
    token_sha256 bytea not null unique,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
create index api_tokens_business_idx on api_tokens (business_id);
