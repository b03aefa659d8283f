"""What the handoff commands read on PostgreSQL: a conversation's stream, and the latest
handoff events in it."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from adapters.postgres.event_store import PostgresEventStore
from application.handoff import HandoffHistory, handoff_history
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
