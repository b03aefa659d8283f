"""The products read model on PostgreSQL: its rows and its search (its projection is
``adapters.postgres.read_models.ProductsProjection``; the search columns and indexes are
in db/migrations/0018_catalog.sql).

A search ORs, for each of the customer's words, its alternatives (``domain.catalog_search``)
as French and English phrase queries, plus the word as a prefix when it is long enough,
into one text-search query. A word no product of the business has by text search (a
misspelling, say) is looked for by resemblance instead: products whose name or category
resembles it (pg_trgm word similarity) come too. Ranking: the number of the customer's
words matched by text search, then in stock first, then a score (text rank, or the
resemblance for a product found only that way), then name and id. The cursor is that sort
key.
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from application.catalog import DEFAULT_SEARCH_LIMIT, CatalogProduct, ProductPage
from application.read_models import MAX_INT, cursor_number, decode_cursor, encode_cursor
from domain.catalog import Product
from domain.catalog_search import SearchTerms, search_terms


def product_cells(item: CatalogProduct) -> tuple[Any, ...]:
    p = item.product
    return (item.business_id, p.product_id, p.name, p.description, p.price, p.currency, p.stock,
            p.image_url, p.retailer_id, p.category, item.updated_at)  # fmt: skip


def catalog_product(row: asyncpg.Record) -> CatalogProduct:
    product = Product(
        product_id=row["product_id"],
        name=row["name"],
        description=row["description"],
        price=row["price"],
        currency=row["currency"],
        stock=row["stock"],
        image_url=row["image_url"],
        retailer_id=row["retailer_id"],
        category=row["category"],
    )
    return CatalogProduct(row["business_id"], product, row["updated_at"])


_COLUMNS: Final = """business_id, product_id, name, description, price, currency, stock,
    image_url, retailer_id, category, updated_at, search_name"""

_LIST_SQL: Final = f"""
select {_COLUMNS} from products
where business_id = $1 and (not $2 or stock > 0)
  and ($3::text is null or (search_name, product_id) > ($3, $4::text))
order by search_name, product_id
limit $5
"""

_SEARCH_SQL: Final = f"""
with alternatives as (
    select u.g,
           phraseto_tsquery('french', catalog_fold(u.a))
           || phraseto_tsquery('english', catalog_fold(u.a))
           || case when u.prefix then to_tsquery('simple', quote_literal(catalog_fold(u.a)) || ':*')
                   else ''::tsquery end as q
    from unnest($2::int[], $3::text[], $4::boolean[]) as u(g, a, prefix)
), words as materialized (  -- one query per customer word: any of its alternatives
    select g, catalog_any_query(q) as q from alternatives group by g
), wanted as materialized (
    select catalog_any_query(q) as q from words
), unfound as materialized (  -- words no product has: looked for by resemblance only
    select coalesce(array_agg(u.w), '{{}}') as words
    from unnest($5::text[]) with ordinality as u(w, i)
    join words x on x.g = u.i - 1
    where not exists (select 1 from products p
                      where p.business_id = $1 and p.search_vector @@ x.q)
), found as (
    select p.*, matched.n as matched, (p.stock > 0)::int as available
    from products p
    cross join lateral (
        select count(*)::int as n from words w where p.search_vector @@ w.q
    ) as matched
    where p.business_id = $1 and (not $6 or p.stock > 0)
      and (p.search_vector @@ (select q from wanted)
           or p.search_name %> any((select words from unfound)::text[]))
), scored as (
    select f.*,
           round(case when f.matched > 0
                      then 1000 * ts_rank(f.search_vector, (select q from wanted))
                      else 1000 * (select max(word_similarity(w, f.search_name))
                                   from unnest((select words from unfound)) as w) end)::int
               as score
    from found f
)
select {_COLUMNS}, matched, available, score from scored
where $7::int is null
   or (-matched, -available, -score, search_name, product_id)
      > (-$7::int, -$8::int, -$9::int, $10::text, $11::text)
order by matched desc, available desc, score desc, search_name, product_id
limit $12
"""


class PostgresCatalog:
    """``CatalogQueries`` on the products table."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def product(self, business_id: str, product_id: str) -> CatalogProduct | None:
        row = await self._pool.fetchrow(
            f"select {_COLUMNS} from products where business_id = $1 and product_id = $2",
            business_id, product_id,
        )  # fmt: skip
        return catalog_product(row) if row is not None else None

    async def search(
        self,
        business_id: str,
        text: str | None = None,
        *,
        limit: int = DEFAULT_SEARCH_LIMIT,
        in_stock_only: bool = False,
        cursor: str | None = None,
    ) -> ProductPage:
        if text is None or not text.strip():
            return await self._list(business_id, limit, in_stock_only, cursor)
        terms = search_terms(text)
        if terms.empty:
            return ProductPage([], None)
        return await self._search(business_id, terms, limit, in_stock_only, cursor)

    async def _list(
        self, business_id: str, limit: int, in_stock_only: bool, cursor: str | None
    ) -> ProductPage:
        after_name = after_id = None
        if cursor is not None:
            name, product_id = decode_cursor(cursor, (str, str))
            after_name, after_id = str(name), str(product_id)
        rows = await self._pool.fetch(_LIST_SQL, business_id, in_stock_only, after_name, after_id,
                                      limit + 1)  # fmt: skip
        items = [catalog_product(r) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = encode_cursor(last["search_name"], last["product_id"]) if last else None
        return ProductPage(items, next_cursor)

    async def _search(
        self,
        business_id: str,
        terms: SearchTerms,
        limit: int,
        in_stock_only: bool,
        cursor: str | None,
    ) -> ProductPage:
        groups, alternatives, prefixes = [], [], []
        for index, word in enumerate(terms.words):
            for alternative in word.alternatives:
                groups.append(index)
                alternatives.append(alternative)
                prefixes.append(alternative == word.prefix)
        words = [w.word for w in terms.words]
        after: list[Any] = [None] * 5
        if cursor is not None:
            matched, available, score, name, product_id = decode_cursor(
                cursor, (int, int, int, str, str)
            )
            after = [cursor_number(matched, MAX_INT), cursor_number(available, 1),
                     cursor_number(score, MAX_INT), name, product_id]  # fmt: skip
        rows = await self._pool.fetch(_SEARCH_SQL, business_id, groups, alternatives, prefixes,
                                      words, in_stock_only, *after, limit + 1)  # fmt: skip
        items = [catalog_product(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["matched"], last["available"], last["score"],
                                        last["search_name"], last["product_id"])  # fmt: skip
        return ProductPage(items, next_cursor)
