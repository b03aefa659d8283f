-- The events an assistant turn needs from any distance back in a conversation (escalated or
-- resolved, a person's last message, the last turn's success or failure): the newest one
-- of each kind before a version is one probe of this small index, however long the stream.
-- Built inside the migration's transaction, which holds appends back while it runs: on a
-- large events table, build it first with the same statement as `create index concurrently`
-- (this one then finds it and does nothing).
create index if not exists events_lasting_reply_idx on events (stream_id, type, version)
    where type in ('conversation.escalated', 'conversation.resolved', 'message.echoed',
                   'assistant.turn_completed', 'assistant.turn_failed')
       or (type = 'outbound.queued' and data ->> 'requested_by' = 'agent');
