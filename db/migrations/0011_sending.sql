-- Sending through the API: idempotency keys, outbound messages on the timeline from the
-- moment they are queued, dead letters among the errors, retried messages in the outbox.

-- A client's Idempotency-Key, stored in the transaction that queues the message: the same
-- key answers the first answer again for 24 hours (older rows are ignored and replaced).
create table idempotency_keys (
    business_id text not null,
    key text not null,
    request_hash text not null,          -- what was asked: the same key with another request is refused
    message_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (business_id, key)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

-- The timeline's rows get their opaque id as a column: a digest of (business, wamid) as in
-- src/domain/public_ids.py, or the message id WazyBot gave a message it queued (it has no
-- wamid until Meta accepts it, and keeps its id afterwards).
alter table messages alter column wamid drop not null;
alter table messages add column public_id text;
update messages set public_id = left(encode(sha256(convert_to(
    'message' || chr(31) || business_id || chr(31) || wamid, 'UTF8')), 'hex'), 32);
alter table messages alter column public_id set not null;
-- public_id first: a message we queued is found by its id alone (its events carry no business).
create unique index messages_public_id_business_key on messages (public_id, business_id);
alter table messages add column reply_to_wamid text;  -- the message it quotes (context)
alter table messages add column error_reason text;    -- why a send failed, readable
alter table messages add column attempts integer;     -- send attempts of a message we queued
drop index messages_conversation_time_idx;
create index messages_conversation_time_idx
    on messages (business_id, conversation_id, sent_at desc, public_id desc);

-- Errors: a message that exhausted its attempts is a dead letter; both kinds of our own
-- send failures name the message (its id for POST /api/v1/outbox/{id}/retry).
alter table errors drop constraint errors_kind_check;
alter table errors add constraint errors_kind_check
    check (kind in ('send_failed', 'webhook_problem', 'unreadable_change', 'projection_parked',
                    'dead_letter'));
alter table errors add column message_id uuid;

create index outbox_business_status_idx on outbox (business_id, status, queued_at, message_id);
