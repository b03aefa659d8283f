"""The received-media lookup on PostgreSQL (the table the "media" projection keeps)."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from application.media import ReceivedMediaRecord

_FIND_SQL: Final = """
select business_id, media_id, phone_number_id, mime_type from received_media
where business_id = $1 and media_id = $2
"""


class PostgresReceivedMedia:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def find(self, business_id: str, media_id: str) -> ReceivedMediaRecord | None:
        row = await self._pool.fetchrow(_FIND_SQL, business_id, media_id)
        if row is None:
            return None
        return ReceivedMediaRecord(row["business_id"], row["media_id"], row["phone_number_id"],
                                   row["mime_type"])  # fmt: skip
