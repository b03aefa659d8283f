-- API tokens remember when they were last used (written at most once a minute per token).
alter table api_tokens add column last_used_at timestamptz;

-- Businesses: removal is a soft delete (the data stays, the numbers stop routing), and the
-- business WHATSAPP_PHONE_NUMBER_ID describes is stored too, marked as coming from the
-- environment, so every command sees it whatever its own environment holds.
alter table businesses
    add column removed_at timestamptz,
    add column source text not null default 'database'
        check (source in ('database', 'environment'));
