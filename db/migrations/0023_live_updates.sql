-- Live dashboard updates: tell listeners when a subscriber's checkpoint moves (its read-model
-- changes are committed with it, so they are readable once this arrives) and when dashboard
-- sessions or API tokens change (a signed-out or revoked session's live stream ends).
create function notify_checkpoint_moved() returns trigger
language plpgsql as $$
begin
    perform pg_notify('wazybot_progress', new.name);
    return null;
end;
$$;

create trigger subscriber_checkpoint_moved
    after update of position on subscriber_checkpoints
    for each row
    when (old.position is distinct from new.position)
    execute function notify_checkpoint_moved();

create function notify_sessions_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('wazybot_sessions', '');
    return null;
end;
$$;

create trigger dashboard_sessions_closed
    after delete on dashboard_sessions
    for each statement
    execute function notify_sessions_changed();

-- Only a revocation (or a removal) matters: last_used_at moves on every request.
create trigger api_tokens_revoked
    after update of revoked_at or delete on api_tokens
    for each statement
    execute function notify_sessions_changed();
