-- Businesses (tenants) and the WhatsApp numbers each one owns. Configuration, not history:
-- events name their business by id, so these rows can change without rewriting the log.
create table businesses (
    id text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name text not null check (name <> ''),
    account_id text unique,
    access_token text,
    flood_limit integer check (flood_limit between 1 and 10000),
    created_at timestamptz not null default now()
);

create table business_phone_numbers (
    phone_number_id text primary key,
    business_id text not null references businesses (id) on delete cascade
);

create index business_phone_numbers_business_idx on business_phone_numbers (business_id);
