-- Events a subscriber set aside: a batch failed on them again and again (not the database),
-- so the subscriber moved on; `wazybot projections retry-parked NAME` replays them.
create table parked_events (
    id bigint generated always as identity unique,
    subscriber text not null,
    event_id uuid not null,
    global_position bigint not null,
    stream_id text not null,
    type text not null,
    business_id text,                       -- the event's business, when it has one
    error text not null,
    attempts integer not null,
    parked_at timestamptz not null default now(),
    last_attempt_at timestamptz not null default now(),
    primary key (subscriber, event_id)
);
create index parked_events_business_time_idx on parked_events (business_id, parked_at desc, id);

-- Conversations get an opaque id for URLs: a digest of (business, stream), computed as in
-- src/domain/public_ids.py, so a rebuild gives every conversation the id it had.
alter table conversations add column public_id text;
update conversations set public_id = left(encode(sha256(convert_to(
    'conversation' || chr(31) || business_id || chr(31) || id, 'UTF8')), 'hex'), 32);
alter table conversations alter column public_id set not null;
create unique index conversations_business_public_id_key on conversations (business_id, public_id);
-- Pages are keyed by values a rebuild reproduces: the public id, and (sent_at, wamid) for
-- timelines, never the identity column.
drop index conversations_business_activity_idx;
create index conversations_business_activity_idx
    on conversations (business_id, last_activity_at desc, public_id desc);
drop index messages_conversation_time_idx;
create index messages_conversation_time_idx
    on messages (business_id, conversation_id, sent_at desc, wamid desc);
