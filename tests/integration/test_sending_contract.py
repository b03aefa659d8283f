"""One contract, two kinds of sending units: the in-memory fake and PostgreSQL behave alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import pytest

from adapters.memory.sending import InMemorySendingUnits
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.sending import PostgresSendingUnits
from application.codec import EventCodec
from application.event_log import NewEvent
from application.idempotency import KeyToRemember, RememberedKey
from application.sending import ConversationFacts, QuotedMessage, SendingUnits
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from domain.inbound import InboundMessage, TextContent
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id
from domain.public_ids import conversation_public_id, message_public_id

NUMBER = "1122334455667"
CUSTOMER = "15550004001"
STREAM = conversation_stream(NUMBER, CUSTOMER)
CHAT = conversation_public_id("acme", STREAM)
SAID_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
QUESTION = "wamid.contract-question"
OURS = "7d3c2a10-0000-4000-8000-000000000001"  # queued, not accepted yet
FACTS = ConversationFacts(stream_id=STREAM, phone_number_id=NUMBER, customer_id=CUSTOMER,
                          customer_phone=CUSTOMER, customer_user_id=None,
                          is_group=False)  # fmt: skip


class Seeded(Protocol):
    units: SendingUnits

    async def queued_ids(self) -> list[str]: ...


@dataclass
class MemoryWorld:
    units: InMemorySendingUnits

    async def queued_ids(self) -> list[str]:
        return [str(new.event_id) for _, new in self.units.state.queued]


@dataclass
class PostgresWorld:
    units: PostgresSendingUnits
    pool: asyncpg.Pool[Any]

    async def queued_ids(self) -> list[str]:
        rows = await self.pool.fetch(
            "select event_id from events where type = 'outbound.queued' order by global_position"
        )
        return [str(r["event_id"]) for r in rows]


def memory_world() -> MemoryWorld:
    units = InMemorySendingUnits()
    units.state.conversations["acme", CHAT] = FACTS
    units.state.last_received[STREAM] = SAID_AT
    units.state.messages["acme", STREAM, message_public_id("acme", QUESTION)] = QUESTION
    units.state.messages["acme", STREAM, OURS] = None
    return MemoryWorld(units)


async def seed_postgres(pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
    received = MessageReceived(business_id="acme", message=InboundMessage(
        phone_number_id=NUMBER, customer_id=CUSTOMER, wamid=QUESTION, sent_at=SAID_AT,
        type="text", content=TextContent(body="hi")))  # fmt: skip
    await store.append(STREAM, [NewEvent(received, message_event_id(QUESTION))])
    await pool.execute(
        "insert into conversations (business_id, id, phone_number_id, customer_id,"
        " customer_phone, last_activity_at, public_id) values ('acme', $1, $2, $3, $3, $4, $5)",
        STREAM, NUMBER, CUSTOMER, SAID_AT, CHAT,
    )  # fmt: skip
    for wamid, public_id in ((QUESTION, message_public_id("acme", QUESTION)), (None, OURS)):
        await pool.execute(
            "insert into messages (business_id, conversation_id, wamid, direction, sender, type,"
            " sent_at, public_id) values ('acme', $1, $2, 'inbound', 'customer', 'text', $3, $4)",
            STREAM, wamid, SAID_AT, public_id,
        )  # fmt: skip


@pytest.fixture(params=["memory", "postgres"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[Seeded]:
    if request.param == "memory":
        yield memory_world()
        return
    pool = await create_pool(request.getfixturevalue("database_url"), max_size=4)
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    await seed_postgres(pool, store)
    yield PostgresWorld(PostgresSendingUnits(pool, store), pool)
    await store.close()
    await pool.close()


def queued(message_id: str) -> NewEvent:
    event = OutboundMessageQueued(
        message_id=message_id, business_id="acme", conversation_stream=STREAM,
        phone_number_id=NUMBER, recipient=Recipient(phone_number=CUSTOMER),
        message=TextMessage(body="hello"), requested_by="agent", queued_at=SAID_AT,
    )  # fmt: skip
    return NewEvent(event, queued_event_id(message_id))


async def test_the_reads_see_the_conversation_its_window_and_its_messages(world: Seeded) -> None:
    async with world.units.begin() as unit:
        assert await unit.conversation("acme", CHAT) == FACTS
        assert await unit.conversation("globex", CHAT) is None
        assert await unit.conversation("acme", "f" * 32) is None
        assert await unit.last_customer_message_at(STREAM) == SAID_AT
        assert await unit.last_customer_message_at("conversation-none") is None
        question = message_public_id("acme", QUESTION)
        assert await unit.quoted("acme", STREAM, question) == QuotedMessage(QUESTION)
        assert await unit.quoted("acme", STREAM, OURS) == QuotedMessage(None)
        assert await unit.quoted("acme", "conversation-other", question) is None
        assert await unit.quoted("globex", STREAM, question) is None


async def test_a_key_is_stored_with_the_event_and_a_second_use_queues_nothing(
    world: Seeded,
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with world.units.begin() as unit:
        assert await unit.remembered("acme", "key-1") is None
        stored = await unit.queue(STREAM, queued(first),
                                  KeyToRemember("acme", "key-1", "print-1", first))  # fmt: skip
        assert stored is None
    async with world.units.begin() as unit:
        assert await unit.remembered("acme", "key-1") == RememberedKey("print-1", first)
        assert await unit.remembered("globex", "key-1") is None
        raced = await unit.queue(STREAM, queued(second),
                                 KeyToRemember("acme", "key-1", "print-2", second))  # fmt: skip
        assert raced == RememberedKey("print-1", first)
    assert await world.queued_ids() == [str(queued_event_id(first))]


async def test_a_unit_that_fails_stores_neither_its_key_nor_its_event(world: Seeded) -> None:
    message_id = str(uuid.uuid4())

    async def fail_after_queuing() -> None:
        async with world.units.begin() as unit:
            await unit.queue(STREAM, queued(message_id),
                             KeyToRemember("acme", "key-2", "print", message_id))  # fmt: skip
            raise RuntimeError("the request failed after queuing")

    with pytest.raises(RuntimeError):
        await fail_after_queuing()
    async with world.units.begin() as unit:
        assert await unit.remembered("acme", "key-2") is None
    assert await world.queued_ids() == []


async def test_a_late_delivered_older_message_does_not_move_the_window_back(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, max_size=4)
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    try:
        await seed_postgres(pool, store)
        late = MessageReceived(business_id="acme", message=InboundMessage(
            phone_number_id=NUMBER, customer_id=CUSTOMER, wamid="wamid.late",
            sent_at=SAID_AT.replace(hour=8), type="text",
            content=TextContent(body="earlier")))  # fmt: skip
        await store.append(STREAM, [NewEvent(late, message_event_id("wamid.late"))])
        async with PostgresSendingUnits(pool, store).begin() as unit:
            assert await unit.last_customer_message_at(STREAM) == SAID_AT
    finally:
        await store.close()
        await pool.close()
