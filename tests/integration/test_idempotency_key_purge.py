"""Idempotency keys are deleted once their 24-hour window has passed: a key's stored answer
may hold a customer's details, so none outlives the time a repeat could need it."""

from __future__ import annotations

from typing import Any

import asyncpg

from adapters.postgres.idempotency import PostgresExpiredKeys
from application.idempotency import ExpiredKeyPurger

INSERT = """
insert into idempotency_keys (business_id, key, request_hash, answer, created_at)
values ($1, $2, 'asked', '{"customer_phone": "33612345678"}', now() - $3::text::interval)
"""


async def keys(pool: asyncpg.Pool[Any]) -> list[str]:
    return [r["key"] for r in await pool.fetch("select key from idempotency_keys order by key")]


async def test_only_keys_past_their_window_are_deleted_in_batches(
    pool: asyncpg.Pool[Any],
) -> None:
    for number in range(5):
        await pool.execute(INSERT, "acme", f"old-{number}", "25 hours")
    await pool.execute(INSERT, "acme", "recent", "23 hours")
    await pool.execute(INSERT, "other", "just-now", "0 seconds")
    purger = ExpiredKeyPurger(PostgresExpiredKeys(pool), batch=2)

    assert await purger.work_round() is False  # a full batch: more may be due
    assert len(await keys(pool)) == 5
    assert await purger.work_round() is False
    assert await purger.work_round() is True  # the last old key: nothing more due
    assert await keys(pool) == ["just-now", "recent"]
    assert await purger.work_round() is True
    assert await keys(pool) == ["just-now", "recent"]
