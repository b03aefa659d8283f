-- Failures Meta reports by webhook after it accepted a message, and Meta's details of errors.

-- Meta's error_data.details (masked, bounded) beside the readable reason, wherever a failure shows.
alter table outbox add column error_details text;
alter table messages add column error_details text;
alter table errors add column error_details text;

-- The outbox row of a wamid a failed status names.
create index outbox_wamid_idx on outbox (wamid) where wamid is not null;

-- Every wamid Meta reported failed (the first report is final): a failure may be recorded
-- before the acceptance that names its wamid, which then fails the outbox row at once.
create table outbox_failed_wamids (
    wamid text primary key,
    business_id text not null,
    code integer,
    reason text not null,
    details text,
    failed_at timestamptz not null
);

-- The errors of one message, resolved together when a later attempt is accepted.
create index errors_message_idx on errors (message_id) where message_id is not null;
create index errors_wamid_idx on errors (wamid) where wamid is not null;
