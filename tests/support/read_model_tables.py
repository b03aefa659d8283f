"""Compare read-model tables: live against a replay of the whole log into a scratch schema."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg

from adapters.postgres.read_models import PROJECTIONS
from tests.support.read_models import FAST, projected

READ_MODEL_TABLES = tuple(table for p in PROJECTIONS for table in p.tables)
# Identity ids depend on how many inserts a sequence saw, rolled-back batches included.
_VOLATILE = {"messages": ("id",)}


async def table_rows(pool: asyncpg.Pool[Any], schema: str, table: str) -> list[dict[str, Any]]:
    async with pool.acquire() as connection:
        rows = await connection.fetch(f"select * from {schema}.{table}")
    volatile = _VOLATILE.get(table, ())
    cleaned = [{k: v for k, v in r.items() if k not in volatile} for r in rows]
    return sorted(cleaned, key=lambda row: [str(v) for v in row.values()])


async def read_models(pool: asyncpg.Pool[Any], schema: str = "public") -> dict[str, Any]:
    return {table: await table_rows(pool, schema, table) for table in READ_MODEL_TABLES}


async def replayed_read_models(
    pool: asyncpg.Pool[Any], database_url: str, schema: str = "replayed", batch_size: int = 97
) -> dict[str, Any]:
    """Every projection run once, uninterrupted, over the whole log into ``schema``."""
    async with pool.acquire() as connection:
        await connection.execute(f"create schema {schema}")
        for table in READ_MODEL_TABLES:
            await connection.execute(
                f"create table {schema}.{table} (like public.{table} including all)"
            )
    settings = replace(FAST, batch_size=batch_size)
    async with projected(pool, database_url, [p(schema) for p in PROJECTIONS], settings) as app:
        await app.caught_up()
    return await read_models(pool, schema)
