-- The event store: one append-only table, ordered for readers by (tx, global_position).
create table events (
    global_position bigint generated always as identity primary key,
    tx xid8 not null default pg_current_xact_id(),
    stream_id text not null,
    version bigint not null check (version >= 1),
    event_id uuid not null,
    type text not null,
    data jsonb not null,
    metadata jsonb not null default '{}'::jsonb,
    recorded_at timestamptz not null default now(),
    constraint events_stream_version_key unique (stream_id, version),
    constraint events_event_id_key unique (event_id)
);

create index events_tx_position_idx on events (tx, global_position);

-- Followers wake on this; PostgreSQL folds identical notifications of one transaction into one.
create function notify_events_appended() returns trigger
language plpgsql as $$
begin
    perform pg_notify('wazybot_events', '');
    return null;
end;
$$;

create trigger events_appended
    after insert on events
    for each statement
    execute function notify_events_appended();

-- One row per subscriber: where it is in the feed, written with its own changes.
create table subscriber_checkpoints (
    name text primary key,
    tx xid8 not null default '0',
    position bigint not null default 0,
    owner text,
    last_error text,
    last_error_at timestamptz,
    updated_at timestamptz not null default now()
);
