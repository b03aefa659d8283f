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
