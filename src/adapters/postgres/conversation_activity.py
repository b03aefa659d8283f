"""Which conversations of a business were active since a time, from the conversations read
model: an indexed range read instead of a scan of every stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg

from application.assistant_evaluation import ConversationRef

# last_activity_at is the newest of Meta's times of the conversation's messages, so a
# conversation a customer wrote in since then has one at least that late.
_ACTIVE_SQL: Final = """
select id, public_id from conversations
where business_id = $1 and last_activity_at >= $2
order by last_activity_at desc, public_id desc
"""


class PostgresActiveConversations:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def active_since(self, business_id: str, since: datetime) -> list[ConversationRef]:
        rows = await self._pool.fetch(_ACTIVE_SQL, business_id, since)
        return [ConversationRef(stream=row["id"], public_id=row["public_id"]) for row in rows]
