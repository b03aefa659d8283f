-- Dashboard sessions and one-time sign-in links. Only SHA-256s of the session id and of
-- the link code are kept. A session remembers the API token that opened it by the token's
-- SHA-256: revoking the token ends the session.
create table dashboard_sessions (
    id_sha256 bytea primary key,
    business_id text not null,
    token_sha256 bytea not null,
    agent_name text,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index dashboard_sessions_expiry_idx on dashboard_sessions (expires_at);

create table dashboard_sign_in_links (
    code_sha256 bytea primary key,
    business_id text not null,
    token_sha256 bytea not null,
    agent_name text,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);
create index dashboard_sign_in_links_expiry_idx on dashboard_sign_in_links (expires_at);
