-- Human handoff: who handles a conversation (the assistant, or a person since an
-- escalation), and the metrics that tell the assistant's answers from the agents'.

alter table conversations
    add column escalated_at timestamptz,
    add column escalation_reason text,
    add column escalation_cause text,
    add column escalated_by text;

alter table metrics_hourly
    add column agent_responses integer not null default 0,
    add column ai_first_responses integer not null default 0,
    add column ai_first_response_seconds double precision not null default 0,
    add column agent_first_responses integer not null default 0,
    add column agent_first_response_seconds double precision not null default 0;

-- The customer's turn per conversation that neither the assistant nor an agent answered yet.
create table metrics_reply_waiting (
    business_id text not null,
    conversation_id text not null,
    since timestamptz not null,
    primary key (business_id, conversation_id)
);

-- Every turn's first reply and who gave it (ai or agent), for percentiles over any range.
create table metrics_replies (
    event_id uuid primary key,
    business_id text not null,
    conversation_id text not null,
    asked_at timestamptz not null,
    replied_by text not null check (replied_by in ('ai', 'agent')),
    seconds double precision not null
);
create index metrics_replies_business_time_idx on metrics_replies (business_id, asked_at);
