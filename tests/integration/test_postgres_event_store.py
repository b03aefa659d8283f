"""What only the PostgreSQL store can prove: late commits, group commit, races between processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from adapters.postgres.connection import connect, create_pool
from adapters.postgres.event_store import PostgresEventStore
from application.event_log import (
    FEED_START,
    NO_STREAM,
    AppendRequest,
    ConcurrencyError,
    NewEvent,
    UnstorableEventError,
)
from tests.support.events import TEST_CODEC, ItemNoted, noted


@pytest.fixture
async def store(pool: asyncpg.Pool[Any]) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(pool, TEST_CODEC)
    yield store
    await store.close()


@pytest.fixture
async def other_process_store(database_url: str) -> AsyncIterator[PostgresEventStore]:
    """A second store with its own pool and committer, as another process would have."""
    pool = await create_pool(database_url, max_size=4)
    store = PostgresEventStore(pool, TEST_CODEC)
    yield store
    await store.close()
    await pool.close()


def texts(events: list[Any]) -> list[str]:
    return [e.event.text for e in events if isinstance(e.event, ItemNoted)]


async def _insert_raw(connection: asyncpg.Connection[Any], stream: str, text: str) -> None:
    await connection.execute(
        "insert into events (stream_id, version, event_id, type, data) values ($1, 1, $2, $3, $4)",
        stream,
        uuid.uuid4(),
        "test.item_noted",
        TEST_CODEC.encode(ItemNoted(text=text)),
    )


async def test_the_feed_never_skips_an_event_that_commits_late(
    store: PostgresEventStore, database_url: str
) -> None:
    await store.append("early", [noted("early")])
    slow = await connect(database_url)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await _insert_raw(slow, "slow", "slow")  # holds a smaller position, not yet committed
        await store.append("fast", [noted("fast-1")])
        await store.append("fast", [noted("fast-2")])

        before = await store.read_feed(FEED_START, 100)
        checkpoint = before[-1].position
        assert texts(before) == ["early"]  # the fence stops short of the open transaction
        assert await store.read_feed(checkpoint, 100) == []

        await slow_tx.commit()
    finally:
        await slow.close()

    after = await store.read_feed(checkpoint, 100)
    assert texts(after) == ["slow", "fast-1", "fast-2"]
    positions = [e.position for e in before + after]
    assert positions == sorted(positions)


async def test_a_reader_by_position_alone_would_have_skipped_it(
    store: PostgresEventStore, database_url: str
) -> None:
    """Control for the test above: the late event really has the smaller position."""
    slow = await connect(database_url)
    try:
        async with slow.transaction():
            await _insert_raw(slow, "slow", "slow")
            await store.append("fast", [noted("fast")])
    finally:
        await slow.close()

    feed = await store.read_feed(FEED_START, 10)
    by_text = {e.event.text: e.position for e in feed if isinstance(e.event, ItemNoted)}
    assert by_text["slow"].position < by_text["fast"].position
    assert by_text["slow"].tx < by_text["fast"].tx


async def test_concurrent_appends_share_transactions(store: PostgresEventStore) -> None:
    results = await asyncio.gather(*(store.append(f"s-{n}", [noted()]) for n in range(64)))

    assert all(r.appended == 1 for r in results)
    assert store.commits < 64
    assert len(await store.read_feed(FEED_START, 100)) == 64


async def test_each_caller_is_answered_only_after_its_events_are_durable(
    store: PostgresEventStore, database_url: str
) -> None:
    observer = await connect(database_url)
    observer_in_use = asyncio.Lock()  # one connection answers one query at a time

    async def append_then_count(n: int) -> int:
        event = noted(f"e{n}")
        await store.append(f"s-{n}", [event])
        async with observer_in_use:
            query = "select count(*) from events where event_id = $1"
            return int(await observer.fetchval(query, event.event_id))

    try:
        seen = await asyncio.gather(*(append_then_count(n) for n in range(40)))
    finally:
        await observer.close()
    assert seen == [1] * 40


async def test_one_conflicting_caller_does_not_fail_the_others_in_its_batch(
    store: PostgresEventStore,
) -> None:
    await store.append("busy", [noted()])

    outcomes = await asyncio.gather(
        store.append("busy", [noted()], NO_STREAM),
        *(store.append(f"free-{n}", [noted()]) for n in range(10)),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], ConcurrencyError)
    assert all(not isinstance(o, BaseException) for o in outcomes[1:])


async def test_one_unit_with_data_postgresql_refuses_fails_alone_in_its_batch(
    store: PostgresEventStore,
) -> None:
    poison = NewEvent(ItemNoted(text="nul \x00 inside"), uuid.uuid4())
    units = [[AppendRequest(f"good-{n}", [noted(f"g{n}")])] for n in range(30)]
    units.insert(
        15, [AppendRequest("bad", [noted("bad-but-fine")]), AppendRequest("bad", [poison])]
    )

    outcomes = await asyncio.gather(
        *(store.append_atomic(unit) for unit in units), return_exceptions=True
    )

    refused = outcomes.pop(15)
    assert isinstance(refused, UnstorableEventError)
    assert "Unicode escape" in str(refused)
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
    stored = await store.read_feed(FEED_START, 100)
    assert sorted(texts(stored), key=lambda t: int(t[1:])) == [f"g{n}" for n in range(30)]
    assert await store.stream_version("bad") == 0


async def test_two_processes_appending_to_one_stream_all_land(
    store: PostgresEventStore, other_process_store: PostgresEventStore
) -> None:
    appends = [
        (store if n % 2 else other_process_store).append("shared", [noted(str(n))])
        for n in range(60)
    ]
    await asyncio.gather(*appends)

    events = await store.read_stream("shared")
    assert [e.version for e in events] == list(range(1, 61))
    assert sorted(texts(events), key=int) == [str(n) for n in range(60)]


async def test_two_processes_storing_one_event_id_keep_it_once(
    store: PostgresEventStore, other_process_store: PostgresEventStore
) -> None:
    event_ids = [uuid.uuid4() for _ in range(30)]

    results = await asyncio.gather(
        *(
            (store if n % 2 else other_process_store).append_atomic(
                [AppendRequest(f"s-{event_id}", [noted(event_id=event_id)])]
            )
            for n, event_id in enumerate(event_ids * 2)
        )
    )

    stored = await store.read_feed(FEED_START, 1000)
    assert sorted(e.event_id for e in stored) == sorted(event_ids)
    flat = [r for unit in results for r in unit]
    assert sum(r.appended for r in flat) == 30
    assert sum(r.is_duplicate for r in flat) == 30


async def test_exact_version_race_between_processes_has_one_winner(
    store: PostgresEventStore, other_process_store: PostgresEventStore
) -> None:
    outcomes = await asyncio.gather(
        *(
            (store if n % 2 else other_process_store).append("race", [noted()], NO_STREAM)
            for n in range(10)
        ),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, ConcurrencyError) for o in outcomes if isinstance(o, BaseException))


async def test_a_closed_store_refuses_appends(store: PostgresEventStore) -> None:
    await store.append("s", [noted()])
    await store.close()

    with pytest.raises(Exception, match="closed"):
        await store.append("s", [noted()])


async def test_the_feed_orders_transaction_ids_as_numbers_not_text(
    store: PostgresEventStore, database_url: str
) -> None:
    """E.g. 999 < 1000 < 1001, though '1000' < '1001' < '999' as text: page through all three."""
    connection = await connect(database_url)
    try:
        # A digit-length boundary below every running transaction, so the fence lets it pass.
        current = int(await connection.fetchval("select pg_current_xact_id()::text"))
        boundary = 10 ** (len(str(current - 2)) - 1)
        assert boundary >= 10
        ids = (boundary - 1, boundary, boundary + 1)
        for tx, text in ((ids[2], "third"), (ids[0], "first"), (ids[1], "second")):
            await connection.execute(
                "insert into events (tx, stream_id, version, event_id, type, data)"
                " values ($1::text::xid8, $2, 1, $3, 'test.item_noted', $4)",
                str(tx),
                f"s-{tx}",
                uuid.uuid4(),
                TEST_CODEC.encode(ItemNoted(text=text)),
            )
    finally:
        await connection.close()

    seen = []
    checkpoint = FEED_START
    while batch := await store.read_feed(checkpoint, 1):
        seen += batch
        checkpoint = batch[-1].position

    assert texts(seen) == ["first", "second", "third"]
    assert [e.position.tx for e in seen] == list(ids)
