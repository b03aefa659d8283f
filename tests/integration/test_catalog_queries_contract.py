"""One contract, two catalogs: the in-memory fake and PostgreSQL find what a customer means.

Products are imported through the real service (events on the catalog stream) and read
back through each read model: the PostgreSQL one kept by its projection runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.memory.catalog import InMemoryCatalog
from adapters.memory.event_store import InMemoryEventStore
from adapters.postgres.catalog import PostgresCatalog
from adapters.postgres.connection import create_pool
from adapters.postgres.read_models import ProductsProjection
from application.catalog import CatalogImporter, CatalogQueries
from application.codec import EventCodec
from application.read_models import QueryError
from domain.event_types import EVENT_TYPES
from tests.support.read_models import projected


def row(product_id: str, name: str, stock: int = 5, **more: str) -> dict[str, object]:
    return {"id": product_id, "name": name, "description": more.pop("description", ""),
            "price": more.pop("price", "10.00"), "currency": "EUR", "stock": str(stock),
            **more}  # fmt: skip


ACME = [
    row("tee-blue", "T-shirt bleu", description="Coton bio, col rond"),
    row("tee-red", "T-shirt rouge", stock=0),
    row("run-1", "Chaussures de course", category="Sport"),
    row("bask-1", "Baskets running", description="Légères et souples"),
    row("phone-1", "Téléphone X200", price="299.00"),
    row("bag-1", "Sac en cuir", category="Maroquinerie"),
    row("dress-1", "Robe d'été", description="Lin"),
    row("pants-1", "Jean slim"),
    row("mug-1", "Mug émaillé"),
    row("coat-1", "Manteau robuste", stock=0),
]
GLOBEX = [row("g-tee", "T-shirt Globex"), row("g-shoe", "Baskets Globex")]


@dataclass
class World:
    catalog: CatalogQueries
    refresh: Callable[[], Awaitable[None]]

    async def ids(self, text: str | None, **options: Any) -> list[str]:
        page = await self.catalog.search("acme", text, **options)
        return [item.product.product_id for item in page.items]


@pytest.fixture(params=["memory", "postgres"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        store = InMemoryEventStore(EventCodec(EVENT_TYPES))
        memory = InMemoryCatalog(store)
        await _seed(CatalogImporter(store))
        await memory.catch_up()
        yield World(memory, memory.catch_up)
        return
    database_url = request.getfixturevalue("database_url")
    pool = await create_pool(database_url, max_size=4)
    try:
        async with projected(pool, database_url, [ProductsProjection()]) as app:
            await _seed(CatalogImporter(app.store))
            await app.caught_up()
            yield World(PostgresCatalog(pool), app.caught_up)
    finally:
        await pool.close()


async def _seed(importer: CatalogImporter) -> None:
    for business, rows in (("acme", ACME), ("globex", GLOBEX)):
        numbered = [(n, r) for n, r in enumerate(rows, start=2)]
        report = await importer.import_rows(business, numbered)
        assert report.added == len(rows)
        assert report.all_taken


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("tshirt", "tee-blue"),  # a synonym's spelling
        ("T-SHIRT BLEU", "tee-blue"),  # case
        ("chaussure", "run-1"),  # singular of the product's plural
        ("telephone", "phone-1"),  # no accents
        ("téléphones", "phone-1"),
        ("shoes", "bask-1"),  # English for the French word
        ("sneakers", "run-1"),
        ("bask", "bask-1"),  # a word cut short
        ("baskette", "bask-1"),  # misspelled
        ("bag", "bag-1"),
        ("dress", "dress-1"),
        ("pantalon", "pants-1"),
        ("ete", "dress-1"),
        ("maroquinerie", "bag-1"),  # the category
        ("coton", "tee-blue"),  # the description
    ],
)
async def test_a_customers_words_find_the_product(world: World, typed: str, found: str) -> None:
    assert found in await world.ids(typed)


async def test_the_product_matching_more_words_ranks_first_and_in_stock_before_out(
    world: World,
) -> None:
    assert (await world.ids("t-shirt bleu"))[0] == "tee-blue"
    assert (await world.ids("tshirt"))[:2] == ["tee-blue", "tee-red"]  # tee-red has none left
    assert await world.ids("tshirt", in_stock_only=True) == ["tee-blue"]


async def test_full_matches_come_before_resemblances(world: World) -> None:
    found = await world.ids("baskets")
    assert found[0] == "bask-1"
    assert set(found) >= {"bask-1", "run-1"}  # run-1 by synonym (chaussure)


async def test_resemblance_is_only_for_words_no_product_has(world: World) -> None:
    assert await world.ids("robe") == ["dress-1"]  # not "robuste", which only resembles it
    assert await world.ids("robuste") == ["coat-1"]
    assert await world.ids("robee") == ["dress-1"]  # misspelled: what resembles it enough
    assert await world.ids("manteu") == ["coat-1"]


async def test_unrelated_or_empty_words_find_nothing_and_no_text_lists_by_name(
    world: World,
) -> None:
    assert await world.ids("voiture") == []
    assert await world.ids("de la") == []
    listed = await world.ids(None, limit=50)
    assert listed == ["bask-1", "run-1", "pants-1", "coat-1", "mug-1", "dress-1", "bag-1",
                      "tee-blue", "tee-red", "phone-1"]  # fmt: skip
    assert await world.ids("  ", limit=50) == listed


async def test_another_business_products_never_come_back(world: World) -> None:
    assert "g-tee" not in await world.ids("tshirt")
    assert "g-shoe" not in await world.ids("baskets globex")
    assert await world.catalog.product("acme", "g-tee") is None
    found = await world.catalog.product("globex", "g-tee")
    assert found is not None
    assert found.product.name == "T-shirt Globex"


async def test_pages_follow_the_cursor_without_losing_or_repeating(world: World) -> None:
    for text in (None, "t-shirt chaussures sac robe jean telephone mug"):
        seen: list[str] = []
        cursor = None
        while True:
            page = await world.catalog.search("acme", text, limit=2, cursor=cursor)
            seen.extend(item.product.product_id for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        whole = await world.ids(text, limit=50)
        assert seen == whole
        assert len(whole) == len(set(whole)) >= 7


async def test_a_cursor_it_did_not_give_is_refused(world: World) -> None:
    with pytest.raises(QueryError):
        await world.catalog.search("acme", None, cursor="not-a-cursor")
    listing = await world.catalog.search("acme", None, limit=1)
    assert listing.next_cursor is not None
    with pytest.raises(QueryError):  # a listing's cursor is not a search's
        await world.catalog.search("acme", "tshirt", cursor=listing.next_cursor)


async def test_a_product_reads_back_with_its_price_in_minor_units(world: World) -> None:
    found = await world.catalog.product("acme", "phone-1")
    assert found is not None
    assert (found.product.price, found.product.currency, found.product.stock) == (29900, "EUR", 5)
    assert found.business_id == "acme"
