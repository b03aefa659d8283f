-- The orders read model, kept by the orders projection from the order streams' events, and
-- the recommendation lists sent (an outbound list with product_ rows), for the metrics.
create table orders (
    business_id text not null,
    order_id text not null,                 -- the public id: made from the order's cause
    conversation_id text not null,          -- the conversation's public id
    status text not null check (status in ('pending', 'confirmed', 'cancelled', 'shipped',
                                           'delivered')),
    items jsonb not null,                   -- [{product_id, name, quantity, unit_price}]
    total bigint not null,                  -- in the currency's minor unit
    currency text not null,
    source text not null,
    created_at timestamptz not null,
    confirmed_at timestamptz,
    updated_at timestamptz not null,
    primary key (business_id, order_id)
);
create index orders_business_created_idx on orders (business_id, created_at desc, order_id desc);
create index orders_business_status_idx on orders (business_id, status, created_at desc);
create index orders_business_confirmed_idx on orders (business_id, confirmed_at);

create table order_recommendations (
    message_id uuid primary key,
    business_id text not null,
    conversation_id text not null,
    queued_at timestamptz not null
);
create index order_recommendations_business_time_idx
    on order_recommendations (business_id, queued_at);
