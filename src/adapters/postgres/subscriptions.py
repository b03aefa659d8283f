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

from adapters.postgres.connection import connect
from adapters.postgres.event_store import PostgresEventStore
from application.event_log import (
    CheckpointConflictError,
    FeedPosition,
    RecordedEvent,
)
from application.subscriptions import business_of, may_be_the_events, parked_record

EVENTS_CHANNEL: Final = "wazybot_events"
_LOCK_NAMESPACE: Final = "wazybot.subscriber:"

PgTransaction: TypeAlias = "asyncpg.Connection[Any]"

_LOCK_CHECKPOINT_SQL: Final = "select 1 from subscriber_checkpoints where name = $1 for update"
_PARK_SQL: Final = """
insert into parked_events as p (subscriber, event_id, global_position, stream_id, type,
                                business_id, error, attempts)
values ($1, $2, $3, $4, $5, $6, $7, $8)
on conflict (subscriber, event_id) do update
set error = excluded.error, attempts = p.attempts + excluded.attempts, last_attempt_at = now()
"""
# SQLSTATE classes an event can cause: data exceptions, integrity violations, raise in PL/pgSQL.
_EVENT_FAULT_CLASSES: Final = frozenset({"22", "23", "P0"})


def event_may_be_at_fault(error: BaseException) -> bool:
    """True for failures an event can cause; False for the database, the network, timeouts."""
    if isinstance(error, asyncpg.PostgresError):
        return str(error.sqlstate)[:2] in _EVENT_FAULT_CLASSES
    return not isinstance(error, asyncpg.InterfaceError) and may_be_the_events(error)


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
            # Held until commit: `projections retry-parked` takes the same lock, so the two
            # never write one projection's tables at the same time.
            await self._connection.execute(_LOCK_CHECKPOINT_SQL, self._name)
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

    def may_park(self, error: Exception) -> bool:
        return event_may_be_at_fault(error)

    async def park(
        self, event: RecordedEvent, error: str, attempts: int, previous: FeedPosition
    ) -> None:
        async with self._connection.transaction():
            await self._connection.execute(
                _PARK_SQL, self._name, event.event_id, event.position.position, event.stream_id,
                event.type, business_of(event), error, attempts,
            )  # fmt: skip
            status = await self._connection.execute(
                """
                update subscriber_checkpoints
                set tx = $2::text::xid8, position = $3, updated_at = now()
                where name = $1 and tx = $4::text::xid8 and position = $5
                """,
                self._name, str(event.position.tx), event.position.position,
                str(previous.tx), previous.position,
            )  # fmt: skip
            if status != "UPDATE 1":
                raise CheckpointConflictError(self._name, previous)
            record = parked_record(self._store.codec, self._name, event, error, attempts)
            if record:
                await self._store.append_on(self._connection, record)

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
