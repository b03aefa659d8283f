-- Idempotency keys for every write endpoint that accepts one, not only sends: a key keeps
-- the first answer as its endpoint encodes it (a send: the message id; escalate, resolve,
-- read: the conversation as it was answered), so a repeat gets exactly that answer.
alter table idempotency_keys add column answer text;
update idempotency_keys set answer = message_id::text;
alter table idempotency_keys alter column answer set not null;
alter table idempotency_keys drop column message_id;
