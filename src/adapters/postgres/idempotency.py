"""Idempotency keys on PostgreSQL (``idempotency_keys``), read and stored on the caller's
connection so that a key commits with what its request recorded, or not at all."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from adapters.postgres.connection import PgConnection
from application.idempotency import KeyToRemember, RememberedKey

IDEMPOTENCY_WINDOW: Final = "24 hours"

_REMEMBERED_SQL: Final = f"""
select request_hash, answer from idempotency_keys
where business_id = $1 and key = $2 and created_at > now() - interval '{IDEMPOTENCY_WINDOW}'
"""
_FORGET_EXPIRED_SQL: Final = f"""
delete from idempotency_keys
where business_id = $1 and key = $2 and created_at <= now() - interval '{IDEMPOTENCY_WINDOW}'
"""
_FORGET_ALL_EXPIRED_SQL: Final = f"""
delete from idempotency_keys
where ctid in (
    select ctid from idempotency_keys
    where created_at <= now() - interval '{IDEMPOTENCY_WINDOW}'
    limit $1
)
"""
_REMEMBER_SQL: Final = """
insert into idempotency_keys (business_id, key, request_hash, answer)
values ($1, $2, $3, $4)
on conflict (business_id, key) do nothing
returning key
"""


async def remembered(connection: PgConnection, business_id: str, key: str) -> RememberedKey | None:
    """The key's first request and answer, if it was used in the last 24 hours."""
    row = await connection.fetchrow(_REMEMBERED_SQL, business_id, key)
    return None if row is None else RememberedKey(row["request_hash"], row["answer"])


async def remember(connection: PgConnection, key: KeyToRemember) -> RememberedKey | None:
    """Store the key in the connection's transaction; None when stored, else what a
    concurrent request with the same key stored first (waiting for it to commit)."""
    await connection.execute(_FORGET_EXPIRED_SQL, key.business_id, key.key)
    stored = await connection.fetchval(
        _REMEMBER_SQL, key.business_id, key.key, key.fingerprint, key.answer
    )
    if stored is not None:
        return None
    return await remembered(connection, key.business_id, key.key)


class PostgresExpiredKeys:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def forget_expired(self, limit: int) -> int:
        status = await self._pool.execute(_FORGET_ALL_EXPIRED_SQL, limit)
        return int(status.split()[-1])  # "DELETE <count>"
