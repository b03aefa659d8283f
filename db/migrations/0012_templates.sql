-- The templates read model: one row per business, template name and language, kept by the
-- templates projection from template.synced / template.removed events and Meta's template
-- webhooks (status, quality, category). components is null for a template known from
-- webhooks only (never synced). last_event_id is the event that last changed the row: a
-- sync bases its deterministic event ids on it.
create table templates (
    business_id text not null,
    name text not null,
    language text not null,
    status text not null,
    category text,
    quality text,
    components jsonb,
    template_id text,
    updated_at timestamptz not null,
    last_event_id text not null,
    primary key (business_id, name, language)
);
create index templates_status_idx on templates (business_id, status, name, language);
