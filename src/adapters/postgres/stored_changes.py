"""The unreadable webhook changes stored in the event log, found by their event type."""

from __future__ import annotations

from typing import Any

import asyncpg

from adapters.postgres.event_store import PostgresEventStore
from application.event_log import RecordedEvent
from domain.account import business_stream

_UNREADABLE_SQL = """
select stream_id, version, global_position, tx::text as tx_text,
       event_id, type, data, metadata, recorded_at
from events
where type = 'webhook.change_unreadable' and ($1::text is null or stream_id = $1)
order by global_position
"""
_RECOVERED_SQL = """
select data->>'unreadable_event_id' as event_id from events
where type = 'webhook.change_recovered' and ($1::text is null or stream_id = $1)
"""


class PostgresStoredChanges:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def unreadable(self, business_id: str | None) -> list[RecordedEvent]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_UNREADABLE_SQL, _stream(business_id))
        return [self._store.decode_row(row) for row in rows]

    async def recovered(self, business_id: str | None) -> set[str]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_RECOVERED_SQL, _stream(business_id))
        return {row["event_id"] for row in rows}


def _stream(business_id: str | None) -> str | None:
    """One business's stream; None reads every business's and the unrouted stream."""
    return business_stream(business_id) if business_id is not None else None
