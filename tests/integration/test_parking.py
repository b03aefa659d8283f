"""A failing event is parked after bounded retries, the projection moves on, and it is replayed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from adapters.memory.event_store import InMemoryEventStore, InMemorySubscriptionSource
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.projection_admin import PostgresProjectionAdmin
from adapters.postgres.read_model_queries import PostgresReadModelQueries
from adapters.postgres.read_models import MessagesProjection
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.event_log import AppendResult, RecordedEvent
from application.ports import EventStore, SubscriptionSource
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.conversation import MessageReceived
from tests.e2e.server import run_cli
from tests.e2e.test_webhook import server_env
from tests.support.events import TEST_CODEC, ItemNoted, noted
from tests.support.read_models import projected
from tests.support.webhooks import messages_change, text_message, webhook

QUICK = RunnerSettings(batch_size=50, poll_interval=0.05, retry_delay=0.001, max_retry_delay=0.01,
                       attempts_before_parking=3)  # fmt: skip


@dataclass
class Backend:
    store: EventStore
    source: SubscriptionSource[Any]
    parked: Any  # () -> the parked event ids of a subscriber


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        memory = InMemoryEventStore(TEST_CODEC)
        source = InMemorySubscriptionSource(memory)

        async def memory_parked(name: str) -> list[Any]:
            return list(source.parked.get(name, {}))

        yield Backend(memory, source, memory_parked)
        return
    url = request.getfixturevalue("database_url")
    pool = await create_pool(url, max_size=4)
    store = PostgresEventStore(pool, TEST_CODEC)

    async def postgres_parked(name: str) -> list[Any]:
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "select event_id from parked_events where subscriber = $1", name
            )
        return [r["event_id"] for r in rows]

    yield Backend(store, PostgresSubscriptionSource(url, store), postgres_parked)
    await store.close()
    await pool.close()


class PoisonedSubscriber:
    """Fails every batch holding the text ``poison`` (always, or with a transient error)."""

    def __init__(self, error: type[Exception] = ValueError, transient_failures: int = 0) -> None:
        self.name = "poisoned"
        self.handled: list[str] = []
        self.calls = 0
        self._error = error
        self._transient = transient_failures

    async def handle(self, tx: object, events: Sequence[RecordedEvent]) -> None:
        self.calls += 1
        texts = [e.event.text for e in events if isinstance(e.event, ItemNoted)]
        if self._transient > 0:
            self._transient -= 1
            raise ConnectionResetError("the database went away")
        if "poison" in texts:
            raise self._error("cannot project the poison")
        self.handled.extend(texts)


async def run_until(runner: SubscriptionRunner[Any], result: AppendResult) -> None:
    assert result.last_position is not None
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.wait_for_checkpoint(result.last_position), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_poison_event_is_parked_and_the_others_are_handled(backend: Backend) -> None:
    texts = ["a", "b", "poison", "c", "d"]
    events = [noted(t) for t in texts]
    await backend.store.append("s", events)
    last = await backend.store.append("s", [noted("after")])
    subscriber = PoisonedSubscriber()
    runner = SubscriptionRunner(subscriber, backend.source, QUICK)

    await run_until(runner, last)

    assert subscriber.handled == ["a", "b", "c", "d", "after"]
    assert await backend.parked("poisoned") == [events[2].event_id]
    assert runner.state.parked_events == 1
    # 3 tries of the batch, then its events one by one: a, b, 3 tries of the poison, c, d, after
    assert subscriber.calls == 3 + 2 + 3 + 3


async def test_transient_failures_never_park_anything(backend: Backend) -> None:
    last = await backend.store.append("s", [noted("a"), noted("b")])
    subscriber = PoisonedSubscriber(transient_failures=10)
    runner = SubscriptionRunner(subscriber, backend.source, QUICK)

    await run_until(runner, last)

    assert subscriber.handled == ["a", "b"]
    assert await backend.parked("poisoned") == []
    assert subscriber.calls == 11


class PoisonedMessages(MessagesProjection):
    """The real timeline projection with a bug that hits one message."""

    async def handle(self, tx: Any, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            event = recorded.event
            if isinstance(event, MessageReceived) and event.message.wamid == "wamid.poison":
                raise KeyError("a bug on this message")
        await super().handle(tx, events)


async def timeline(pool: asyncpg.Pool[Any]) -> list[str]:
    async with pool.acquire() as connection:
        rows = await connection.fetch("select wamid from messages order by sent_at")
    return [r["wamid"] for r in rows]


async def test_a_real_projection_parks_retries_and_replays_once_fixed(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    settings = RunnerSettings(poll_interval=0.05, retry_delay=0.001, max_retry_delay=0.01,
                              attempts_before_parking=2)  # fmt: skip
    wamids = ["wamid.m1", "wamid.poison", "wamid.m3"]
    body = webhook(messages_change([text_message(wamid=w, sent_at=1000 + n)
                                    for n, w in enumerate(wamids)]))  # fmt: skip
    async with projected(pool, database_url, [PoisonedMessages()], settings) as app:
        await app.deliver(body)
        await app.caught_up()
        assert app.runners[0].state.parked_events == 1
    assert await timeline(pool) == ["wamid.m1", "wamid.m3"]

    store = PostgresEventStore(pool, app.store.codec)
    admin = PostgresProjectionAdmin(database_url, store)
    (status,) = [s for s in await admin.status() if s.name == "messages"]
    assert status.parked == 1
    page = await PostgresReadModelQueries(pool).errors("acme", 10, None)
    (parked,) = page.items
    assert parked.kind == "projection_parked"
    assert "KeyError: 'a bug on this message'" in parked.detail
    assert parked.conversation_id is not None

    (still,) = await admin.retry_parked_with(PoisonedMessages())
    assert "KeyError" in str(still.error)
    assert await timeline(pool) == ["wamid.m1", "wamid.m3"]
    async with pool.acquire() as connection:
        attempts = await connection.fetchval("select attempts from parked_events")
    assert attempts == 3

    (fixed,) = await admin.retry_parked("messages")
    assert fixed.error is None
    assert await timeline(pool) == wamids
    assert (await PostgresReadModelQueries(pool).errors("acme", 10, None)).items == []
    await store.close()


async def test_parked_events_through_the_command_line(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    settings = RunnerSettings(poll_interval=0.05, retry_delay=0.001, max_retry_delay=0.01,
                              attempts_before_parking=2)  # fmt: skip
    body = webhook(messages_change([text_message(wamid="wamid.poison", sent_at=1000)]))
    async with projected(pool, database_url, [PoisonedMessages()], settings) as app:
        await app.deliver(body)
        await app.caught_up()
    env = server_env(database_url)

    status = await asyncio.to_thread(run_cli, "projections", "status", env=env)
    assert status.returncode == 0, status.stderr
    header, *rows = status.stdout.splitlines()
    column = header.split().index("PARKED")
    parked = {line.split()[0]: line.split()[column] for line in rows}
    assert parked["messages"] == "1"

    retried = await asyncio.to_thread(run_cli, "projections", "retry-parked", "messages", env=env)
    assert retried.returncode == 0, retried.stderr
    assert "replayed" in retried.stdout
    assert "1 parked event(s) replayed, 0 still parked" in retried.stderr
    assert await timeline(pool) == ["wamid.poison"]

    after = await asyncio.to_thread(run_cli, "projections", "status", env=env)
    assert {line.split()[0]: line.split()[column] for line in after.stdout.splitlines()[1:]}[
        "messages"
    ] == "0"
    usage = await asyncio.to_thread(run_cli, "projections", "retry-parked", "nope", env=env)
    assert usage.returncode == 2
