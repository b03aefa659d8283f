"""In-memory event store and subscription source: the fakes that service tests use.

They follow the same contract as the PostgreSQL adapters (the shared contract
tests prove it); every append commits at once, so the feed has no late commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

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
    RecordedEvent,
    plan_appends,
    validate_request,
)


class InMemoryEventStore:
    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._feed: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._event_ids: set[uuid.UUID] = set()
        self._tx = 0
        self._appended = asyncio.Condition()

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        request = AppendRequest(stream_id, tuple(events), expected_version)
        return (await self.append_atomic([request]))[0]

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            validate_request(request)
        versions = {r.stream_id: len(self._streams.get(r.stream_id, ())) for r in requests}
        (plan,) = plan_appends([requests], versions, frozenset(self._event_ids))
        if plan.error is not None:
            raise plan.error
        if not plan.rows:
            return plan.results
        tx, now = self._tx + 1, datetime.now(UTC)
        records = [
            self._record(
                row.stream_id,
                row.version,
                FeedPosition(tx, len(self._feed) + n),
                row.new_event,
                now,
            )
            for n, row in enumerate(plan.rows, start=1)
        ]  # built in full before anything is stored, so a bad event stores nothing
        self._tx = tx
        last_by_stream: dict[str, FeedPosition] = {}
        for recorded in records:
            last_by_stream[recorded.stream_id] = recorded.position
            self._feed.append(recorded)
            self._streams.setdefault(recorded.stream_id, []).append(recorded)
            self._event_ids.add(recorded.event_id)
        async with self._appended:
            self._appended.notify_all()
        return [replace(r, last_position=last_by_stream.get(r.stream_id)) for r in plan.results]

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
        event = self._codec.decode(type_name, self._codec.encode(new_event.event))
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
        events = self._streams.get(stream_id, [])[max(from_version, 1) - 1 :]
        return events if limit is None else events[:limit]

    async def read_stream_backward(
        self, stream_id: str, before_version: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        events = self._streams.get(stream_id, [])
        end = (
            len(events) if before_version is None else max(min(before_version - 1, len(events)), 0)
        )
        return events[max(end - limit, 0) : end][::-1]

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, ()))

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        start = after.position  # positions are 1-based and dense in the fake
        return self._feed[start : start + limit]

    async def wait_for_append(self, timeout: float) -> None:
        async with self._appended:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._appended.wait()


class MemoryTransaction:
    """Collects a subscriber's writes; they take effect only if the batch commits."""

    def __init__(self) -> None:
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, action: Callable[[], None]) -> None:
        self._on_commit.append(action)

    def commit(self) -> None:
        for action in self._on_commit:
            action()


class InMemorySubscriptionSource:
    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self.checkpoints: dict[str, FeedPosition] = {}
        self.errors: dict[str, str] = {}
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

    async def wait_for_events(self, timeout: float) -> None:
        await self._source._store.wait_for_append(timeout)
