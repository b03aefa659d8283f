"""What lasts of a conversation's older events, read from PostgreSQL (one index probe per
kind) and from the in-memory fake the service tests use: the same events, and a replay
over PostgreSQL that starts from them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adapters.ai.rules import RulesAssistant
from adapters.memory.conversations import InMemoryActiveConversations
from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.lasting_events import InMemoryLastingEvents
from adapters.postgres.assistant_turns import PostgresLastingEvents
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from application.assistant_evaluation import (
    CLOCK_MARGIN,
    PAGE,
    AssistantEvaluation,
    EvaluationRequest,
)
from application.assistant_settings import AssistantSettingsService
from application.assistant_turns import LastingEvents
from application.codec import EventCodec
from application.event_log import NewEvent
from application.ports import EventStore
from domain.assistant_turns import AssistantTurnFailed
from domain.conversation import MessageReceived, conversation_stream
from domain.event_types import EVENT_TYPES
from domain.events import DomainEvent
from domain.handoff import ConversationEscalated, ConversationResolved
from domain.inbound import InboundMessage, TextContent
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued

CODEC = EventCodec(EVENT_TYPES)
NUMBER = "106540352242922"
CUSTOMER = "33600000077"
STREAM = conversation_stream(NUMBER, CUSTOMER)
AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@dataclass
class Log:
    store: EventStore
    lasting: LastingEvents


@pytest.fixture(params=["memory", "postgres"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[Log]:
    if request.param == "memory":
        memory = InMemoryEventStore(CODEC)
        yield Log(memory, InMemoryLastingEvents(memory))
        return
    database_url: str = request.getfixturevalue("database_url")
    pool: asyncpg.Pool[Any] = await create_pool(database_url, max_size=4)
    store = PostgresEventStore(pool, CODEC)
    try:
        yield Log(store, PostgresLastingEvents(pool, store))
    finally:
        await store.close()
        await pool.close()


def received(n: int) -> MessageReceived:
    message = InboundMessage(
        phone_number_id=NUMBER, customer_id=CUSTOMER, wamid=f"wamid.lasting.{n}", type="text",
        sent_at=AT, content=TextContent(body=f"message {n}"),
    )  # fmt: skip
    return MessageReceived(business_id="acme", message=message)


def queued(by: str) -> OutboundMessageQueued:
    return OutboundMessageQueued(
        message_id=str(uuid.uuid4()), business_id="acme", conversation_stream=STREAM,
        phone_number_id=NUMBER, recipient=Recipient(phone_number=CUSTOMER),
        message=TextMessage(body=f"from {by}"), requested_by=by, queued_at=AT,  # type: ignore[arg-type]
    )  # fmt: skip


def escalated(reason: str) -> ConversationEscalated:
    return ConversationEscalated(business_id="acme", cause="agent_took_over", reason=reason,
                                 by="agent", at=AT)  # fmt: skip


async def append(store: EventStore, *events: DomainEvent) -> None:
    await store.append(STREAM, [NewEvent(event, uuid.uuid4()) for event in events])


async def test_the_newest_of_each_lasting_kind_before_a_version_oldest_first(log: Log) -> None:
    failed = AssistantTurnFailed(
        business_id="acme", turn_id="t1", wamids=("wamid.lasting.2",), reason="down",
        provider="openai", at=AT, consecutive_failures=2,
    )  # fmt: skip
    agent, first, second = queued("agent"), escalated("first"), escalated("second")
    resolved = ConversationResolved(business_id="acme", at=AT)
    await append(log.store, first, received(1), agent, resolved, failed, queued("ai"), second,
                 received(2), received(3))  # fmt: skip

    everything = await log.lasting.lasting_events(STREAM, 10)
    before_the_failure = await log.lasting.lasting_events(STREAM, 5)

    assert everything == [agent, resolved, failed, second]  # the ai's message never counts
    assert before_the_failure == [first, agent, resolved]
    assert await log.lasting.lasting_events(STREAM, 1) == []


async def test_a_replay_over_postgresql_stays_silent_after_an_escalation_long_before(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, max_size=4)
    store = PostgresEventStore(pool, CODEC)
    try:
        await append(store, escalated("long ago"))
        await append(store, *(received(n) for n in range(3 * PAGE)))
        since = datetime.now(UTC) + CLOCK_MARGIN  # every event so far was recorded before it
        message = MessageReceived(business_id="acme", message=InboundMessage(
            phone_number_id=NUMBER, customer_id=CUSTOMER, wamid="wamid.lasting.new",
            type="text", sent_at=since + timedelta(minutes=1), content=TextContent(body="Bonjour"),
        ))  # fmt: skip
        await append(store, message)
        conversations = InMemoryActiveConversations()
        conversations.saw("acme", STREAM, since + timedelta(minutes=1))
        evaluation = AssistantEvaluation(
            conversations, store, AssistantSettingsService(store), RulesAssistant(),
            PostgresLastingEvents(pool, store),
        )  # fmt: skip
        request = EvaluationRequest(business_id="acme", since=since,
                                    until=since + timedelta(days=1))  # fmt: skip

        (turn,) = (await evaluation.evaluate(request)).turns
    finally:
        await store.close()
        await pool.close()

    assert turn.customer_messages == ("Bonjour",)
    assert (turn.now.decision, turn.now.note) == ("skipped", "escalated")
