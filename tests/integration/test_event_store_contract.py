"""One contract, two stores: the in-memory fake and PostgreSQL must behave alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.memory.event_store import InMemoryEventStore, MemoryTransaction
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from application.codec import UnknownEventTypeError
from application.event_log import (
    ANY,
    FEED_START,
    NO_STREAM,
    AppendRequest,
    ConcurrencyError,
    InvalidAppendError,
    NewEvent,
    UnstorableEventError,
)
from application.ports import EventStore
from domain.events import DomainEvent, EventMetadata
from tests.support.events import TEST_CODEC, ItemNoted, ItemRemoved, noted


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore(TEST_CODEC)
        return
    pool = await create_pool(request.getfixturevalue("database_url"), max_size=8)
    postgres_store = PostgresEventStore(pool, TEST_CODEC)
    yield postgres_store
    await postgres_store.close()
    await pool.close()


async def test_appends_to_a_new_stream_and_reads_it_back(store: EventStore) -> None:
    first, second = noted("a"), NewEvent(ItemRemoved(reason="sold"), uuid.uuid4())

    result = await store.append("cart-1", [first, second], NO_STREAM)

    assert (result.stream_version, result.appended, result.duplicates) == (2, 2, 0)
    events = await store.read_stream("cart-1")
    assert [e.version for e in events] == [1, 2]
    assert [e.event for e in events] == [ItemNoted(text="a"), ItemRemoved(reason="sold")]
    assert [e.type for e in events] == ["test.item_noted", "test.item_removed"]
    assert events[0].event_id == first.event_id
    assert events[0].metadata == EventMetadata(correlation_id="corr-1")
    assert events[1].position > events[0].position
    assert result.last_position == events[1].position
    assert await store.stream_version("cart-1") == 2


async def test_exact_expected_version_appends_after_it(store: EventStore) -> None:
    await store.append("cart-1", [noted()], NO_STREAM)

    result = await store.append("cart-1", [noted(), noted()], 1)

    assert result.stream_version == 3


async def test_wrong_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    await store.append("cart-1", [noted(), noted()])

    with pytest.raises(ConcurrencyError) as raised:
        await store.append("cart-1", [noted("late")], 1)

    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == ("cart-1", 1, 2)
    assert "is at version 2" in str(raised.value)
    assert await store.stream_version("cart-1") == 2


async def test_no_stream_fails_on_an_existing_stream(store: EventStore) -> None:
    await store.append("cart-1", [noted()])

    with pytest.raises(ConcurrencyError):
        await store.append("cart-1", [noted()], NO_STREAM)


async def test_any_appends_whatever_the_stream_holds(store: EventStore) -> None:
    await store.append("cart-1", [noted()], ANY)
    result = await store.append("cart-1", [noted()], ANY)

    assert result.stream_version == 2


async def test_a_stored_event_id_is_an_idempotent_duplicate(store: EventStore) -> None:
    event = noted("once")
    await store.append("cart-1", [event], NO_STREAM)

    again = await store.append("cart-1", [event], NO_STREAM)

    assert again.is_duplicate
    assert (again.appended, again.duplicates, again.stream_version) == (0, 1, 1)
    assert len(await store.read_stream("cart-1")) == 1


async def test_duplicates_are_skipped_and_new_events_appended(store: EventStore) -> None:
    seen = noted("seen")
    await store.append("cart-1", [seen])

    result = await store.append("cart-1", [seen, noted("new"), seen])

    assert (result.appended, result.duplicates, result.is_duplicate) == (1, 2, False)
    assert [e.event for e in await store.read_stream("cart-1")] == [
        ItemNoted(text="seen"),
        ItemNoted(text="new"),
    ]


async def test_an_event_id_is_unique_across_streams(store: EventStore) -> None:
    event = noted()
    await store.append("cart-1", [event])

    result = await store.append("cart-2", [event])

    assert result.is_duplicate
    assert await store.stream_version("cart-2") == 0


async def test_atomic_append_to_several_streams(store: EventStore) -> None:
    results = await store.append_atomic(
        [AppendRequest("a", [noted()], NO_STREAM), AppendRequest("b", [noted(), noted()])]
    )

    assert [(r.stream_id, r.stream_version) for r in results] == [("a", 1), ("b", 2)]


async def test_atomic_append_writes_nothing_when_one_request_conflicts(store: EventStore) -> None:
    await store.append("b", [noted()])

    with pytest.raises(ConcurrencyError):
        await store.append_atomic(
            [AppendRequest("a", [noted()], NO_STREAM), AppendRequest("b", [noted()], NO_STREAM)]
        )

    assert await store.stream_version("a") == 0
    assert await store.stream_version("b") == 1


async def test_two_requests_to_one_stream_in_one_unit_chain_their_versions(
    store: EventStore,
) -> None:
    results = await store.append_atomic(
        [AppendRequest("a", [noted()], NO_STREAM), AppendRequest("a", [noted()], 1)]
    )

    assert [r.stream_version for r in results] == [1, 2]


@pytest.mark.parametrize(
    ("stream_id", "events", "expected"),
    [("", [None], ANY), ("x" * 201, [None], ANY), ("ok", [], ANY), ("ok", [None], -3)],
    ids=["empty-stream-id", "long-stream-id", "no-events", "negative-version"],
)
async def test_malformed_appends_are_rejected_and_change_nothing(
    store: EventStore, stream_id: str, events: list[None], expected: Any
) -> None:
    with pytest.raises(InvalidAppendError):
        await store.append(stream_id, [noted() for _ in events], expected)

    assert await store.read_feed(FEED_START, 10) == []


async def test_an_unregistered_event_type_is_refused(store: EventStore) -> None:
    class Stranger(DomainEvent, frozen=True, kw_only=True, tag="test.stranger"):
        pass

    with pytest.raises(UnknownEventTypeError):
        await store.append("cart-1", [noted(), NewEvent(Stranger(), uuid.uuid4())])

    assert await store.stream_version("cart-1") == 0


async def test_read_stream_from_a_version_with_a_limit(store: EventStore) -> None:
    await store.append("cart-1", [noted(str(n)) for n in range(1, 6)])

    events = await store.read_stream("cart-1", from_version=2, limit=3)

    assert [e.version for e in events] == [2, 3, 4]
    assert await store.read_stream("unknown") == []


async def test_read_stream_backward_pages_from_the_newest_event(store: EventStore) -> None:
    await store.append("cart-1", [noted(str(n)) for n in range(1, 6)])
    await store.append("cart-2", [noted("other")])

    newest = await store.read_stream_backward("cart-1", limit=2)
    older = await store.read_stream_backward("cart-1", before_version=newest[-1].version, limit=9)

    assert [e.version for e in newest] == [5, 4]
    assert [e.version for e in older] == [3, 2, 1]
    assert await store.read_stream_backward("cart-1", before_version=1) == []
    assert await store.read_stream_backward("unknown") == []


async def test_the_feed_is_read_in_batches_from_a_checkpoint(store: EventStore) -> None:
    for n in range(7):
        await store.append(f"s-{n % 3}", [noted(str(n))])

    seen: list[str] = []
    checkpoint = FEED_START
    while batch := await store.read_feed(checkpoint, 3):
        assert len(batch) <= 3
        seen += [e.event.text for e in batch if isinstance(e.event, ItemNoted)]
        checkpoint = batch[-1].position

    assert seen == [str(n) for n in range(7)]
    assert await store.read_feed(checkpoint, 3) == []


async def test_concurrent_exact_appends_to_one_stream_let_exactly_one_win(
    store: EventStore,
) -> None:
    await store.append("cart-1", [noted()])

    outcomes = await asyncio.gather(
        *(store.append("cart-1", [noted(str(n))], 1) for n in range(10)),
        return_exceptions=True,
    )

    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    assert (len(wins), len(conflicts)) == (1, 9)
    assert await store.stream_version("cart-1") == 2


async def test_concurrent_any_appends_all_land_with_dense_versions(store: EventStore) -> None:
    await asyncio.gather(*(store.append("cart-1", [noted(), noted()]) for _ in range(20)))

    events = await store.read_stream("cart-1")

    assert [e.version for e in events] == list(range(1, 41))


def _with_nul(where: str) -> NewEvent:
    if where == "metadata":
        return NewEvent(ItemNoted(text="fine"), uuid.uuid4(), EventMetadata(causation_id="a\x00b"))
    return NewEvent(ItemNoted(text="before\x00after"), uuid.uuid4())


@pytest.mark.parametrize("where", ["data", "metadata"])
async def test_u0000_in_event_text_is_refused_like_postgresql_does(
    store: EventStore, where: str
) -> None:
    with pytest.raises(UnstorableEventError):
        await store.append_atomic(
            [AppendRequest("good", [noted()]), AppendRequest("bad", [noted(), _with_nul(where)])]
        )

    assert await store.read_feed(FEED_START, 10) == []


async def test_u0000_in_a_stream_id_is_refused(store: EventStore) -> None:
    with pytest.raises(UnstorableEventError):
        await store.append("cart\x00-1", [noted()])

    assert await store.read_feed(FEED_START, 10) == []


async def test_text_that_only_looks_like_an_escaped_u0000_is_stored(store: EventStore) -> None:
    lookalikes = ["\\u0000", "\\\\u0000", "\u2400", "\x01"]

    await store.append("cart-1", [noted(text) for text in lookalikes])

    stored = [
        e.event.text for e in await store.read_stream("cart-1") if isinstance(e.event, ItemNoted)
    ]
    assert stored == lookalikes


async def test_a_lone_surrogate_is_refused_before_anything_is_stored(store: EventStore) -> None:
    with pytest.raises(UnicodeEncodeError):
        await store.append("cart-1", [noted(), noted("\ud800")])

    assert await store.read_feed(FEED_START, 10) == []


# Appends on a subscriber's own transaction (TransactionalAppender), same contract.


@dataclass
class TransactionalBackend:
    store: Any  # an EventStore that is also a TransactionalAppender of its transactions
    begin: Callable[[], AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["memory", "postgres"])
async def tx_backend(request: pytest.FixtureRequest) -> AsyncIterator[TransactionalBackend]:
    if request.param == "memory":

        @asynccontextmanager
        async def begin_memory() -> AsyncIterator[MemoryTransaction]:
            tx = MemoryTransaction()
            yield tx
            tx.commit()

        yield TransactionalBackend(InMemoryEventStore(TEST_CODEC), begin_memory)
        return
    pool = await create_pool(request.getfixturevalue("database_url"), max_size=8)
    postgres_store = PostgresEventStore(pool, TEST_CODEC)

    @asynccontextmanager
    async def begin_postgres() -> AsyncIterator[Any]:
        async with pool.acquire() as connection, connection.transaction():
            yield connection

    yield TransactionalBackend(postgres_store, begin_postgres)
    await postgres_store.close()
    await pool.close()


async def test_append_on_a_transaction_stores_several_streams_at_commit(
    tx_backend: TransactionalBackend,
) -> None:
    store = tx_backend.store
    await store.append("cart-1", [noted("before")])

    async with tx_backend.begin() as tx:
        results = await store.append_on(
            tx, [AppendRequest("cart-1", (noted("a"),), 1), AppendRequest("cart-2", (noted("b"),))]
        )
        more = await store.append_on(tx, [AppendRequest("cart-1", (noted("c"),), 2)])

    assert [(r.stream_id, r.stream_version, r.appended) for r in results] == [
        ("cart-1", 2, 1),
        ("cart-2", 1, 1),
    ]
    assert more[0].stream_version == 3
    assert [e.event.text for e in await store.read_stream("cart-1")] == ["before", "a", "c"]
    feed = await store.read_feed(FEED_START, 10)
    assert [e.event.text for e in feed] == ["before", "a", "b", "c"]
    assert len({e.position.tx for e in feed[1:]}) == 1  # one transaction


async def test_append_on_a_transaction_that_rolls_back_stores_nothing(
    tx_backend: TransactionalBackend,
) -> None:
    async def append_then_fail() -> None:
        async with tx_backend.begin() as tx:
            await tx_backend.store.append_on(tx, [AppendRequest("cart-1", (noted("a"),))])
            raise RuntimeError("the subscriber failed after appending")

    with pytest.raises(RuntimeError):
        await append_then_fail()

    assert await tx_backend.store.read_feed(FEED_START, 10) == []
    assert await tx_backend.store.stream_version("cart-1") == 0


async def test_append_on_a_transaction_raises_concurrency_error_and_writes_nothing(
    tx_backend: TransactionalBackend,
) -> None:
    store = tx_backend.store
    await store.append("cart-1", [noted(), noted()])

    async with tx_backend.begin() as tx:
        with pytest.raises(ConcurrencyError) as raised:
            await store.append_on(
                tx,
                [AppendRequest("cart-2", (noted("x"),)), AppendRequest("cart-1", (noted(),), 1)],
            )
        # the transaction stays usable after a refused append
        await store.append_on(tx, [AppendRequest("cart-3", (noted("y"),), NO_STREAM)])

    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert await store.stream_version("cart-2") == 0
    assert [e.event.text for e in await store.read_stream("cart-3")] == ["y"]


async def test_append_on_a_transaction_skips_stored_events_as_duplicates(
    tx_backend: TransactionalBackend,
) -> None:
    store = tx_backend.store
    first = noted("once")
    await store.append("cart-1", [first])

    async with tx_backend.begin() as tx:
        (again,) = await store.append_on(tx, [AppendRequest("cart-1", (first,), NO_STREAM)])
        (twice,) = await store.append_on(tx, [AppendRequest("cart-9", (first, noted("new")))])

    assert (again.appended, again.duplicates, again.stream_version) == (0, 1, 1)
    assert (twice.appended, twice.duplicates) == (1, 1)
    assert len(await store.read_feed(FEED_START, 10)) == 2


async def test_append_on_a_transaction_refuses_what_postgresql_cannot_hold(
    tx_backend: TransactionalBackend,
) -> None:
    store = tx_backend.store
    async with tx_backend.begin() as tx:
        with pytest.raises(UnstorableEventError):
            await store.append_on(tx, [AppendRequest("cart-1", (_with_nul("data"),))])
        await store.append_on(tx, [AppendRequest("cart-2", (noted("fine"),))])

    assert await store.stream_version("cart-1") == 0
    assert await store.stream_version("cart-2") == 1
