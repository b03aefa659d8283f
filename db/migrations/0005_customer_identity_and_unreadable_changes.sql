-- Customers known by a BSUID or username as well as (or instead of) a phone number,
-- group conversations, and the errors kinds for unreadable webhook changes.

-- conversations: every identifier Meta gave for the customer (null when withheld),
-- and the group id of a group conversation.
alter table conversations
    add column customer_phone text,
    add column customer_user_id text,
    add column customer_parent_user_id text,
    add column customer_username text,
    add column group_id text,
    -- every identifier the customer ever had (old numbers too), sorted, for search
    add column customer_identifiers text[] not null default '{}';

-- The phone number was the customer id of every conversation before BSUIDs.
update conversations set customer_phone = customer_id, customer_identifiers = array[customer_id];

-- errors: a change of a delivery the parser could not read is an error of its own kind;
-- parked projection events are listed beside them.
alter table errors drop constraint errors_kind_check;
-- when an unreadable change was read after all (`wazybot webhooks reprocess`)
alter table errors add column resolved_at timestamptz;
alter table errors add constraint errors_kind_check
    check (kind in ('send_failed', 'webhook_problem', 'unreadable_change', 'projection_parked'));
