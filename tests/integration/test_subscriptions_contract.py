"""Subscription behaviour shared by the in-memory fake and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
import structlog.testing

from adapters.memory.event_store import InMemoryEventStore, InMemorySubscriptionSource
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.event_log import AppendResult
from application.ports import EventStore, SubscriptionSource
from application.subscriptions import RunnerSettings, SubscriptionRunner
from tests.support.events import TEST_CODEC, noted
from tests.support.subscribers import RecordingSubscriber

FAST = RunnerSettings(batch_size=3, poll_interval=5, retry_delay=0.01)


@dataclass
class Backend:
    store: EventStore
    source: SubscriptionSource[Any]


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


@asynccontextmanager
async def running(runner: SubscriptionRunner[Any]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def caught_up(runner: SubscriptionRunner[Any], result: AppendResult) -> None:
    assert result.last_position is not None
    await asyncio.wait_for(runner.wait_for_checkpoint(result.last_position), 15)


async def test_catches_up_then_follows_live_appends(backend: Backend) -> None:
    for n in range(7):
        await backend.store.append(f"s-{n}", [noted(f"old-{n}")])
    subscriber = RecordingSubscriber()
    runner = SubscriptionRunner(subscriber, backend.source, FAST)

    async with running(runner):
        await subscriber.wait_for(7)
        live = await backend.store.append("live", [noted("new-1"), noted("new-2")])
        await caught_up(runner, live)

    texts = [e.event.text for e in subscriber.events]  # type: ignore[attr-defined]
    assert texts == [f"old-{n}" for n in range(7)] + ["new-1", "new-2"]


async def test_a_restarted_runner_resumes_from_its_checkpoint(backend: Backend) -> None:
    appended = await backend.store.append("s", [noted("first")])
    first = SubscriptionRunner(RecordingSubscriber(), backend.source, FAST)
    async with running(first):
        await caught_up(first, appended)

    await backend.store.append("s", [noted("second")])
    second = RecordingSubscriber()
    async with running(SubscriptionRunner(second, backend.source, FAST)):
        await second.wait_for(1)

    assert [e.event.text for e in second.events] == ["second"]  # type: ignore[attr-defined]


async def test_a_failed_batch_is_retried_without_moving_the_checkpoint(backend: Backend) -> None:
    appended = await backend.store.append("s", [noted("a"), noted("b")])
    subscriber = RecordingSubscriber(fail_times=2)
    runner = SubscriptionRunner(subscriber, backend.source, FAST)

    async with running(runner):
        await caught_up(runner, appended)

    assert subscriber.calls == 3
    assert [e.event.text for e in subscriber.events] == ["a", "b"]  # type: ignore[attr-defined]
    assert runner.state.checkpoint == subscriber.events[-1].position
    assert runner.state.last_error is not None
    assert "handler failed on purpose" in runner.state.last_error


async def test_subscribers_keep_separate_checkpoints(backend: Backend) -> None:
    appended = await backend.store.append("s", [noted("a")])
    early = RecordingSubscriber("early")
    early_runner = SubscriptionRunner(early, backend.source, FAST)
    async with running(early_runner):
        await caught_up(early_runner, appended)

    late = RecordingSubscriber("late")
    late_runner = SubscriptionRunner(late, backend.source, FAST)
    async with running(late_runner):
        await caught_up(late_runner, appended)

    assert [e.event_id for e in late.events] == [e.event_id for e in early.events]


async def test_a_failing_batch_is_logged_with_its_correlation_id(backend: Backend) -> None:
    appended = await backend.store.append("s", [noted("a")])  # correlation id "corr-1"
    runner = SubscriptionRunner(RecordingSubscriber(fail_times=1), backend.source, FAST)

    with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        async with running(runner):
            await caught_up(runner, appended)

    failures = [line for line in logs if line["event"] == "subscriber.batch_failed"]
    assert [line.get("correlation_id") for line in failures] == ["corr-1"]
