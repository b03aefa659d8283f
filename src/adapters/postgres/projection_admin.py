"""Projection administration: where each projection stands, and rebuilding one from the log.

A rebuild replays the whole log into fresh copies of the projection's tables in a
scratch schema, while the live tables keep serving. Once it has caught up, one
transaction locks the live tables, replays the last few events, drops the live
tables, moves the fresh ones into their place and moves the projection's
checkpoint to where the replay ended. The live runner's next checkpoint
compare-and-set then fails, so it rolls back its batch and carries on from the new
checkpoint, on the new tables.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import structlog

from adapters.postgres.connection import connect
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.read_models import (
    LIVE_SCHEMA,
    PROJECTIONS,
    PostgresProjection,
    projection_named,
    quote_identifier,
)
from application.event_log import FeedPosition, RecordedEvent
from application.ports import Subscriber
from application.subscriptions import describe_failure

REBUILD_BATCH: Final = 5000
SWAP_ATTEMPTS: Final = 10
SWAP_LOCK_WAIT_MS: Final = 2000  # readers queue behind a pending swap at most this long
log = structlog.get_logger(__name__)

_REBUILD_LOCK: Final = "wazybot.rebuild:"
_START: Final = FeedPosition(0, 0)
_UNPARK_SQL: Final = "delete from parked_events where subscriber = $1 and event_id = $2"


class RebuildError(RuntimeError):
    """A rebuild could not finish; the live tables are unchanged."""


class RebuildRefusedError(RebuildError):
    """Another rebuild of the same projection is running."""


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    name: str
    tx: int | None
    position: int | None
    behind: int  # events in the log the projection has not handled yet
    owner: str | None  # the process whose runner leads (or last led) it
    updated_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    rebuilding: bool
    parked: int = 0  # events set aside after failing again and again (see retry_parked)


@dataclass(frozen=True, slots=True)
class ParkedRetry:
    """What replaying one parked event did: replayed (and unparked), or its new error."""

    position: int
    event_id: str
    type: str
    error: str | None  # None: replayed and removed from the parked events


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    projection: str
    handled: int
    total: int  # events in the log when the rebuild started (more may arrive meanwhile)
    elapsed: float
    swapped: bool = False


ProgressCallback = Callable[[RebuildProgress], Awaitable[None]]


async def _no_progress(_: RebuildProgress) -> None:
    return None


class PostgresProjectionAdmin:
    def __init__(self, dsn: str, store: PostgresEventStore) -> None:
        self._dsn = dsn
        self._store = store

    async def status(self) -> list[ProjectionStatus]:
        connection = await connect(self._dsn, application_name="wazybot projections status")
        try:
            return [await self._status_of(connection, p.kind) for p in PROJECTIONS]
        finally:
            await connection.close()

    async def _status_of(self, connection: asyncpg.Connection[Any], name: str) -> ProjectionStatus:
        row = await connection.fetchrow(
            "select tx::text as tx, position, owner, updated_at, last_error, last_error_at"
            " from subscriber_checkpoints where name = $1",
            name,
        )
        after = FeedPosition(int(row["tx"]), row["position"]) if row else _START
        behind = await connection.fetchval(
            "select count(*) from events where (tx, global_position) > ($1::text::xid8, $2)",
            str(after.tx), after.position,
        )  # fmt: skip
        return ProjectionStatus(
            name=name,
            tx=after.tx if row else None,
            position=after.position if row else None,
            behind=int(behind),
            owner=row["owner"] if row else None,
            updated_at=row["updated_at"] if row else None,
            last_error=row["last_error"] if row else None,
            last_error_at=row["last_error_at"] if row else None,
            rebuilding=await _rebuild_running(connection, name),
            parked=int(await connection.fetchval(
                "select count(*) from parked_events where subscriber = $1", name
            )),
        )  # fmt: skip

    async def retry_parked(self, name: str) -> list[ParkedRetry]:
        """Replay the projection's parked events in log order, each in its own transaction.

        One that succeeds leaves the parked events; one that fails again stays with its
        new error. Each replay holds the projection's checkpoint row, as the live
        runner's batches do, so the two never write the projection's tables at once.
        """
        return await self.retry_parked_with(projection_named(name))

    async def retry_parked_with(self, subscriber: Subscriber[Any]) -> list[ParkedRetry]:
        connection = await connect(self._dsn, application_name=f"wazybot retry {subscriber.name}")
        try:
            parked = await connection.fetch(
                "select event_id, global_position from parked_events where subscriber = $1"
                " order by global_position",
                subscriber.name,
            )
            return [await self._retry_one(connection, subscriber, r["event_id"]) for r in parked]
        finally:
            await connection.close()

    async def _retry_one(
        self, connection: asyncpg.Connection[Any], subscriber: Subscriber[Any], event_id: Any
    ) -> ParkedRetry:
        event = await self._store.read_event_on(connection, event_id)
        if event is None:  # the log never loses events; a parked row without one is stale
            await connection.execute(_UNPARK_SQL, subscriber.name, event_id)
            return ParkedRetry(0, str(event_id), "?", None)
        try:
            async with connection.transaction():
                await connection.execute(
                    "select 1 from subscriber_checkpoints where name = $1 for update",
                    subscriber.name,
                )
                await subscriber.handle(connection, [event])
                await connection.execute(_UNPARK_SQL, subscriber.name, event_id)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            raise
        except Exception as error:
            message = describe_failure(error)
            await connection.execute(
                "update parked_events set error = $3, attempts = attempts + 1,"
                " last_attempt_at = now() where subscriber = $1 and event_id = $2",
                subscriber.name, event_id, message,
            )  # fmt: skip
            log.warning("projection.parked_event_failed_again", projection=subscriber.name,
                        position=event.position.position, error=message)  # fmt: skip
            return ParkedRetry(event.position.position, str(event_id), event.type, message)
        log.info("projection.parked_event_replayed", projection=subscriber.name,
                 position=event.position.position)  # fmt: skip
        return ParkedRetry(event.position.position, str(event_id), event.type, None)

    async def rebuild(
        self, name: str, progress: ProgressCallback = _no_progress, batch: int = REBUILD_BATCH
    ) -> RebuildProgress:
        """Replay the log into fresh tables and swap them in; refuses a concurrent rebuild."""
        projection_named(name)  # an unknown name fails before anything is touched
        connection = await connect(self._dsn, application_name=f"wazybot rebuild {name}")
        try:
            if not await connection.fetchval(
                "select pg_try_advisory_lock(hashtextextended($1, 0))", _REBUILD_LOCK + name
            ):
                raise RebuildRefusedError(
                    f"a rebuild of projection {name!r} is already running; wait for it to finish"
                )
            reader = await connect(self._dsn, application_name=f"wazybot rebuild {name} reader")
            try:
                rebuild = _Rebuild(connection, reader, self._store, name, progress, batch)
                return await rebuild.run()
            finally:
                await reader.close()
        finally:
            await connection.close()  # also releases the rebuild lock


async def _rebuild_running(connection: asyncpg.Connection[Any], name: str) -> bool:
    """Does a session hold the rebuild lock? Read from pg_locks, without taking it."""
    held = await connection.fetchval(
        """
        select exists (
            select 1 from pg_locks, (select hashtextextended($1, 0) as key) as k
            where locktype = 'advisory' and granted and objsubid = 1
              and classid = ((k.key >> 32) & 4294967295)::text::oid
              and objid = (k.key & 4294967295)::text::oid
        )
        """,
        _REBUILD_LOCK + name,
    )
    return bool(held)


class _Rebuild:
    def __init__(
        self,
        connection: asyncpg.Connection[Any],
        reader: asyncpg.Connection[Any],
        store: PostgresEventStore,
        name: str,
        progress: ProgressCallback,
        batch: int,
    ) -> None:
        self._connection = connection
        self._reader = reader
        self._store = store
        self._name = name
        self._scratch = f"rebuild_{name}"
        self._projection: PostgresProjection = projection_named(name, self._scratch)
        self._progress = progress
        self._batch = batch
        self._position = _START
        self._handled = 0
        self._total = 0
        self._started = time.monotonic()
        self._deferred: list[tuple[str, str, str]] = []  # (table, live index name, definition)

    async def run(self) -> RebuildProgress:
        self._total = int(await self._connection.fetchval("select count(*) from events"))
        await self._create_scratch_tables()
        try:
            await self._replay()
            await self._build_deferred_indexes()
            await self._make_durable()
            await self._swap()
        finally:
            await self._connection.execute(
                f"drop schema if exists {quote_identifier(self._scratch)} cascade"
            )
        done = self._snapshot(swapped=True)
        await self._progress(done)
        return done

    async def _replay(self) -> None:
        """Replay the log into the scratch tables; the next batch is read while one is written."""
        ahead = asyncio.create_task(self._read(self._position))
        # Events and rows form no reference cycles, so reference counting frees them; the cycle
        # collector would only rescan the growing heap of a long replay, again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while events := await ahead:
                ahead = asyncio.create_task(self._read(events[-1].position))
                async with self._connection.transaction():
                    # Nothing of the scratch survives a crash, so no commit waits for the disk.
                    await self._connection.execute("set local synchronous_commit = off")
                    await self._apply(events)
                await self._progress(self._snapshot())
        finally:
            if collecting:
                gc.enable()
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)

    async def _make_durable(self) -> None:
        """Write the finished tables to the WAL once, before the live tables are locked."""
        for table in self._projection.tables:
            await self._connection.execute(
                f"alter table {quote_identifier(self._scratch)}.{table} set logged"
            )

    async def _read(self, after: FeedPosition) -> list[RecordedEvent]:
        return await self._store.read_feed_on(self._reader, after, self._batch)

    def _snapshot(self, *, swapped: bool = False) -> RebuildProgress:
        return RebuildProgress(
            self._name, self._handled, self._total, time.monotonic() - self._started, swapped
        )

    async def _create_scratch_tables(self) -> None:
        scratch = quote_identifier(self._scratch)
        # A rebuild that died left its scratch schema behind; we hold the lock, so it is ours.
        # Unlogged while replaying (a crash discards the scratch anyway); logged before the swap.
        await self._connection.execute(f"drop schema if exists {scratch} cascade")
        await self._connection.execute(f"create schema {scratch}")
        for table in self._projection.tables:
            await self._connection.execute(
                f"create unlogged table {scratch}.{table}"
                f" (like {LIVE_SCHEMA}.{table} including all)"
            )
            await self._defer_plain_indexes(table)

    async def _defer_plain_indexes(self, table: str) -> None:
        """Indexes no write needs (not unique) are built once at the end, not kept up per row."""
        scratch_names = await self._index_names(self._scratch, table)
        plain = await self._index_names(LIVE_SCHEMA, table, unique=False)
        for definition, name in plain.items():
            copy = scratch_names.get(definition)
            if copy is not None:
                await self._connection.execute(
                    f"drop index {quote_identifier(self._scratch)}.{quote_identifier(copy)}"
                )
                self._deferred.append((table, name, definition))

    async def _build_deferred_indexes(self) -> None:
        scratch = quote_identifier(self._scratch)
        for table, name, definition in self._deferred:
            await self._connection.execute(
                f"create index {quote_identifier(name)} on {scratch}.{table} using {definition}"
            )

    async def _swap(self) -> None:
        """Swap the fresh tables in; lock waits are bounded so readers never queue for long."""
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            position, handled = self._position, self._handled
            try:
                async with self._connection.transaction():
                    await self._connection.execute(f"set local lock_timeout = {SWAP_LOCK_WAIT_MS}")
                    await self._swap_locked()
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as error:
                self._position, self._handled = position, handled  # the catch-up rolled back
                log.warning("projection.swap_retry", projection=self._name, attempt=attempt,
                            error=type(error).__name__)  # fmt: skip
                await asyncio.sleep(0.2 * attempt)
        raise RebuildError(
            f"could not lock the live tables of {self._name!r} after {SWAP_ATTEMPTS} attempts;"
            " nothing was changed, run the rebuild again"
        )

    async def _swap_locked(self) -> None:
        # In the order the live runner takes them: its checkpoint row, then its tables.
        await self._connection.execute(
            "insert into subscriber_checkpoints (name) values ($1) on conflict do nothing",
            self._name,
        )
        await self._connection.execute(
            "select 1 from subscriber_checkpoints where name = $1 for update", self._name
        )
        for table in self._projection.tables:
            await self._connection.execute(
                f"lock table {LIVE_SCHEMA}.{table} in access exclusive mode"
            )
        while await self._catch_up_batch():
            pass
        for table in self._projection.tables:
            await self._replace_live_table(table)
        # The replay went through every event, the parked ones included.
        await self._connection.execute(
            "delete from parked_events where subscriber = $1", self._name
        )
        await self._connection.execute(
            "update subscriber_checkpoints set tx = $2::text::xid8, position = $3,"
            " updated_at = now(), last_error = null where name = $1",
            self._name, str(self._position.tx), self._position.position,
        )  # fmt: skip

    async def _replace_live_table(self, table: str) -> None:
        """Drop the live table and move the fresh one in, under the live indexes' names."""
        scratch = quote_identifier(self._scratch)
        live_names = await self._index_names(LIVE_SCHEMA, table)
        fresh_names = await self._index_names(self._scratch, table)
        await self._connection.execute(f"drop table {LIVE_SCHEMA}.{table}")
        for definition, fresh in fresh_names.items():
            live = live_names.get(definition)
            if live is not None and live != fresh:
                await self._connection.execute(
                    f"alter index {scratch}.{quote_identifier(fresh)}"
                    f" rename to {quote_identifier(live)}"
                )
        await self._connection.execute(f"alter table {scratch}.{table} set schema {LIVE_SCHEMA}")

    async def _index_names(
        self, schema: str, table: str, *, unique: bool | None = None
    ) -> dict[str, str]:
        """Index definition (what it indexes and how) -> index name; all, or only (non-)unique."""
        rows = await self._connection.fetch(
            "select c.relname as name,"
            " regexp_replace(pg_get_indexdef(x.indexrelid), '^.* USING ', '') as definition"
            " from pg_index x join pg_class c on c.oid = x.indexrelid"
            " where x.indrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass"
            " and ($3::boolean is null or x.indisunique = $3)",
            schema, table, unique,
        )  # fmt: skip
        return {r["definition"]: r["name"] for r in rows}

    async def _catch_up_batch(self) -> bool:
        """Inside the swap transaction: what committed since the last batch, live runner held."""
        events = await self._store.read_feed_on(self._connection, self._position, self._batch)
        if events:
            await self._apply(events)
        return bool(events)

    async def _apply(self, events: list[RecordedEvent]) -> None:
        """Project a batch into the scratch tables, in the caller's transaction."""
        await self._projection.handle(self._connection, events)
        self._position = events[-1].position
        self._handled += len(events)
