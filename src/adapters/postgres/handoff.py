"""What the handoff commands read and record on PostgreSQL: a conversation's stream, the
latest handoff events in it, and a handoff event with its Idempotency-Key in one
transaction."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.idempotency import remember, remembered
from application.event_log import AppendRequest, ConcurrencyError, NewEvent
from application.handoff import HandoffHistory, handoff_history
from application.idempotency import KeyToRemember, RememberedKey
from domain.events import event_type_name
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.public_ids import is_public_id

_STREAM_SQL: Final = "select id from conversations where business_id = $1 and public_id = $2"
# The newest event of each handoff type is all the state needs (their order decides it).
_HISTORY_SQL: Final = """
select (select coalesce(max(version), 0) from events where stream_id = $1) as head,
       h.* from (values (1)) as one
left join lateral (
    select distinct on (type) stream_id, version, global_position, tx::text as tx_text,
           event_id, type, data, metadata, recorded_at
    from events where stream_id = $1 and type = any($2::text[])
    order by type, version desc
) h on true
"""
_TYPES: Final = [
    event_type_name(t)
    for t in (ConversationEscalated, ConversationResolved, ConversationMarkedRead)
]


class PostgresHandoffRecords:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def stream_of(self, business_id: str, conversation_id: str) -> str | None:
        if not is_public_id(conversation_id):
            return None
        async with self._pool.acquire() as connection:
            stream_id: str | None = await connection.fetchval(
                _STREAM_SQL, business_id, conversation_id
            )
        return stream_id

    async def history(self, stream_id: str) -> HandoffHistory:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_HISTORY_SQL, stream_id, _TYPES)
        head = int(rows[0]["head"]) if rows else 0
        found = [self._store.decode_row(row) for row in rows if row["event_id"] is not None]
        return handoff_history(head, [(r.version, r.event) for r in found])

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        async with self._pool.acquire() as connection:
            return await remembered(connection, business_id, key)

    async def record(
        self, stream_id: str, version: int, new: NewEvent | None, key: KeyToRemember | None
    ) -> RememberedKey | None:
        async with self._pool.acquire() as connection, connection.transaction():
            if key is not None and (raced := await remember(connection, key)) is not None:
                return raced  # a concurrent request with this key committed first
            if new is not None:
                request = AppendRequest(stream_id, [new], version)
                (result,) = await self._store.append_on(connection, [request])
                if result.is_duplicate:  # rolls the key back with it
                    raise ConcurrencyError(stream_id, version, result.stream_version)
        return None
