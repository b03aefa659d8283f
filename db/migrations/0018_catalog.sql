-- The products read model: one row per business and product, kept by the products
-- projection from catalog.product_listed / catalog.product_removed events (ADR 0031).
-- Prices are integers in the currency's minor unit. The search columns are generated
-- from the product, so the projection writes products only and a rebuild gives the same
-- rows.
--
-- unaccent and pg_trgm ship with PostgreSQL's contrib modules and are trusted
-- extensions: a database owner may create them.
create extension if not exists unaccent;
create extension if not exists pg_trgm;

-- Lower case without accents, as search compares words. unaccent() itself is only STABLE
-- (it looks its dictionary up by name at each call); with the dictionary named here and
-- an SQL-standard body, bound when the function is created, the result depends on the
-- text alone, which indexes and generated columns require.
create function catalog_fold(value text) returns text
    language sql immutable strict parallel safe
    return lower(unaccent('unaccent'::regdictionary, value));

-- OR of text-search queries (each of a customer's words with its alternatives).
create aggregate catalog_any_query(tsquery) (sfunc = tsquery_or, stype = tsquery);

create table products (
    business_id text not null,
    product_id text not null,
    name text not null,
    description text not null,
    price bigint not null,
    currency text not null,
    stock integer not null,
    image_url text,
    retailer_id text,
    category text,
    updated_at timestamptz not null,
    -- name and category, folded: ordering (by code point, as everywhere), and trigram resemblance for cut or misspelled words
    search_name text collate "C" generated always as (
        catalog_fold(name || coalesce(' ' || category, ''))
    ) stored,
    -- French and English stems of the name (A), category (B) and description (C), and the
    -- unstemmed words of name and category (D), so that "bask" finds "baskets"
    search_vector tsvector generated always as (
        setweight(to_tsvector('french'::regconfig, catalog_fold(name)), 'A')
        || setweight(to_tsvector('english'::regconfig, catalog_fold(name)), 'A')
        || setweight(to_tsvector('french'::regconfig, catalog_fold(coalesce(category, ''))), 'B')
        || setweight(to_tsvector('english'::regconfig, catalog_fold(coalesce(category, ''))), 'B')
        || setweight(to_tsvector('french'::regconfig, catalog_fold(description)), 'C')
        || setweight(to_tsvector('english'::regconfig, catalog_fold(description)), 'C')
        || setweight(
            to_tsvector('simple'::regconfig, catalog_fold(name || coalesce(' ' || category, ''))),
            'D')
    ) stored,
    primary key (business_id, product_id),
    constraint products_price_not_negative check (price >= 0),
    constraint products_stock_not_negative check (stock >= 0)
);
create index products_search_idx on products using gin (search_vector);
create index products_name_trgm_idx on products using gin (search_name gin_trgm_ops);
create index products_name_idx on products (business_id, search_name, product_id);
