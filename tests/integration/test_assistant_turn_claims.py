"""The turn worker against real PostgreSQL, one turn at a time: what a claim leaves behind
when a turn is taken over, finds its outcome already stored, or is cut short at stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import pytest

from adapters.memory.gateway import InMemoryWhatsAppGateway
from adapters.postgres.assistant_turns import PostgresTurnBook, TurnRequestSubscriber
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from application.assistant_settings import AssistantSettingsService
from application.assistant_turns import AssistantTurnWorker, ClaimedConversation, TurnSettings
from application.codec import EventCodec
from application.event_log import ConcurrencyError, NewEvent, RecordedEvent
from domain.assistant import AssistantAnswer, AssistantContext, Reply
from domain.assistant_turns import AssistantTurnCompleted
from domain.conversation import MessageReceived, MessageStatusUpdated, conversation_stream
from domain.event_types import EVENT_TYPES
from domain.events import EventMetadata, deterministic_event_id
from domain.inbound import DeliveryStatus, InboundMessage, TextContent
from domain.outbound import TextMessage
from domain.outbox import OutboundMessageQueued

BUSINESS = "b1"
NUMBER = "111"
CUSTOMER = "33600000001"
STREAM = conversation_stream(NUMBER, CUSTOMER)
T = TypeVar("T")


class GatedAssistant:
    """Answers "Re: <messages>"; while ``hold`` is set, only after ``release``."""

    provider = "gated"

    def __init__(self, *, hold: bool = True) -> None:
        self.hold = hold
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.called.set()
        if self.hold:
            await self.release.wait()
        said = " + ".join(m.text for m in context.new_messages)
        return AssistantAnswer(decision=Reply(message=TextMessage(body=f"Re: {said}")),
                               provider=self.provider)  # fmt: skip


class NoTokens:
    async def access_token_of(self, business_id: str) -> str | None:
        return None  # no typing indicator: the turn never calls the Graph API


@dataclass
class Rig:
    pool: asyncpg.Pool[Any]
    store: PostgresEventStore
    book: PostgresTurnBook

    async def customer_writes(self, wamid: str, text: str, correlation: str) -> None:
        """The message stored as the webhook stores it, then its turn request recorded."""
        message = InboundMessage(
            phone_number_id=NUMBER, customer_id=CUSTOMER, wamid=wamid, type="text",
            sent_at=datetime.now(UTC), content=TextContent(body=text),
        )  # fmt: skip
        received = MessageReceived(business_id=BUSINESS, message=message)
        metadata = EventMetadata(correlation_id=correlation)
        await self.store.append(
            STREAM, [NewEvent(received, deterministic_event_id("test", wamid), metadata)]
        )
        recorded = [r for r in await self.store.read_stream(STREAM) if r.event == received]
        async with self.pool.acquire() as connection, connection.transaction():
            await TurnRequestSubscriber(self.store).handle(connection, recorded)

    def worker(self, assistant: GatedAssistant, **settings: Any) -> AssistantTurnWorker:
        return AssistantTurnWorker(
            self.book, self.store, assistant, AssistantSettingsService(self.store),
            InMemoryWhatsAppGateway(), NoTokens(), TurnSettings(poll_seconds=0.05, **settings),
        )  # fmt: skip

    async def recorded(self) -> list[RecordedEvent]:
        return await self.store.read_stream(STREAM)

    async def outcomes(self) -> list[AssistantTurnCompleted]:
        return [r.event for r in await self.recorded()
                if isinstance(r.event, AssistantTurnCompleted)]  # fmt: skip

    async def turn_row(self) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            "select requested, handled, lease_until, lease_token from assistant_turns"
            " where conversation_stream = $1",
            STREAM,
        )
        assert row is not None
        return row


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    pool = await create_pool(database_url, max_size=4)
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    try:
        yield Rig(pool, store, PostgresTurnBook(pool, store))
    finally:
        await store.close()
        await pool.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 10) -> T:
    deadline = time.monotonic() + timeout
    while (found := await probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {probe}")
        await asyncio.sleep(0.02)
    return found


async def claim_one(rig: Rig, lease_seconds: float) -> ClaimedConversation:
    async def claimed() -> ClaimedConversation | None:
        claims = await rig.book.claim(1, lease_seconds)
        return claims[0] if claims else None

    return await eventually(claimed)


async def test_a_message_seen_by_a_taken_over_turn_whose_outcome_was_stored_stays_open(
    rig: Rig,
) -> None:
    first, second = GatedAssistant(), GatedAssistant()
    slow, taking_over = rig.worker(first), rig.worker(second)
    await rig.customer_writes("wamid.1", "Bonjour", "webhook-1")
    claim = await claim_one(rig, lease_seconds=0.2)
    slow_turn = asyncio.create_task(slow.take_turn(claim))
    await asyncio.wait_for(first.called.wait(), 10)
    await rig.customer_writes("wamid.2", "Vous livrez ?", "webhook-2")
    # The lease ends: the conversation is taken over with both messages open.
    takeover = await claim_one(rig, lease_seconds=30)
    assert takeover.requested == 2
    second_turn = asyncio.create_task(taking_over.take_turn(takeover))
    await asyncio.wait_for(second.called.wait(), 10)
    first.release.set()
    await slow_turn  # stores the turn's outcome: it answered wamid.1 only
    second.release.set()
    await second_turn  # finds that outcome stored and records nothing

    (answered,) = await rig.outcomes()
    assert answered.wamids == ("wamid.1",)
    next_claim = (await rig.book.claim(1, 30))[0]  # wamid.2 is still waiting
    await rig.worker(GatedAssistant(hold=False)).take_turn(next_claim)
    _, second_outcome = await rig.outcomes()
    assert second_outcome.wamids == ("wamid.2",)
    replies = [r.event for r in await rig.recorded() if isinstance(r.event, OutboundMessageQueued)]
    assert [q.message for q in replies] == [
        TextMessage(body="Re: Bonjour"),
        TextMessage(body="Re: Vous livrez ?"),
    ]
    assert (await rig.book.claim(1, 30)) == []


async def test_a_turns_events_carry_the_correlation_of_the_message_it_answers(rig: Rig) -> None:
    await rig.customer_writes("wamid.1", "Bonjour", "webhook-1")
    status = DeliveryStatus(phone_number_id=NUMBER, recipient_id=CUSTOMER, wamid="wamid.out",
                            status="read", at=datetime.now(UTC))  # fmt: skip
    later = NewEvent(
        MessageStatusUpdated(business_id=BUSINESS, status=status),
        deterministic_event_id("test-status"),
        EventMetadata(correlation_id="webhook-of-a-status"),
    )
    await rig.store.append(STREAM, [later])
    claim = await claim_one(rig, lease_seconds=30)

    await rig.worker(GatedAssistant(hold=False)).take_turn(claim)

    made = [r for r in await rig.recorded()
            if isinstance(r.event, AssistantTurnCompleted | OutboundMessageQueued)]  # fmt: skip
    assert len(made) == 2
    assert {r.metadata.correlation_id for r in made} == {"webhook-1"}


async def test_a_turn_cut_short_at_stop_lets_another_process_take_it_at_once(rig: Rig) -> None:
    assistant = GatedAssistant()
    worker = rig.worker(assistant, stop_grace_seconds=0.1)
    await rig.customer_writes("wamid.1", "Bonjour", "webhook-1")
    worker.start()
    await asyncio.wait_for(assistant.called.wait(), 10)
    assert (await rig.turn_row())["lease_token"] is not None

    await worker.stop()

    row = await rig.turn_row()
    assert (row["requested"], row["handled"], row["lease_token"]) == (1, 0, None)
    (claim,) = await rig.book.claim(1, 30)  # not after the lease: now
    await rig.worker(GatedAssistant(hold=False)).take_turn(claim)
    (outcome,) = await rig.outcomes()
    assert outcome.wamids == ("wamid.1",)
    assert await rig.outcomes() == [outcome]


class AlwaysConflicting(PostgresTurnBook):
    """A turn book whose every record finds the conversation moved on."""

    abandoned = 0

    async def record(self, *args: Any, **kwargs: Any) -> bool:
        raise ConcurrencyError(STREAM, 0, 1)

    async def abandon(self, claim: ClaimedConversation) -> None:
        self.abandoned += 1
        await super().abandon(claim)


async def test_a_turn_that_cannot_record_lets_the_conversation_go_at_once(rig: Rig) -> None:
    book = AlwaysConflicting(rig.pool, rig.store)
    worker = AssistantTurnWorker(
        book, rig.store, GatedAssistant(hold=False), AssistantSettingsService(rig.store),
        InMemoryWhatsAppGateway(), NoTokens(), TurnSettings(poll_seconds=3600),
    )  # fmt: skip
    await rig.customer_writes("wamid.1", "Bonjour", "webhook-1")
    worker.start()
    try:
        await eventually(lambda: asyncio.sleep(0, book.abandoned or None))
    finally:
        await worker.stop()

    row = await rig.turn_row()
    assert (row["requested"], row["handled"]) == (1, 0)  # still to answer
    assert await rig.book.claim(1, 30)  # by anyone, now rather than after the lease
