"""Replaying past turns through an assistant, over the in-memory event store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from itertools import count

from adapters.ai.rules import RulesAssistant
from adapters.memory.conversations import InMemoryActiveConversations
from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.lasting_events import InMemoryLastingEvents
from application.assistant_evaluation import (
    CLOCK_MARGIN,
    PAGE,
    AssistantEvaluation,
    EvaluationRequest,
    ReplayedTurn,
)
from application.assistant_settings import AssistantSettingsService
from application.codec import EventCodec
from application.event_log import FEED_START, NewEvent, RecordedEvent
from domain.assistant import AssistantAnswer, AssistantContext, Escalate, Reply
from domain.assistant_settings import SettingsChanges
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    turn_message_id,
    turn_outcome_event_id,
    turn_requested_event_id,
)
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from domain.events import deterministic_event_id
from domain.handoff import ConversationEscalated
from domain.inbound import InboundMessage, TextContent
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id

CODEC = EventCodec(EVENT_TYPES)
NUMBER = "106540352242922"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
_ids = count(1)


class World:
    def __init__(self, store: InMemoryEventStore | None = None) -> None:
        self.store = store or InMemoryEventStore(CODEC)
        self.conversations = InMemoryActiveConversations()
        self.settings = AssistantSettingsService(self.store)

    async def append(self, customer: str, *events: NewEvent) -> None:
        await self.store.append(conversation_stream(NUMBER, customer), list(events))

    async def writes(self, customer: str, text: str, at: datetime) -> str:
        wamid = f"wamid.{next(_ids):04d}"
        message = InboundMessage(
            phone_number_id=NUMBER, customer_id=customer, wamid=wamid, sent_at=at, type="text",
            content=TextContent(body=text),
        )  # fmt: skip
        received = MessageReceived(business_id="acme", message=message)
        await self.append(customer, NewEvent(received, message_event_id(wamid)))
        self.conversations.saw("acme", conversation_stream(NUMBER, customer), at)
        return wamid

    async def turn(
        self, customer: str, wamids: tuple[str, ...], reply: str | None, at: datetime
    ) -> None:
        """What the worker records: the requests, then the outcome and what it queued."""
        for wamid in wamids:
            request = AssistantTurnRequested(business_id="acme", wamid=wamid, at=at)
            await self.append(customer, NewEvent(request, turn_requested_event_id(wamid)))
        turn_id = wamids[0]
        decision = (Reply(message=TextMessage(body=reply)) if reply is not None
                    else Escalate(cause="customer_asked", reason="asked for a person"))  # fmt: skip
        outcome = AssistantTurnCompleted(
            business_id="acme", turn_id=turn_id, wamids=wamids, decision=decision,
            provider="offline", at=at, latency_ms=3.0, message_id=turn_message_id(turn_id),
        )  # fmt: skip
        body = reply if reply is not None else "handoff"
        queued = self.queued(customer, body, turn_message_id(turn_id), "ai", at)
        await self.append(customer, NewEvent(outcome, turn_outcome_event_id(turn_id)), queued)

    def queued(self, customer: str, body: str, message_id: str, by: str, at: datetime) -> NewEvent:
        event = OutboundMessageQueued(
            message_id=message_id, business_id="acme",
            conversation_stream=conversation_stream(NUMBER, customer), phone_number_id=NUMBER,
            recipient=Recipient(phone_number=customer), message=TextMessage(body=body),
            requested_by=by, queued_at=at,  # type: ignore[arg-type]
        )  # fmt: skip
        return NewEvent(event, queued_event_id(message_id))

    async def evaluate(
        self, assistant: object = None, **options: object
    ) -> tuple[list[ReplayedTurn], int]:
        feed_before = len(await self.store.read_feed(FEED_START, 10_000))
        evaluation = AssistantEvaluation(
            self.conversations,
            self.store,
            self.settings,
            assistant or RulesAssistant(),  # type: ignore[arg-type]
            InMemoryLastingEvents(self.store),
        )
        request = EvaluationRequest(business_id="acme", since=NOW - timedelta(days=7),
                                    until=NOW, **options)  # type: ignore[arg-type]  # fmt: skip
        result = await evaluation.evaluate(request)
        feed_after = len(await self.store.read_feed(FEED_START, 10_000))
        assert feed_after == feed_before  # nothing appended, ever
        return list(result.turns), feed_after


async def test_turns_and_unanswered_messages_are_replayed_in_time_order() -> None:
    world = World()
    early = NOW - timedelta(days=2)
    first = await world.writes("33600000001", "Bonjour", early)
    await world.turn("33600000001", (first,), "an old greeting", early + timedelta(seconds=2))
    unanswered = await world.writes("33600000002", "Quels sont vos horaires ?", early)
    agent_said = world.queued("33600000002", "9h-18h", str(uuid.uuid4()), "agent", early)
    await world.append("33600000002", agent_said)
    await world.writes("33600000003", "Bonjour", NOW - timedelta(days=9))  # before the window

    turns, _ = await world.evaluate()

    assert [t.customer_messages for t in turns] == [("Bonjour",), ("Quels sont vos horaires ?",)]
    greeting, hours = turns
    assert (greeting.then.decision, greeting.then.text) == ("reply", "an old greeting")
    assert greeting.then.latency_ms == 3.0
    assert greeting.now.decision == "reply"
    assert "Bonjour" in greeting.now.text
    assert greeting.changed
    assert (hours.then.decision, hours.then.text) == ("agent reply", "9h-18h")
    assert hours.now.provider == "offline"
    assert unanswered  # its own unit, answered now although no turn ran then


async def test_the_same_answer_again_is_unchanged_and_buttons_are_described() -> None:
    world = World()
    at = NOW - timedelta(hours=3)
    wamid = await world.writes("33600000001", "xyzzy", at)
    (first,), _ = await world.evaluate()
    await world.turn("33600000001", (wamid,), None, at)  # then: a handoff, for the contrast

    (turn,), _ = await world.evaluate()

    assert first.now.decision == "reply"
    assert first.now.text.endswith("\n[buttons: Nos horaires | Nous contacter | Un conseiller]")
    assert (turn.then.decision, turn.then.escalated) == ("escalate", True)
    assert turn.then.note == "customer_asked: asked for a person"
    assert turn.now.text == first.now.text  # the offline rules answer a wamid the same way
    assert turn.changed


async def test_a_turn_in_an_escalated_conversation_would_stay_silent_now() -> None:
    world = World()
    at = NOW - timedelta(hours=5)
    escalated = ConversationEscalated(business_id="acme", cause="agent_took_over", reason="x",
                                      by="agent", at=at)  # fmt: skip
    await world.append("33600000001", NewEvent(escalated, deterministic_event_id("esc", "1")))
    await world.writes("33600000001", "Bonjour", at + timedelta(minutes=1))

    (turn,), _ = await world.evaluate()

    assert (turn.now.decision, turn.now.note) == ("skipped", "escalated")
    assert (turn.then.decision, turn.changed) == ("no reply", False)


async def test_keywords_escalate_before_the_assistant_is_asked() -> None:
    world = World()
    await world.settings.change("acme", SettingsChanges(escalation_keywords=("remboursement",)))
    await world.writes("33600000001", "Je veux un remboursement", NOW - timedelta(hours=1))
    asked = CountingAssistant()

    (turn,), _ = await world.evaluate(asked)

    assert turn.now.decision == "escalate"
    assert turn.now.escalated
    assert turn.now.provider == "keywords"
    assert 'the customer wrote "remboursement"' in turn.now.note
    assert asked.calls == 0


async def test_instructions_given_replace_the_business_ones_for_the_replay_only() -> None:
    world = World()
    await world.writes("33600000001", "Quels sont vos horaires ?", NOW - timedelta(hours=1))
    (before,), _ = await world.evaluate()
    (after,), _ = await world.evaluate(instructions="Horaires : du lundi au samedi, 8h-20h")

    assert "8h-20h" not in before.now.text
    assert "8h-20h" in after.now.text
    assert (await world.settings.current("acme")).version == 0


class CountingAssistant:
    provider = "counting"

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls = 0
        self.running = 0
        self.most = 0
        self._delay = delay
        self._fail_on = fail_on

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            said = context.new_messages[-1].text
            await asyncio.sleep(self._delay if said != self._fail_on else 5)
            return AssistantAnswer(decision=Reply(message=TextMessage(body=f"Re: {said}")),
                                   provider=self.provider)  # fmt: skip
        finally:
            self.running -= 1


async def test_calls_are_bounded_and_a_slow_one_becomes_a_failure_row() -> None:
    world = World()
    for n in range(8):
        await world.writes(f"3360000010{n}", f"question {n}", NOW - timedelta(hours=8 - n))
    asked = CountingAssistant(delay=0.02, fail_on="question 3")

    turns, _ = await world.evaluate(asked, concurrency=2, timeout_seconds=0.5)

    assert asked.most == 2
    slow = turns[3]
    assert slow.now.failure == "the assistant gave no answer in time"
    assert slow.now.decision == "fallback"
    assert slow.now.text.startswith("Désolé")
    assert slow.now.latency_ms is not None
    assert slow.now.latency_ms >= 500
    assert [t.now.text for t in turns if t is not slow] == [
        f"Re: question {n}" for n in range(8) if n != 3
    ]


async def test_the_newest_turns_only_with_a_limit() -> None:
    world = World()
    for n in range(5):
        await world.writes("33600000001", f"message {n}", NOW - timedelta(hours=5 - n))
    turns, _ = await world.evaluate(limit=2)
    assert [t.customer_messages for t in turns] == [("message 3",), ("message 4",)]


async def test_a_failed_turn_shows_its_reason_and_fallback_then() -> None:
    world = World()
    at = NOW - timedelta(hours=2)
    wamid = await world.writes("33600000001", "Bonjour", at)
    request = AssistantTurnRequested(business_id="acme", wamid=wamid, at=at)
    failed = AssistantTurnFailed(business_id="acme", turn_id=wamid, wamids=(wamid,),
                                 reason="the AI provider answered 500", provider="openai", at=at,
                                 consecutive_failures=1, latency_ms=40.0,
                                 message_id=turn_message_id(wamid))  # fmt: skip
    fallback = world.queued("33600000001", "Désolé", turn_message_id(wamid), "ai", at)
    await world.append("33600000001", NewEvent(request, turn_requested_event_id(wamid)),
                       NewEvent(failed, turn_outcome_event_id(wamid)), fallback)  # fmt: skip

    (turn,), _ = await world.evaluate()

    assert (turn.then.decision, turn.then.text) == ("fallback", "Désolé")
    assert turn.then.failure == "the AI provider answered 500"
    assert turn.now.decision == "reply"
    assert not turn.now.failure
    assert turn.changed


class CountingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__(CODEC)
        self.events_read = 0

    async def read_stream_backward(
        self, stream_id: str, before_version: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        found = await super().read_stream_backward(stream_id, before_version, limit)
        self.events_read += len(found)
        return found


async def test_a_long_conversation_is_read_from_a_little_before_the_window_only() -> None:
    store = CountingStore()
    world = World(store)
    customer = "33600000001"
    for n in range(3 * PAGE):
        await world.writes(customer, f"old {n}", NOW - timedelta(days=30))
    boundary = datetime.now(UTC)  # every event so far was recorded before it
    since = boundary + CLOCK_MARGIN
    await world.writes(customer, "Bonjour", since + timedelta(minutes=1))
    evaluation = AssistantEvaluation(world.conversations, store, world.settings, RulesAssistant(),
                                     InMemoryLastingEvents(store))  # fmt: skip
    request = EvaluationRequest(business_id="acme", since=since, until=since + timedelta(days=1))

    result = await evaluation.evaluate(request)

    (turn,) = result.turns
    assert turn.customer_messages == ("Bonjour",)
    assert store.events_read == 2 * PAGE  # the window's page and one page before it


async def test_an_escalation_older_than_the_events_read_still_silences_the_replay() -> None:
    store = CountingStore()
    world = World(store)
    customer = "33600000001"
    long_ago = NOW - timedelta(days=30)
    escalated = ConversationEscalated(business_id="acme", cause="agent_took_over", reason="x",
                                      by="agent", at=long_ago)  # fmt: skip
    await world.append(customer, NewEvent(escalated, deterministic_event_id("esc", "old")))
    for n in range(3 * PAGE):
        await world.writes(customer, f"old {n}", long_ago)
    since = datetime.now(UTC) + CLOCK_MARGIN  # every event so far was recorded before it
    await world.writes(customer, "Bonjour", since + timedelta(minutes=1))
    evaluation = AssistantEvaluation(world.conversations, store, world.settings, RulesAssistant(),
                                     InMemoryLastingEvents(store))  # fmt: skip
    request = EvaluationRequest(business_id="acme", since=since, until=since + timedelta(days=1))

    (turn,) = (await evaluation.evaluate(request)).turns

    assert store.events_read == 2 * PAGE  # the escalation is far older than the pages read
    assert (turn.now.decision, turn.now.note) == ("skipped", "escalated")
