"""In-memory event store and subscription source: the fakes that service tests use.

They follow the same contract as the PostgreSQL adapters (the shared contract
tests prove it), refusals included: what PostgreSQL cannot hold (U+0000 in text
or in a JSON string) the fake refuses too. Every append commits at once, so the
feed has no late commits. Service tests that need concurrent callers to really
interleave pass ``pause``: the store awaits it before every read and every
append, as the real store awaits the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

import msgspec

from application.codec import EventCodec
from application.event_log import (
    ANY,
    FEED_START,
    AppendRequest,
    AppendResult,
    CheckpointConflictError,
    ExpectedVersion,
    FeedPosition,
    NewEvent,
    PlannedRow,
    RecordedEvent,
    UnitPlan,
    UnstorableEventError,
    plan_appends,
    validate_request,
)
from application.subscriptions import may_be_the_events, parked_record

_ESCAPED_NUL: Final = b"\\u0000"


def refuse_what_postgres_refuses(type_name: str, data: bytes, metadata: bytes) -> None:
    """Raise UnstorableEventError for U+0000 in the type or in any JSON string or key.

    PostgreSQL's text cannot hold U+0000 and jsonb refuses its escape ``\\u0000``.
    """
    if "\x00" in type_name:
        raise UnstorableEventError(f"event type {type_name!r} holds U+0000")
    for part, encoded in (("data", data), ("metadata", metadata)):
        if _ESCAPED_NUL in encoded and _holds_nul(msgspec.json.decode(encoded)):
            raise UnstorableEventError(f"event {part} holds U+0000, which PostgreSQL refuses")


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


async def _no_pause() -> None:
    return None


class InMemoryEventStore:
    def __init__(
        self, codec: EventCodec, *, pause: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._codec = codec
        self._pause = pause or _no_pause
        self._feed: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._event_ids: set[uuid.UUID] = set()
        self.codec = codec
        self._tx = 0
        self._appended = asyncio.Event()  # set, then replaced, at every stored append
        self._in_transaction: weakref.WeakKeyDictionary[
            MemoryTransaction, list[Sequence[AppendRequest]]
        ] = weakref.WeakKeyDictionary()

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        request = AppendRequest(stream_id, tuple(events), expected_version)
        return (await self.append_atomic([request]))[0]

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            validate_request(request)
        await self._pause()
        (plan,) = self._plan([requests])
        if plan.error is not None:
            raise plan.error
        last_by_stream = self._store_rows(self._records(plan.rows))
        return [replace(r, last_position=last_by_stream.get(r.stream_id)) for r in plan.results]

    async def append_on(
        self, tx: MemoryTransaction, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]:
        """Append as one unit inside a subscriber's transaction: stored only if it commits.

        The answer has no ``last_position``: positions are given at commit.
        """
        for request in requests:
            validate_request(request)
        await self._pause()
        units = self._in_transaction.setdefault(tx, [])
        *_, plan = self._plan([*units, requests])
        if plan.error is not None:
            raise plan.error
        self._records(plan.rows)  # refuse what PostgreSQL refuses, now
        if not units:
            tx.on_prepare(lambda: self._check_transaction(tx))
            tx.on_commit(lambda: self._commit_transaction(tx))
        units.append(tuple(requests))
        return plan.results

    def _check_transaction(self, tx: MemoryTransaction) -> None:
        for plan in self._plan(self._in_transaction.get(tx, [])):
            if plan.error is not None:
                raise plan.error  # another append got there between the append and the commit

    def _commit_transaction(self, tx: MemoryTransaction) -> None:
        plans = self._plan(self._in_transaction.pop(tx, []))
        self._store_rows(self._records([row for plan in plans for row in plan.rows]))

    def _plan(self, units: Sequence[Sequence[AppendRequest]]) -> list[UnitPlan]:
        stream_ids = {r.stream_id for unit in units for r in unit}
        versions = {stream_id: len(self._streams.get(stream_id, ())) for stream_id in stream_ids}
        return plan_appends(units, versions, frozenset(self._event_ids))

    def _records(self, rows: Sequence[PlannedRow]) -> list[RecordedEvent]:
        """Built in full before anything is stored, so a bad event stores nothing."""
        tx, now = self._tx + 1, datetime.now(UTC)
        return [
            self._record(
                row.stream_id,
                row.version,
                FeedPosition(tx, len(self._feed) + n),
                row.new_event,
                now,
            )
            for n, row in enumerate(rows, start=1)
        ]

    def _store_rows(self, records: Sequence[RecordedEvent]) -> dict[str, FeedPosition]:
        last_by_stream: dict[str, FeedPosition] = {}
        if not records:
            return last_by_stream
        self._tx += 1
        for recorded in records:
            last_by_stream[recorded.stream_id] = recorded.position
            self._feed.append(recorded)
            self._streams.setdefault(recorded.stream_id, []).append(recorded)
            self._event_ids.add(recorded.event_id)
        self._appended.set()
        self._appended = asyncio.Event()
        return last_by_stream

    def _record(
        self,
        stream_id: str,
        version: int,
        position: FeedPosition,
        new_event: NewEvent,
        now: datetime,
    ) -> RecordedEvent:
        # Round-trip through the codec so the fake rejects what Postgres would reject.
        type_name = self._codec.type_name(new_event.event)
        data = self._codec.encode(new_event.event)
        metadata = self._codec.encode_metadata(new_event.metadata)
        refuse_what_postgres_refuses(type_name, data, metadata)
        event = self._codec.decode(type_name, data)
        return RecordedEvent(
            stream_id=stream_id,
            version=version,
            position=position,
            event_id=new_event.event_id,
            type=type_name,
            event=event,
            metadata=new_event.metadata,
            recorded_at=now,
        )

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        await self._pause()
        events = self._streams.get(stream_id, [])[max(from_version, 1) - 1 :]
        return events if limit is None else events[:limit]

    async def read_stream_backward(
        self, stream_id: str, before_version: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        await self._pause()
        events = self._streams.get(stream_id, [])
        end = (
            len(events) if before_version is None else max(min(before_version - 1, len(events)), 0)
        )
        return events[max(end - limit, 0) : end][::-1]

    async def stream_version(self, stream_id: str) -> int:
        await self._pause()
        return len(self._streams.get(stream_id, ()))

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        start = after.position  # positions are 1-based and dense in the fake
        return self._feed[start : start + limit]

    async def wait_for_append(self, timeout: float) -> None:
        appended = self._appended
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await appended.wait()


class MemoryTransaction:
    """Collects a subscriber's writes; they take effect only if the batch commits."""

    def __init__(self) -> None:
        self._on_prepare: list[Callable[[], None]] = []
        self._on_commit: list[Callable[[], None]] = []

    def on_prepare(self, check: Callable[[], None]) -> None:
        """Run ``check`` before any write takes effect; if it raises, nothing does."""
        self._on_prepare.append(check)

    def on_commit(self, action: Callable[[], None]) -> None:
        self._on_commit.append(action)

    def commit(self) -> None:
        for check in self._on_prepare:
            check()
        for action in self._on_commit:
            action()


