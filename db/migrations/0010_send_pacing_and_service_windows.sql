-- Sending at each number's rate, across every worker process.
--
-- businesses.send_rate: messages a second per phone number of the business (null: the
-- deployment's WAZYBOT_SEND_RATE).
alter table businesses
    add column send_rate integer check (send_rate between 1 and 1000);

-- The pace of one phone number, shared by every sender: the next free send slot (senders
-- reserve slots by moving it forward under the row lock) and the slow-down Meta's
-- throughput errors caused (rate_factor times the rate, recovering after slowed_at).
create table send_pacing (
    phone_number_id text primary key,
    next_slot timestamptz not null default now(),
    rate_factor double precision not null default 1
        check (rate_factor > 0 and rate_factor <= 1),
    slowed_at timestamptz
);

-- The 24-hour customer service window at send time: when each conversation's customer last
-- wrote (Meta's timestamp), kept by the outbox subscriber from message.received events.
create table conversation_windows (
    conversation_stream text primary key,
    last_inbound_at timestamptz not null
);

insert into conversation_windows (conversation_stream, last_inbound_at)
select stream_id, max((data -> 'message' ->> 'sent_at')::timestamptz)
from events
where type = 'message.received' and data -> 'message' ->> 'sent_at' is not null
group by stream_id;
