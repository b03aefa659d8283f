"""The live-updates watcher's one connection: checkpoint moves and session changes, by NOTIFY.

Migration 0023 makes PostgreSQL notify ``wazybot_progress`` when a subscriber's checkpoint
moves (at the commit of the projection's changes) and ``wazybot_sessions`` when dashboard
sessions are closed or API tokens revoked. The watcher still looks every few seconds without
a notification (a notification can be lost with its connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

import asyncpg

from adapters.postgres.connection import connect
from adapters.postgres.event_store import PostgresEventStore
from application.api_tokens import token_digest
from application.businesses import DEFAULT_BUSINESS_ID
from application.event_log import FeedPosition, RecordedEvent

PROGRESS_CHANNEL: Final = "wazybot_progress"
SESSIONS_CHANNEL: Final = "wazybot_sessions"

# The same rule as a page's session lookup (adapters/postgres/dashboard_sessions.py), for
# many sessions at once and without sliding their expiry.
_LIVE_SESSIONS_SQL: Final = """
select s.id_sha256 from dashboard_sessions s
where s.id_sha256 = any($1::bytea[]) and s.expires_at > now()
  and (
    (s.token_sha256 = $2 and s.business_id = $3)
    or exists (select 1 from api_tokens t
               where t.token_sha256 = s.token_sha256 and t.business_id = s.business_id
                 and t.revoked_at is null)
  )
"""


class PostgresProgressFeed:
    def __init__(
        self, dsn: str, store: PostgresEventStore, environment_token: str | None = None
    ) -> None:
        self._dsn = dsn
        self._store = store
        self._environment_sha256 = token_digest(environment_token) if environment_token else b"\x00"
        self._connection: asyncpg.Connection[Any] | None = None
        self._woken: set[str] = set()
        self._signal = asyncio.Event()
        self._lost = False

    async def open(self) -> None:
        connection = await connect(self._dsn, application_name="wazybot live updates")
        self._connection = connection
        await connection.add_listener(PROGRESS_CHANNEL, self._on_progress)
        await connection.add_listener(SESSIONS_CHANNEL, self._on_sessions)
        connection.add_termination_listener(self._on_termination)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)
            if not connection.is_closed():
                connection.terminate()

    def _on_progress(self, *_: object) -> None:
        self._woken.add("progress")
        self._signal.set()

    def _on_sessions(self, *_: object) -> None:
        self._woken.add("sessions")
        self._signal.set()

    def _on_termination(self, *_: object) -> None:
        self._lost = True
        self._signal.set()

    async def wait(self, timeout: float) -> frozenset[str]:
        if not self._signal.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._signal.wait()
        self._signal.clear()
        if self._lost:
            raise ConnectionError("the live-updates connection to the database was lost")
        woken, self._woken = frozenset(self._woken), set()
        return woken

    def _ready(self) -> asyncpg.Connection[Any]:
        if self._connection is None or self._lost:
            raise ConnectionError("the live-updates connection is not open")
        return self._connection

    async def checkpoints(self, names: Sequence[str]) -> dict[str, FeedPosition]:
        rows = await self._ready().fetch(
            "select name, tx::text as tx, position from subscriber_checkpoints"
            " where name = any($1::text[])",
            list(names),
        )
        return {row["name"]: FeedPosition(int(row["tx"]), row["position"]) for row in rows}

    async def read_feed(self, after: FeedPosition, limit: int) -> Sequence[RecordedEvent]:
        return await self._store.read_feed_on(self._ready(), after, limit)

    async def live_sessions(self, session_keys: Sequence[bytes]) -> set[bytes]:
        rows = await self._ready().fetch(
            _LIVE_SESSIONS_SQL, list(session_keys), self._environment_sha256, DEFAULT_BUSINESS_ID
        )
        return {bytes(row["id_sha256"]) for row in rows}
