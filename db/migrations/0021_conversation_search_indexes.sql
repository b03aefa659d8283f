-- The dashboard's conversation list stays fast with millions of conversations (ADR 0034):
-- searching reads a trigram index instead of every row, and a status filter reads the
-- business's conversations in that status newest activity first, as pages are keyed.

-- What a search looks in: the customer's name, their key, the group id and every identifier
-- they ever had, folded as catalog_fold folds (lower case, accents removed), one field from
-- the next set apart by chr(31), which no search contains, so no match spans two fields.
-- concat_ws and array_to_string are only STABLE for any type; for text they depend on the
-- text alone, which the generated column below requires.
create function conversation_search_text(
    name text, customer_id text, group_id text, identifiers text[]
) returns text
    language sql immutable parallel safe
    return catalog_fold(concat_ws(chr(31), name, customer_id, group_id,
                                  array_to_string(identifiers, chr(31))));

-- The LIKE pattern of a search: folded the same way, LIKE's own characters taken literally.
create function conversation_search_pattern(needle text) returns text
    language sql immutable strict parallel safe
    return '%' || replace(replace(replace(catalog_fold(needle), '\', '\\'), '%', '\%'), '_', '\_')
        || '%';

-- Stored, so that neither an index recheck nor a scan in activity order folds text per row.
alter table conversations add column search_text text generated always as (
    conversation_search_text(customer_name, customer_id, group_id, customer_identifiers)
) stored;

-- A rare search reads the conversations its trigrams find.
create index conversations_search_trgm_idx
    on conversations using gin (search_text gin_trgm_ops);

-- A common search reads the newest conversations first and stops at the page's end: the
-- activity indexes carry search_text, so that walk reads no table rows (index-only).
-- "This business's conversations in this status, newest activity first", with the keyset.
create index conversations_business_status_activity_idx
    on conversations (business_id, status, last_activity_at desc, public_id desc)
    include (search_text);
drop index conversations_business_activity_idx;
create index conversations_business_activity_idx
    on conversations (business_id, last_activity_at desc, public_id desc)
    include (search_text);
