-- Outbound messages waiting for, or done with, a sender. Rows are written by the outbox
-- subscriber from the conversation's events (and by the sender in the transaction that
-- records an attempt's outcome). queue_seq is the Queued event's version in its
-- conversation stream: a sender only takes the oldest unfinished row of a conversation.
create table outbox (
    message_id uuid primary key,
    business_id text not null,
    phone_number_id text not null,
    conversation_stream text not null,
    queue_seq bigint not null,
    status text not null default 'queued'
        check (status in ('queued', 'in_flight', 'retrying', 'accepted', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    lease_until timestamptz,
    -- an earlier attempt may have reached Meta (lost answer, or a worker died mid-send)
    possibly_sent boolean not null default false,
    queued_at timestamptz not null,
    wamid text,
    last_error text,
    dead_lettered boolean not null default false,
    payload jsonb not null,
    updated_at timestamptz not null default now(),
    constraint outbox_queue_order unique (conversation_stream, queue_seq)
);
create index outbox_unfinished_idx on outbox (conversation_stream, queue_seq)
    where status in ('queued', 'in_flight', 'retrying');
