"""The event store on PostgreSQL (asyncpg), with group commit.

Callers hand their appends to one committer task per store. While a commit is
in flight, new appends queue up; the committer then writes all of them in one
statement and answers each caller only after that statement has committed.
Appends that conflict with a writer in another process, or that carry data
PostgreSQL refuses (a data or integrity error), are settled one unit at a time,
so one caller's conflict or bad event never fails another caller's append.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import structlog

from adapters.postgres.connection import PgConnection
from application.codec import EventCodec
from application.event_log import (
    ANY,
    AppendRequest,
    AppendResult,
    ConcurrencyError,
    EventStoreError,
    ExpectedVersion,
    FeedPosition,
    NewEvent,
    RecordedEvent,
    UnitPlan,
    UnstorableEventError,
    plan_appends,
    validate_request,
)

log = structlog.get_logger(__name__)

MAX_BATCH_EVENTS: Final = 2000
MAX_SOLO_ATTEMPTS: Final = 10
_MAX_VERSION: Final = 2**63 - 1

# Errors that belong to one unit of a batch rather than to the batch or the database:
# a race with another process (unique violation) or data PostgreSQL cannot hold.
_UNIT_ERRORS: Final = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)

_STATE_SQL = """
select
    array(
        select coalesce(
            (select e.version from events e where e.stream_id = s.stream_id
             order by e.version desc limit 1), 0)
        from unnest($1::text[]) with ordinality as s(stream_id, n)
        order by s.n
    ) as versions,
    array(select e.event_id from events e where e.event_id = any($2::uuid[])) as stored
"""

_INSERT_SQL = """
insert into events (stream_id, version, event_id, type, data, metadata)
select * from unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])
returning event_id, global_position, tx::text
"""

# tx is sent as text under its own name: a bare "tx::text" would be the output column "tx",
# and ORDER BY tx would then sort transaction ids as strings ('1000' < '999').
_COLUMNS = (
    "stream_id, version, global_position, tx::text as tx_text,"
    " event_id, type, data, metadata, recorded_at"
)

_READ_STREAM_SQL = f"""
select {_COLUMNS} from events
where stream_id = $1 and version >= $2
order by version
limit $3
"""

_READ_STREAM_BACKWARD_SQL = f"""
select {_COLUMNS} from events
where stream_id = $1 and version < $2
order by version desc
limit $3
"""

_READ_EVENT_SQL = f"select {_COLUMNS} from events where event_id = $1"

# The snapshot fence: a transaction that is still open below our snapshot's xmin
# may yet commit events with smaller positions, so the feed stops short of it.
_READ_FEED_SQL = f"""
select {_COLUMNS} from events
where (tx, global_position) > ($1::text::xid8, $2::bigint)
  and tx < pg_snapshot_xmin(pg_current_snapshot())
