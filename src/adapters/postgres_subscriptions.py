"""Subscriptions on PostgreSQL: one active runner per subscriber across processes.

Leadership is a session advisory lock held by the runner's own connection: if
the process dies, the connection closes, the lock is released and a standby
runner in another process (blocked on the same lock) takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias

import asyncpg

from adapters.postgres import connect
from adapters.postgres_event_store import PostgresEventStore
from application.event_log import CheckpointConflictError, FeedPosition, RecordedEvent

EVENTS_CHANNEL: Final = "wazybot_events"
_LOCK_NAMESPACE: Final = "wazybot.subscriber:"

PgTransaction: TypeAlias = "asyncpg.Connection[Any]"


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class PostgresSubscriptionSource:
    def __init__(self, dsn: str, store: PostgresEventStore, owner: str | None = None) -> None:
        self._dsn = dsn
        self._store = store
        self._owner = owner or process_owner()

    @asynccontextmanager
    async def lead(self, name: str) -> AsyncIterator[PostgresSubscriptionSession]:
        connection = await connect(self._dsn, application_name=f"wazybot subscriber {name}")
        try:
            await connection.execute(
                "select pg_advisory_lock(hashtextextended($1, 0))", _LOCK_NAMESPACE + name
            )
            session = PostgresSubscriptionSession(connection, name, self._owner, self._store)
            await session.open()
            yield session
        finally:
            connection.terminate()


class PostgresSubscriptionSession:
    def __init__(
        self,
        connection: asyncpg.Connection[Any],
        name: str,
        owner: str,
        store: PostgresEventStore,
    ) -> None:
        self._connection = connection
        self._name = name
        self._owner = owner
        self._store = store
        self._woken = asyncio.Event()
        self._lost = False

    async def open(self) -> None:
        await self._connection.add_listener(EVENTS_CHANNEL, self._on_notification)
        self._connection.add_termination_listener(self._on_termination)

    def _on_notification(self, *_: object) -> None:
        self._woken.set()

    def _on_termination(self, *_: object) -> None:
        self._lost = True
        self._woken.set()

    async def load_checkpoint(self) -> FeedPosition:
        row = await self._connection.fetchrow(
            """
            insert into subscriber_checkpoints (name, owner) values ($1, $2)
            on conflict (name) do update set owner = excluded.owner
            returning tx::text, position
            """,
            self._name,
            self._owner,
        )
        assert row is not None
        return FeedPosition(int(row["tx"]), row["position"])

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        return await self._store.read_feed_on(self._connection, after, limit)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        async with self._connection.transaction():
            yield self._connection

    async def save_checkpoint(
        self, tx: PgTransaction, previous: FeedPosition, current: FeedPosition
    ) -> None:
        status = await tx.execute(
            """
            update subscriber_checkpoints
            set tx = $2::text::xid8, position = $3, updated_at = now(), last_error = null
            where name = $1 and tx = $4::text::xid8 and position = $5
            """,
            self._name,
            str(current.tx),
            current.position,
            str(previous.tx),
            previous.position,
        )
        if status != "UPDATE 1":
            raise CheckpointConflictError(self._name, previous)

    async def record_error(self, message: str) -> None:
        await self._connection.execute(
            "update subscriber_checkpoints set last_error = $2, last_error_at = now() "
            "where name = $1",
            self._name,
            message,
        )

    async def wait_for_events(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._woken.wait()
        self._woken.clear()
        if self._lost:
            raise ConnectionError(f"subscriber {self._name!r} lost its database connection")
