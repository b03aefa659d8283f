"""The products read model on PostgreSQL: kept from catalog events, rebuildable, searchable
as it was before the rebuild."""

from __future__ import annotations

from typing import Any

import asyncpg

from adapters.postgres.catalog import PostgresCatalog
from adapters.postgres.projection_admin import PostgresProjectionAdmin
from adapters.postgres.read_models import ProductsProjection
from application.catalog import CatalogImporter
from tests.support.read_model_tables import table_rows
from tests.support.read_models import projected


def rows(*products: tuple[str, str, str]) -> list[tuple[int, dict[str, object]]]:
    numbered = enumerate(products, start=2)
    return [(n, {"id": i, "name": name, "description": "", "price": price, "currency": "EUR",
                 "stock": "3"}) for n, (i, name, price) in numbered]  # fmt: skip


async def test_imports_update_and_remove_rows_and_a_rebuild_gives_the_same_rows(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    catalog = PostgresCatalog(pool)
    async with projected(pool, database_url, [ProductsProjection()]) as app:
        importer = CatalogImporter(app.store)
        await importer.import_rows("acme", rows(("a", "Baskets", "50"), ("b", "Sac", "20"),
                                                ("c", "Robe", "35.5")))  # fmt: skip
        await importer.import_rows("globex", rows(("a", "Mug", "8")))
        await importer.import_rows("acme", rows(("a", "Baskets", "45"), ("c", "Robe", "35.5")),
                                   replace=True)  # fmt: skip
        await app.caught_up()
        live = await table_rows(pool, "public", "products")
        found = await catalog.search("acme", "sneakers")
        await PostgresProjectionAdmin(database_url, app.store).rebuild("products", batch=2)
        rebuilt = await table_rows(pool, "public", "products")
        after = await catalog.search("acme", "sneakers")

    assert [(r["business_id"], r["product_id"], r["price"]) for r in
            sorted(live, key=lambda r: (r["business_id"], r["product_id"]))] == [
        ("acme", "a", 4500), ("acme", "c", 3550), ("globex", "a", 800),
    ]  # fmt: skip
    assert rebuilt == live
    assert [i.product.product_id for i in found.items] == ["a"]
    assert after == found
