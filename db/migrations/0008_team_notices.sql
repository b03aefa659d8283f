-- Team notifications waiting for delivery: one row per notice and channel, written by the
-- team-notices subscriber with its checkpoint. The key names the notice's cause, so one
-- cause gives one notice; each channel is delivered and retried on its own.
create table team_notices (
    id bigint generated always as identity primary key,
    dedup_key text not null,
    channel text not null,
    notice jsonb not null,
    business_id text,
    event text not null,
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    delivered_at timestamptz,
    constraint team_notices_cause_key unique (dedup_key, channel)
);
create index team_notices_due_idx on team_notices (next_attempt_at, id) where delivered_at is null;
