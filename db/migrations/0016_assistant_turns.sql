-- Conversations waiting for an assistant turn, claimed by turn workers of any process.
-- ``requested`` counts the turn requests recorded, ``handled`` the ones the last finished
-- turn had seen; a conversation is due while requested > handled and no live lease holds it.
create table assistant_turns (
    conversation_stream text primary key,
    business_id text not null,
    requested bigint not null default 0,
    handled bigint not null default 0,
    lease_until timestamptz,
    lease_token uuid,
    requested_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index assistant_turns_due_idx on assistant_turns (requested_at)
    where requested > handled;