class InMemorySubscriptionSource:
    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self.checkpoints: dict[str, FeedPosition] = {}
        self.errors: dict[str, str] = {}
        self.parked: dict[str, dict[uuid.UUID, tuple[RecordedEvent, str]]] = {}
        self._leaders: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def lead(self, name: str) -> AsyncIterator[InMemorySubscriptionSession]:
        lock = self._leaders.setdefault(name, asyncio.Lock())
        async with lock:
            yield InMemorySubscriptionSession(self, name)


class InMemorySubscriptionSession:
    def __init__(self, source: InMemorySubscriptionSource, name: str) -> None:
        self._source = source
        self._name = name

    async def load_checkpoint(self) -> FeedPosition:
        return self._source.checkpoints.get(self._name, FEED_START)

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        return await self._source._store.read_feed(after, limit)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        tx = MemoryTransaction()
        yield tx
        tx.commit()

    async def save_checkpoint(
        self, tx: MemoryTransaction, previous: FeedPosition, current: FeedPosition
    ) -> None:
        stored = self._source.checkpoints.get(self._name, FEED_START)
        if stored != previous:
            raise CheckpointConflictError(self._name, previous)
        tx.on_commit(lambda: self._source.checkpoints.__setitem__(self._name, current))

    async def record_error(self, message: str) -> None:
        self._source.errors[self._name] = message

    def may_park(self, error: Exception) -> bool:
        return may_be_the_events(error)

    async def park(
        self, event: RecordedEvent, error: str, attempts: int, previous: FeedPosition
    ) -> None:
        tx = MemoryTransaction()
        await self.save_checkpoint(tx, previous, event.position)
        parked = self._source.parked.setdefault(self._name, {})
        tx.on_commit(lambda: parked.__setitem__(event.event_id, (event, error)))
        store = self._source._store
        if record := parked_record(store.codec, self._name, event, error, attempts):
            await store.append_on(tx, record)
        tx.commit()

    async def wait_for_events(self, timeout: float) -> None:
        await self._source._store.wait_for_append(timeout)