order by tx, global_position
limit $3
"""


@dataclass(frozen=True, slots=True)
class _Encoded:
    type: str
    data: bytes
    metadata: bytes


@dataclass(slots=True)
class _Unit:
    requests: Sequence[AppendRequest]
    encoded: dict[uuid.UUID, _Encoded]


@dataclass(slots=True)
class _PendingUnit(_Unit):
    future: asyncio.Future[list[AppendResult]]
    event_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.event_count = sum(len(r.events) for r in self.requests)

    def settle(self, outcome: list[AppendResult] | BaseException) -> None:
        if self.future.done():
            return
        if isinstance(outcome, BaseException):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


class PostgresEventStore:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        codec: EventCodec,
        *,
        max_batch_events: int = MAX_BATCH_EVENTS,
    ) -> None:
        self._pool = pool
        self._codec = codec
        self._max_batch_events = max_batch_events
        self._pending: list[_PendingUnit] = []
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._unsettled: set[asyncio.Future[list[AppendResult]]] = set()
        self._closed = False
        self.commits = 0  # transactions written, for observing group commit

    @property
    def codec(self) -> EventCodec:
        return self._codec

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        request = AppendRequest(stream_id, tuple(events), expected_version)
        return (await self.append_atomic([request]))[0]

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        if self._closed:
            raise EventStoreError("the event store is closed")
        for request in requests:
            validate_request(request)
        future: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()
        self._unsettled.add(future)
        future.add_done_callback(self._unsettled.discard)
        self._pending.append(_PendingUnit(tuple(requests), self._encode(requests), future))
        self._ensure_committer()
        self._wakeup.set()
        return await future

    async def append_on(
        self, connection: PgConnection, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]:
        """Append several streams as one unit inside the caller's open transaction.

        No group commit: the events commit, and followers are woken, when the caller's
        transaction commits, and vanish if it rolls back. The same rules as
        ``append_atomic`` apply: ConcurrencyError, idempotent duplicates,
        UnstorableEventError. The insert runs in a savepoint, so a refused append leaves
        the caller's transaction usable.
        """
        for request in requests:
            validate_request(request)
        if not connection.is_in_transaction():
            raise EventStoreError("append_on needs a connection inside an open transaction")
        unit = _Unit(tuple(requests), self._encode(requests))
        for _ in range(MAX_SOLO_ATTEMPTS):
            try:
                async with connection.transaction():
                    (outcome,) = await self._write(connection, [unit], commits=False)
            except asyncpg.UniqueViolationError:
                continue  # a writer in another transaction got there first: plan again
            except _UNIT_ERRORS as error:
                raise _unstorable(error) from error
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        raise EventStoreError(f"append did not settle after {MAX_SOLO_ATTEMPTS} attempts")

    def _encode(self, requests: Sequence[AppendRequest]) -> dict[uuid.UUID, _Encoded]:
        codec = self._codec
        return {
            new.event_id: _Encoded(
                codec.type_name(new.event),
                codec.encode(new.event),
                codec.encode_metadata(new.metadata),
            )
            for request in requests
            for new in request.events
        }

    def _ensure_committer(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_forever(), name="event-committer")

    async def close(self) -> None:
        """Finish what is queued, then stop the committer."""
        self._closed = True
        if self._committer is not None:
            await asyncio.gather(*self._unsettled, return_exceptions=True)
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)

    async def _commit_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._commit_batch(self._take_batch())

    def _take_batch(self) -> list[_PendingUnit]:
        batch: list[_PendingUnit] = []
        events = 0
        while self._pending and (not batch or events + self._pending[0].event_count
                                 <= self._max_batch_events):  # fmt: skip
            unit = self._pending.pop(0)
            if not unit.future.done():  # a caller cancelled before the write began
                batch.append(unit)
                events += unit.event_count
        return batch

    async def _commit_batch(self, units: list[_PendingUnit]) -> None:
        if not units:
            return
        try:
            async with self._pool.acquire() as connection:
                outcomes = await self._write(connection, units)
        except _UNIT_ERRORS as error:
            # Another process wrote to the same stream or event id between our read and
            # our insert, or one unit carries data PostgreSQL refuses: settle each unit
            # alone so only the units at fault fail.
            log.info("event_store.batch_settled_by_unit", error=_sqlstate(error), units=len(units))
            for unit in units:
                unit.settle(await self._commit_alone(unit))
            return
        except Exception as error:
            log.error("event_store.commit_failed", error=str(error), units=len(units))
            for unit in units:
                unit.settle(error)
            return
        for unit, outcome in zip(units, outcomes, strict=True):
            unit.settle(outcome)

    async def _commit_alone(self, unit: _PendingUnit) -> list[AppendResult] | BaseException:
        last_error: BaseException = EventStoreError("append did not settle")
        for _ in range(MAX_SOLO_ATTEMPTS):
            try:
                async with self._pool.acquire() as connection:
                    (outcome,) = await self._write(connection, [unit])
                return outcome
            except asyncpg.UniqueViolationError as error:
                last_error = error
            except _UNIT_ERRORS as error:
                log.warning("event_store.unit_refused", error=_sqlstate(error),
                            streams=len(unit.requests))  # fmt: skip
                return _unstorable(error)
            except Exception as error:
                return error
        return last_error

    async def _write(
        self, connection: PgConnection, units: Sequence[_Unit], *, commits: bool = True
    ) -> list[list[AppendResult] | BaseException]:
        plans = await self._plan(connection, units)
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
        for unit, plan in zip(units, plans, strict=True):
            for row in plan.rows:
                encoded = unit.encoded[row.new_event.event_id]
                for column, value in zip(columns, (
                    row.stream_id, row.version, row.new_event.event_id,
                    encoded.type, encoded.data, encoded.metadata,
                ), strict=True):  # fmt: skip
                    column.append(value)
        positions: dict[uuid.UUID, FeedPosition] = {}
        if columns[0]:
            inserted = await connection.fetch(_INSERT_SQL, *columns)
            self.commits += commits
            positions = {r["event_id"]: FeedPosition(int(r["tx"]), r["global_position"])
                         for r in inserted}  # fmt: skip
        return [_outcome(plan, positions) for plan in plans]

    async def _plan(self, connection: PgConnection, units: Sequence[_Unit]) -> list[UnitPlan]:
        stream_ids = list(dict.fromkeys(r.stream_id for u in units for r in u.requests))
        event_ids = [event_id for unit in units for event_id in unit.encoded]
        state = await connection.fetchrow(_STATE_SQL, stream_ids, event_ids)
        assert state is not None
        versions = dict(zip(stream_ids, state["versions"], strict=True))
        return plan_appends([u.requests for u in units], versions, frozenset(state["stored"]))

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_READ_STREAM_SQL, stream_id, from_version, limit)
        return [self.decode_row(row) for row in rows]

    async def read_stream_backward(
        self, stream_id: str, before_version: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        before = _MAX_VERSION if before_version is None else before_version
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_READ_STREAM_BACKWARD_SQL, stream_id, before, limit)
        return [self.decode_row(row) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        async with self._pool.acquire() as connection:
            version = await connection.fetchval(
                "select coalesce(max(version), 0) from events where stream_id = $1", stream_id
            )
        return int(version)

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        async with self._pool.acquire() as connection:
            return await self.read_feed_on(connection, after, limit)

    async def read_feed_on(
        self, connection: PgConnection, after: FeedPosition, limit: int
    ) -> list[RecordedEvent]:
        rows = await connection.fetch(_READ_FEED_SQL, str(after.tx), after.position, limit)
        return [self.decode_row(row) for row in rows]

    async def read_event_on(
        self, connection: PgConnection, event_id: uuid.UUID
    ) -> RecordedEvent | None:
        row = await connection.fetchrow(_READ_EVENT_SQL, event_id)
        return self.decode_row(row) if row is not None else None

    def decode_row(self, row: asyncpg.Record) -> RecordedEvent:
        return RecordedEvent(
            stream_id=row["stream_id"],
            version=row["version"],
            position=FeedPosition(int(row["tx_text"]), row["global_position"]),
            event_id=row["event_id"],
            type=row["type"],
            event=self._codec.decode(row["type"], row["data"]),
            metadata=self._codec.decode_metadata(row["metadata"]),
            recorded_at=row["recorded_at"],
        )


def _sqlstate(error: asyncpg.PostgresError) -> str:
    return f"{error.sqlstate} {type(error).__name__}"


def _unstorable(error: asyncpg.PostgresError) -> UnstorableEventError:
    detail = f" ({error.detail})" if error.detail else ""
    refused = UnstorableEventError(f"PostgreSQL refused the append: {error.message}{detail}")
    refused.__cause__ = error
    return refused


def _outcome(
    plan: UnitPlan, positions: dict[uuid.UUID, FeedPosition]
) -> list[AppendResult] | ConcurrencyError:
    if plan.error is not None:
        return plan.error
    last = {row.stream_id: positions[row.new_event.event_id] for row in plan.rows}
    return [
        AppendResult(r.stream_id, r.stream_version, r.appended, r.duplicates, last.get(r.stream_id))
        for r in plan.results
    ]
