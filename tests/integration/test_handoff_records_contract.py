"""One contract, two kinds of handoff records: the in-memory fake and PostgreSQL alike on
what the handoff commands record, an event and its Idempotency-Key together or neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.handoff import InMemoryHandoffRecords
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.handoff import PostgresHandoffRecords
from application.codec import EventCodec
from application.event_log import ConcurrencyError, NewEvent
from application.handoff import HandoffRecords
from application.idempotency import KeyToRemember, RememberedKey
from application.ports import EventStore
from domain.event_types import EVENT_TYPES
from domain.events import deterministic_event_id
from domain.handoff import ConversationEscalated
from tests.integration.test_sending_contract import CHAT, CUSTOMER, NUMBER, STREAM, seed_postgres
from tests.support.outbound import customer_wrote

AT = datetime(2026, 11, 26, 9, tzinfo=UTC)
CODEC = EventCodec(EVENT_TYPES)


@pytest.fixture(params=["memory", "postgres"])
async def world(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[HandoffRecords, EventStore]]:
    if request.param == "memory":
        memory = InMemoryEventStore(CODEC)
        await memory.append(STREAM, [customer_wrote(NUMBER, CUSTOMER)])
        yield InMemoryHandoffRecords(memory, {"acme": {CHAT: STREAM}}), memory
        return
    pool = await create_pool(request.getfixturevalue("database_url"), max_size=4)
    store = PostgresEventStore(pool, CODEC)
    await seed_postgres(pool, store)
    yield PostgresHandoffRecords(pool, store), store
    await store.close()
    await pool.close()


def escalation(name: str) -> NewEvent:
    event = ConversationEscalated(business_id="acme", cause="agent_took_over", reason="r",
                                  by="agent", at=AT, assignee="Marie")  # fmt: skip
    return NewEvent(event, deterministic_event_id(STREAM, "contract", name))


def key(name: str, answer: str = "first") -> KeyToRemember:
    return KeyToRemember("acme", name, "asked", answer)


async def escalations(store: EventStore) -> int:
    return sum(isinstance(r.event, ConversationEscalated) for r in await store.read_stream(STREAM))


async def test_an_event_and_its_key_are_recorded_together(
    world: tuple[HandoffRecords, EventStore],
) -> None:
    records, _ = world
    assert await records.stream_of("acme", CHAT) == STREAM
    assert await records.stream_of("globex", CHAT) is None
    history = await records.history(STREAM)

    assert await records.record(STREAM, history.version, escalation("a"), key("k1")) is None

    assert await records.remembered("acme", "k1") == RememberedKey("asked", "first")
    assert await records.remembered("globex", "k1") is None
    after = await records.history(STREAM)
    assert after.version == history.version + 1
    assert after.escalation is not None
    assert after.escalation.assignee == "Marie"


async def test_a_key_stored_first_wins_and_nothing_more_is_recorded(
    world: tuple[HandoffRecords, EventStore],
) -> None:
    records, store = world
    version = (await records.history(STREAM)).version
    await records.record(STREAM, version, escalation("a"), key("k1"))

    raced = await records.record(STREAM, version + 1, escalation("b"), key("k1", "second"))

    assert raced == RememberedKey("asked", "first")
    assert await escalations(store) == 1


async def test_a_stream_that_moved_records_neither_the_event_nor_the_key(
    world: tuple[HandoffRecords, EventStore],
) -> None:
    records, store = world
    version = (await records.history(STREAM)).version
    await records.record(STREAM, version, escalation("a"), None)

    for new in (escalation("b"), escalation("a")):  # the stream moved; the same event again
        with pytest.raises(ConcurrencyError):
            await records.record(STREAM, version, new, key("k2"))

    assert await records.remembered("acme", "k2") is None
    assert await escalations(store) == 1


async def test_a_key_alone_is_recorded_when_there_is_no_event(
    world: tuple[HandoffRecords, EventStore],
) -> None:
    records, _ = world
    version = (await records.history(STREAM)).version
    assert await records.record(STREAM, version, None, key("k3")) is None
    assert await records.remembered("acme", "k3") == RememberedKey("asked", "first")
    assert (await records.history(STREAM)).version == version
