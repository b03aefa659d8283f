"""A process manager's new events commit with its checkpoint, and wake followers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.memory.event_store import InMemoryEventStore, InMemorySubscriptionSource
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.event_log import FEED_START, AppendRequest, NewEvent, RecordedEvent
from application.subscriptions import RunnerSettings, SubscriptionRunner
from tests.integration.test_subscriptions_contract import caught_up, running
from tests.support.events import TEST_CODEC, ItemNoted, ItemRemoved, noted
from tests.support.subscribers import RecordingSubscriber

FAST = RunnerSettings(batch_size=10, poll_interval=5, retry_delay=0.01)
# Followers that would only poll once a minute: anything sooner came from a notification.
SLOW_POLL = RunnerSettings(batch_size=10, poll_interval=60, retry_delay=0.01)


@dataclass
class Backend:
    store: Any  # EventStore and TransactionalAppender
    source: Any


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        memory = InMemoryEventStore(TEST_CODEC)
        yield Backend(memory, InMemorySubscriptionSource(memory))
        return
    url = request.getfixturevalue("database_url")
    pool = await create_pool(url, max_size=4)
    store = PostgresEventStore(pool, TEST_CODEC)
    yield Backend(store, PostgresSubscriptionSource(url, store))
    await store.close()
    await pool.close()


class Remover:
    """A process manager: every noted item is removed, on a stream of its own.

    Event ids are random on purpose: a batch whose events committed without its
    checkpoint would be handled again and leave two removals behind.
    """

    name = "remover"

    def __init__(self, store: Any, fail_times: int = 0) -> None:
        self._store = store
        self._fail_times = fail_times
        self.calls = 0

    async def handle(self, tx: Any, events: Sequence[RecordedEvent]) -> None:
        self.calls += 1
        requests = [
            AppendRequest(f"removed-{e.stream_id}", (_removal(e.event),))
            for e in events
            if isinstance(e.event, ItemNoted)
        ]
        if requests:
            await self._store.append_on(tx, requests)
        if self._fail_times > 0:
            self._fail_times -= 1
            raise RuntimeError("failed after appending, before commit")


def _removal(noted_item: ItemNoted) -> NewEvent:
    return NewEvent(ItemRemoved(reason=noted_item.text), uuid.uuid4())


async def test_new_events_commit_with_the_checkpoint(backend: Backend) -> None:
    appended = await backend.store.append("cart-1", [noted("a"), noted("b")])
    manager = Remover(backend.store, fail_times=2)
    runner = SubscriptionRunner(manager, backend.source, FAST)

    async with running(runner):
        await caught_up(runner, appended)

    assert runner.state.last_error is not None  # two failed attempts came first
    removed = await backend.store.read_stream("removed-cart-1")
    assert [e.event.reason for e in removed] == ["a", "b"]


async def test_a_failing_batch_leaves_neither_events_nor_checkpoint(backend: Backend) -> None:
    await backend.store.append("cart-1", [noted("a")])
    (event,) = await backend.store.read_feed(FEED_START, 10)
    manager = Remover(backend.store, fail_times=1)

    async with backend.source.lead(manager.name) as session:
        before = await session.load_checkpoint()

        async def handle_batch() -> None:
            async with session.transaction() as tx:
                await session.save_checkpoint(tx, before, event.position)
                await manager.handle(tx, [event])

        with pytest.raises(RuntimeError):
            await handle_batch()
        assert await session.load_checkpoint() == before

    assert await backend.store.read_stream("removed-cart-1") == []
    assert await backend.store.read_feed(FEED_START, 10) == [event]


async def test_events_appended_on_a_transaction_wake_followers(backend: Backend) -> None:
    follower = RecordingSubscriber("follower")
    follower_runner = SubscriptionRunner(follower, backend.source, SLOW_POLL)
    manager_runner = SubscriptionRunner(Remover(backend.store), backend.source, SLOW_POLL)

    async with running(follower_runner), running(manager_runner):
        await asyncio.wait_for(_leading(follower_runner, manager_runner), 15)
        await backend.store.append("cart-1", [noted("a")])
        # The removal is appended by the process manager on its own transaction; the
        # follower, polling once a minute, sees it within seconds only if it was woken.
        await follower.wait_for(2, timeout=10)

    assert [e.type for e in follower.events] == ["test.item_noted", "test.item_removed"]


async def _leading(*runners: SubscriptionRunner[Any]) -> None:
    for runner in runners:
        await runner.wait_for_checkpoint(FEED_START)
