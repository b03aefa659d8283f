-- Read models kept by the projections (each table belongs to exactly one projection;
-- a rebuild creates fresh copies of a projection's tables and swaps them in).

-- conversations: one row per business and conversation stream (a number may change owner).
create table conversations (
    business_id text not null,
    id text not null,                         -- the conversation stream id
    phone_number_id text not null,
    customer_id text not null,
    customer_name text,
    last_message_preview text,
    last_message_at timestamptz,
    last_message_direction text,
    last_customer_message_at timestamptz,
    last_activity_at timestamptz not null,
    unread_count integer not null default 0,
    status text not null default 'bot' check (status in ('bot', 'escalated', 'closed')),
    throttled boolean not null default false,
    throttled_until timestamptz,
    assignee text,
    primary key (business_id, id)
);
create index conversations_business_activity_idx
    on conversations (business_id, last_activity_at desc, id desc);

-- messages: every conversation's timeline, both directions.
create table messages (
    id bigint generated always as identity primary key,
    business_id text not null,
    conversation_id text not null,
    wamid text not null,
    direction text not null check (direction in ('inbound', 'outbound')),
    sender text not null check (sender in ('customer', 'ai', 'agent', 'system')),
    type text not null,
    summary text,
    sent_at timestamptz not null,
    status text,
    status_at timestamptz,
    error_code integer,
    error_title text,
    constraint messages_business_wamid_key unique (business_id, wamid)
);
create index messages_conversation_time_idx on messages (conversation_id, sent_at desc, id desc);

-- errors: failed sends and problems Meta reported in webhooks.
create table errors (
    event_id uuid not null,
    ordinal integer not null,
    business_id text not null,
    kind text not null check (kind in ('send_failed', 'webhook_problem')),
    code integer,
    title text not null,
    detail text not null default '',
    conversation_id text,
    wamid text,
    occurred_at timestamptz not null,
    primary key (event_id, ordinal)
);
create index errors_business_time_idx on errors (business_id, occurred_at desc, event_id, ordinal);

-- metrics: hourly counters per business, plus what the counters need to stay exact.
create table metrics_hourly (
    business_id text not null,
    hour timestamptz not null,
    messages_received integer not null default 0,
    messages_sent integer not null default 0,
    messages_delivered integer not null default 0,
    messages_read integer not null default 0,
    messages_failed integer not null default 0,
    ai_responses integer not null default 0,
    handoffs integer not null default 0,
    awaiting_response integer not null default 0,  -- customer turns that needed an answer
    responded integer not null default 0,          -- of those, answered (by the turn's hour)
    response_seconds double precision not null default 0,
    webhook_problems integer not null default 0,
    primary key (business_id, hour)
);

-- One row per message the business sent, so each status is counted once (by the send hour).
create table metrics_outbound (
    business_id text not null,
    wamid text not null,
    sent_at timestamptz not null,
    delivered boolean not null default false,
    read boolean not null default false,
    failed boolean not null default false,
    primary key (business_id, wamid)
);

-- The customer's unanswered turn per conversation, if any.
create table metrics_waiting (
    business_id text not null,
    conversation_id text not null,
    since timestamptz not null,
    primary key (business_id, conversation_id)
);

-- Every first response, for percentiles over any range (keyed by the answering event).
create table metrics_responses (
    event_id uuid primary key,
    business_id text not null,
    conversation_id text not null,
    asked_at timestamptz not null,
    seconds double precision not null
);
create index metrics_responses_business_time_idx on metrics_responses (business_id, asked_at);
