"""Subscriptions on PostgreSQL: atomic checkpoints, one leader, NOTIFY, polling, fail-over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from adapters.postgres.connection import connect
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.event_log import AppendResult
from application.subscriptions import RunnerSettings, SubscriptionRunner
from tests.integration.test_subscriptions_contract import caught_up, running
from tests.support.database import ROOT
from tests.support.events import TEST_CODEC, noted
from tests.support.subscribers import (
    HANDLED_TABLE,
    RecordingSubscriber,
    TableSubscriber,
    eventually,
)


@pytest.fixture
async def store(pool: asyncpg.Pool[Any]) -> AsyncIterator[PostgresEventStore]:
    async with pool.acquire() as connection:
        await connection.execute(HANDLED_TABLE)
    store = PostgresEventStore(pool, TEST_CODEC)
    yield store
    await store.close()


async def handled_rows(pool: asyncpg.Pool[Any]) -> list[asyncpg.Record]:
    async with pool.acquire() as connection:
        return await connection.fetch("select event_id, owner from handled order by position")


async def test_a_batch_that_fails_after_writing_leaves_neither_rows_nor_checkpoint(
    store: PostgresEventStore, pool: asyncpg.Pool[Any], database_url: str
) -> None:
    appended = await store.append("s", [noted() for _ in range(5)])
    subscriber = TableSubscriber("me", fail_times=1)
    runner = SubscriptionRunner(
        subscriber, PostgresSubscriptionSource(database_url, store), RunnerSettings(retry_delay=0)
    )

    async with running(runner):
        await caught_up(runner, appended)

    rows = await handled_rows(pool)
    assert len(rows) == 5  # the first attempt's rows were rolled back with its checkpoint
    async with pool.acquire() as connection:
        checkpoint = await connection.fetchrow(
            "select position, last_error from subscriber_checkpoints where name = $1",
            subscriber.name,
        )
    assert checkpoint is not None
    assert checkpoint["position"] == appended.last_position.position  # type: ignore[union-attr]
    assert checkpoint["last_error"] is None  # cleared by the successful batch


async def test_a_failing_subscriber_records_its_last_error(
    store: PostgresEventStore, pool: asyncpg.Pool[Any], database_url: str
) -> None:
    await store.append("s", [noted()])
    subscriber = RecordingSubscriber(fail_times=1_000)
    runner = SubscriptionRunner(
        subscriber, PostgresSubscriptionSource(database_url, store), RunnerSettings(retry_delay=0)
    )

    async def error_recorded() -> bool:
        async with pool.acquire() as connection:
            error = await connection.fetchval(
                "select last_error from subscriber_checkpoints where name = $1", subscriber.name
            )
        return error is not None and "failed on purpose" in error

    async with running(runner):
        await eventually(error_recorded)


async def test_only_one_runner_per_subscriber_is_active(
    store: PostgresEventStore, pool: asyncpg.Pool[Any], database_url: str
) -> None:
    owners = ["one", "two", "three"]
    runners = [
        SubscriptionRunner(
            TableSubscriber(owner), PostgresSubscriptionSource(database_url, store, owner=owner)
        )
        for owner in owners
    ]
    appended = await store.append("s", [noted() for _ in range(20)])

    async with running(runners[0]), running(runners[1]), running(runners[2]):
        await eventually(_any_caught_up(runners, appended))
        assert sum(r.state.leading for r in runners) == 1
        leader = next(r for r in runners if r.state.leading)

    rows = await handled_rows(pool)
    assert len(rows) == 20
    assert {row["owner"] for row in rows} == {owners[runners.index(leader)]}


def _any_caught_up(runners: list[SubscriptionRunner[Any]], appended: AppendResult) -> Any:
    async def check() -> bool:
        target = appended.last_position
        return any(r.state.checkpoint is not None and target is not None
                   and r.state.checkpoint >= target for r in runners)  # fmt: skip

    return check


async def test_a_notification_wakes_the_runner_long_before_its_poll(
    store: PostgresEventStore, database_url: str
) -> None:
    runner = _recording_runner(store, database_url, poll_interval=3600)
    async with running(runner):
        await eventually(_is_leading(runner))
        appended = await store.append("s", [noted()])
        await caught_up(runner, appended)  # fails after 15 s if only the hourly poll could wake it


async def test_polling_finds_events_a_notification_could_not_deliver(
    store: PostgresEventStore, database_url: str
) -> None:
    """An older transaction that writes no events fences the feed and commits silently."""
    runner = _recording_runner(store, database_url, poll_interval=0.2)
    blocker = await connect(database_url)
    try:
        async with running(runner):
            await eventually(_is_leading(runner))
            async with blocker.transaction():
                await blocker.fetchval("select pg_current_xact_id()")  # takes a transaction id
                appended = await store.append("s", [noted()])  # notifies, but stays fenced
            await caught_up(runner, appended)
    finally:
        await blocker.close()


def _recording_runner(
    store: PostgresEventStore, database_url: str, *, poll_interval: float
) -> SubscriptionRunner[Any]:
    return SubscriptionRunner(
        RecordingSubscriber(),
        PostgresSubscriptionSource(database_url, store),
        RunnerSettings(poll_interval=poll_interval),
    )


def _is_leading(runner: SubscriptionRunner[Any]) -> Any:
    async def check() -> bool:
        return runner.state.leading and runner.state.checkpoint is not None

    return check


@pytest.mark.slow
async def test_a_killed_process_runner_is_replaced_by_another_process(
    store: PostgresEventStore, pool: asyncpg.Pool[Any], database_url: str
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.subscriber_process", database_url,
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    child_owner = f"process-{child.pid}"
    try:
        await eventually(_owner_is(pool, child_owner), timeout=30)
        local = SubscriptionRunner(
            TableSubscriber("local"),
            PostgresSubscriptionSource(database_url, store, owner="local"),
            RunnerSettings(poll_interval=0.2),
        )
        async with running(local):
            await store.append("s", [noted() for _ in range(5)])
            await eventually(_row_count_is(pool, 5))
            assert not local.state.leading

            os.kill(child.pid, signal.SIGKILL)
            await child.wait()
            second = await store.append("s", [noted() for _ in range(5)])
            await caught_up(local, second)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    rows = await handled_rows(pool)
    assert [row["owner"] for row in rows] == [child_owner] * 5 + ["local"] * 5


def _owner_is(pool: asyncpg.Pool[Any], owner: str) -> Any:
    async def check() -> bool:
        async with pool.acquire() as connection:
            found = await connection.fetchval(
                "select owner from subscriber_checkpoints where name = 'table-writer'"
            )
        return bool(found == owner)

    return check


def _row_count_is(pool: asyncpg.Pool[Any], count: int) -> Any:
    async def check() -> bool:
        return len(await handled_rows(pool)) == count

    return check
