"""Automatic replies end to end: the signed webhook, real PostgreSQL, the workers, the
assistant, and the Cloud API simulator that receives what the outbox sends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.whatsapp.simulator import inbound
from application.assistant_turns import EVENTS_READ
from application.event_log import NewEvent
from application.ports import AssistantUnavailableError
from domain.assistant import AssistantAnswer, AssistantContext, Reply
from domain.assistant_settings import AssistantSettingsChanged, SettingsChanges, settings_stream
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
)
from domain.conversation import (
    MessageEchoed,
    MessageReceived,
    MessageStatusUpdated,
    conversation_stream,
)
from domain.events import DomainEvent, deterministic_event_id
from domain.handoff import ConversationEscalated
from domain.inbound import DeliveryStatus, EchoedMessage, InboundMessage, TextContent
from domain.outbound import TextMessage
from domain.outbox import OutboundMessageQueued
from domain.public_ids import conversation_public_id
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world
from tests.support.webhooks import PHONE_NUMBER_ID

ON = {"WAZYBOT_AUTO_REPLIES": "true"}

TURN_OUTCOMES = (AssistantTurnCompleted, AssistantTurnFailed, AssistantTurnSkipped)


def sent_to(world: SendingWorld, phone: str) -> list[dict[str, Any]]:
    """The messages the simulator accepted for this customer (read receipts excluded)."""
    return [body for body in world.sim.sent_bodies() if body.get("to") == phone]


def text_of(body: dict[str, Any]) -> str:
    if body.get("type") == "text":
        return str(body["text"]["body"])
    return str(body["interactive"]["body"]["text"])


async def events(world: SendingWorld, phone: str) -> list[DomainEvent]:
    store = await resolve(world.container.event_store())
    recorded = await store.read_stream(conversation_stream(PHONE_NUMBER_ID, phone))
    return [r.event for r in recorded]


async def outcomes(world: SendingWorld, phone: str) -> list[DomainEvent]:
    return [e for e in await events(world, phone) if isinstance(e, TURN_OUTCOMES)]


async def wait_for_outcomes(world: SendingWorld, phone: str, count: int) -> list[DomainEvent]:
    async def enough() -> list[DomainEvent] | None:
        found = await outcomes(world, phone)
        assert len(found) <= count, found
        return found if len(found) == count else None

    found: list[DomainEvent] = await world.eventually(enough)
    return found


async def wait_for_sent(world: SendingWorld, phone: str, count: int) -> list[dict[str, Any]]:
    """Exactly ``count`` messages accepted for the customer once every queued one went out."""

    async def all_sent() -> list[dict[str, Any]] | None:
        queued = [e for e in await events(world, phone) if isinstance(e, OutboundMessageQueued)]
        bodies = sent_to(world, phone)
        return bodies if len(queued) == count and len(bodies) == count else None

    found: list[dict[str, Any]] = await world.eventually(all_sent)
    return found


class HeldAssistant:
    """Answers after ``release`` for its first call; records every context it was given."""

    provider = "held"

    def __init__(self) -> None:
        self.contexts: list[AssistantContext] = []
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.contexts.append(context)
        self.called.set()
        if len(self.contexts) == 1:
            await self.release.wait()
        said = " + ".join(m.text for m in context.new_messages)
        return AssistantAnswer(decision=Reply(message=TextMessage(body=f"Re: {said}")),
                               provider=self.provider)  # fmt: skip


async def test_messages_sent_during_a_turn_get_one_combined_answer(database_url: str) -> None:
    phone = "33612345004"
    assistant = HeldAssistant()
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await world.customer_writes("Bonjour", phone=phone)
        await asyncio.wait_for(assistant.called.wait(), 20)
        await world.customer_writes("Je voudrais un gâteau", phone=phone)
        await world.customer_writes("pour samedi", phone=phone)

        async def both_requested() -> bool:
            found = await events(world, phone)
            return sum(isinstance(e, AssistantTurnRequested) for e in found) == 3

        await world.eventually(both_requested)
        assistant.release.set()
        sent = await wait_for_sent(world, phone, 2)
        await wait_for_outcomes(world, phone, 2)

    assert [text_of(body) for body in sent] == [
        "Re: Bonjour",
        "Re: Je voudrais un gâteau + pour samedi",
    ]
    assert len(assistant.contexts) == 2
    assert [s.text for s in assistant.contexts[1].history] == ["Bonjour", "Re: Bonjour"]


class DownAssistant:
    provider = "down"

    def __init__(self) -> None:
        self.calls = 0

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.calls += 1
        raise AssistantUnavailableError("the provider answered 500")


async def test_a_provider_that_is_down_gives_one_fallback_per_message_then_a_handoff(
    database_url: str,
) -> None:
    phone = "33612345005"
    assistant = DownAssistant()
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await world.customer_writes("Bonjour, vous livrez ?", phone=phone)
        await wait_for_outcomes(world, phone, 1)
        await world.customer_writes("Bonjour ? vous êtes là", phone=phone)
        await wait_for_outcomes(world, phone, 2)
        await world.customer_writes("Allô ?", phone=phone)
        first, second, third = await wait_for_outcomes(world, phone, 3)
        fallback, handoff = await wait_for_sent(world, phone, 2)
        found = await events(world, phone)

    assert isinstance(first, AssistantTurnFailed)
    assert not first.escalated
    assert first.consecutive_failures == 1
    assert "500" in first.reason
    assert isinstance(second, AssistantTurnFailed)
    assert second.escalated
    assert isinstance(third, AssistantTurnSkipped)
    assert third.reason == "escalated"
    assert text_of(fallback).startswith("Désolé")
    assert "équipe" in text_of(handoff)
    (escalated,) = [e for e in found if isinstance(e, ConversationEscalated)]
    assert escalated.cause == "repeated_failures"
    assert escalated.by == "system"
    assert assistant.calls == 2


class SlowForOneCustomer:
    """Holds every turn of one conversation until released; answers the others at once."""

    provider = "slow-for-one"

    def __init__(self, slow_phone: str) -> None:
        stream = conversation_stream(PHONE_NUMBER_ID, slow_phone)
        self.slow_conversation = conversation_public_id("default", stream)
        self.slow_started = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        if context.conversation_id == self.slow_conversation:
            self.slow_started.set()
            await self.release.wait()
        return AssistantAnswer(
            decision=Reply(message=TextMessage(body="Réponse")), provider=self.provider
        )


async def test_a_slow_turn_never_delays_other_conversations(database_url: str) -> None:
    slow, quick = "33612345007", "33612345008"
    assistant = SlowForOneCustomer(slow)
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await world.customer_writes("Bonjour", phone=slow)
        await asyncio.wait_for(assistant.slow_started.wait(), 20)
        await world.customer_writes("Bonjour", phone=quick)
        await wait_for_sent(world, quick, 1)
        assert sent_to(world, slow) == []
        assistant.release.set()
        await wait_for_sent(world, slow, 1)


async def test_the_newest_message_is_marked_read_with_the_typing_indicator(
    database_url: str,
) -> None:
    phone = "33612345009"
    async with sending_world(database_url, **ON) as world:
        wamid = await world.customer_writes("Bonjour", phone=phone)
        await wait_for_sent(world, phone, 1)
        receipts = [
            r.body for r in world.sim.requests
            if isinstance(r.body, dict) and r.body.get("status") == "read"
        ]  # fmt: skip

    assert receipts == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
         "typing_indicator": {"type": "text"}}
    ]  # fmt: skip


async def test_a_settings_keyword_hands_over_without_asking_the_assistant(
    database_url: str,
) -> None:
    phone = "33612345011"
    assistant = DownAssistant()  # would fail if it were asked
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        keywords = {"escalation_keywords": ["remboursement"]}
        changed = await world.http.patch("/api/v1/assistant", json=keywords)
        assert changed.status_code == 200, changed.text
        await world.customer_writes("Je veux un Remboursement svp", phone=phone)
        (handoff,) = await wait_for_sent(world, phone, 1)
        (outcome,) = await wait_for_outcomes(world, phone, 1)
        (escalated,) = [
            e for e in await events(world, phone) if isinstance(e, ConversationEscalated)
        ]

    assert isinstance(outcome, AssistantTurnCompleted)
    assert outcome.provider == "keywords"
    assert escalated.cause == "keyword"
    assert "remboursement" in escalated.reason
    assert "équipe" in text_of(handoff)
    assert assistant.calls == 0


async def test_an_agents_reply_pauses_the_assistant_and_auto_reply_off_silences_it(
    database_url: str,
) -> None:
    agent_helped, switched_off = "33612345012", "33612345013"
    async with sending_world(database_url, **ON) as world:
        await world.customer_writes("Bonjour", phone=agent_helped)
        await wait_for_sent(world, agent_helped, 1)
        conversation = await world.conversation_of(agent_helped)
        answer = await world.send(conversation, {"text": "Bonjour, c'est Paul du magasin."})
        assert answer.status_code == 202, answer.text
        await world.customer_writes("Merci Paul, une question", phone=agent_helped)
        _, paused = await wait_for_outcomes(world, agent_helped, 2)

        off = await world.http.patch("/api/v1/assistant", json={"auto_reply": False})
        assert off.status_code == 200, off.text
        await world.customer_writes("Bonjour", phone=switched_off)
        (silent,) = await wait_for_outcomes(world, switched_off, 1)
        assert sent_to(world, switched_off) == []
        await wait_for_sent(world, agent_helped, 2)  # the bot's first reply and Paul's

    assert isinstance(paused, AssistantTurnSkipped)
    assert paused.reason == "human_replied"
    assert isinstance(silent, AssistantTurnSkipped)
    assert silent.reason == "auto_reply_off"


class RecordingAssistant:
    """Answers every turn at once, keeping what it was shown."""

    provider = "recording"

    def __init__(self) -> None:
        self.contexts: list[AssistantContext] = []

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.contexts.append(context)
        return AssistantAnswer(decision=Reply(message=TextMessage(body="Bien reçu")),
                               provider=self.provider)  # fmt: skip


async def test_each_kind_of_customer_message_reaches_the_assistant_and_a_reaction_does_not(
    database_url: str,
) -> None:
    phone = "33612345014"
    assistant = RecordingAssistant()
    kinds = [
        inbound.media("image", "media-1", "image/jpeg", caption="la vitrine"),
        inbound.location(48.85, 2.35, name="Boutique", address="12 rue des Lilas"),
        inbound.contacts("Ana Rivera", "+33 6 11 22 33 44"),
    ]
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        first = await world.customer_writes("Bonjour", phone=phone)
        await wait_for_sent(world, phone, 1)
        await world.sim.customer_sends(inbound.reaction(first, "👍"), phone=phone)
        tapped = inbound.button_reply("hours", "Horaires", reply_to=first)
        await world.sim.customer_sends(tapped, phone=phone)
        await wait_for_outcomes(world, phone, 2)
        for count, message in enumerate(kinds, start=3):
            await world.sim.customer_sends(message, phone=phone)
            await wait_for_outcomes(world, phone, count)
        await wait_for_sent(world, phone, 5)

    shown = [context.new_messages for context in assistant.contexts]
    assert [[(m.kind, m.text) for m in messages] for messages in shown] == [
        [("text", "Bonjour")],
        [("button", "Horaires")],
        [("image", "la vitrine")],
        [("location", "Boutique, 12 rue des Lilas")],
        [("contacts", "Ana Rivera +33 6 11 22 33 44")],
    ]
    assert shown[1][0].choice_id == "hours"
    assert shown[2][0].unseen_media == "image"


async def echo_from_business_app(world: SendingWorld, phone: str) -> None:
    store = await resolve(world.container.event_store())
    message = EchoedMessage(
        phone_number_id=PHONE_NUMBER_ID, customer_id=phone, wamid=f"wamid.echo-{phone}",
        sent_at=datetime.now(UTC), type="text", content=TextContent(body="Je regarde ça"),
    )  # fmt: skip
    echoed = MessageEchoed(business_id="default", message=message)
    await store.append(
        conversation_stream(PHONE_NUMBER_ID, phone),
        [NewEvent(echoed, deterministic_event_id("test-echo", phone))],
    )


async def intervene(world: SendingWorld, phone: str, how: str) -> None:
    """A person or the business acts on the conversation."""
    if how == "echo":
        await echo_from_business_app(world, phone)
        return
    if how == "auto_reply_off":
        off = await world.http.patch("/api/v1/assistant", json={"auto_reply": False})
        assert off.status_code == 200, off.text
        return
    conversation = await world.conversation_of(phone)
    if how == "escalated":
        answer = await world.http.post(f"/api/v1/conversations/{conversation}/escalate")
        assert answer.status_code == 200, answer.text
    else:
        answer = await world.send(conversation, {"text": "Bonjour, c'est Paul du magasin."})
        assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("how", "reason"),
    [("escalated", "escalated"), ("agent", "human_replied"), ("echo", "human_replied"),
     ("auto_reply_off", "auto_reply_off")],
)  # fmt: skip
async def test_a_person_acting_while_the_assistant_thinks_cancels_its_reply(
    database_url: str, how: str, reason: str
) -> None:
    phone = "33612345015"
    assistant = HeldAssistant()
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await world.customer_writes("Bonjour", phone=phone)
        await asyncio.wait_for(assistant.called.wait(), 20)
        await intervene(world, phone, how)
        assistant.release.set()
        (outcome,) = await wait_for_outcomes(world, phone, 1)
        found = await events(world, phone)

    assert isinstance(outcome, AssistantTurnSkipped)
    assert outcome.reason == reason
    queued = [e for e in found if isinstance(e, OutboundMessageQueued)]
    assert [e.requested_by for e in queued] == (["agent"] if how == "agent" else [])
    escalations = [e for e in found if isinstance(e, ConversationEscalated)]
    assert [e.by for e in escalations] == (["agent"] if how == "escalated" else [])


class FailingAfterHold:
    """Fails every call; the second one only once ``release`` is set."""

    provider = "failing"

    def __init__(self) -> None:
        self.calls = 0
        self.second_called = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.calls += 1
        if self.calls == 2:
            self.second_called.set()
            await self.release.wait()
        raise AssistantUnavailableError("the provider answered 500")


async def test_a_failure_counts_from_the_conversation_as_it_is_when_recorded(
    database_url: str,
) -> None:
    """One failure so far (the limit is 2); while the next turn waits on the provider, an
    agent takes the conversation and gives it back, which starts the count again: the
    failing turn sends a fallback instead of handing over right after the agent did."""
    phone = "33612345016"
    assistant = FailingAfterHold()
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await world.customer_writes("Bonjour", phone=phone)
        await wait_for_outcomes(world, phone, 1)
        await world.customer_writes("Vous êtes là ?", phone=phone)
        await asyncio.wait_for(assistant.second_called.wait(), 20)
        conversation = await world.conversation_of(phone)
        for action in ("escalate", "resolve"):
            answer = await world.http.post(f"/api/v1/conversations/{conversation}/{action}")
            assert answer.status_code == 200, answer.text
        assistant.release.set()
        _, second = await wait_for_outcomes(world, phone, 2)
        found = await events(world, phone)

    assert isinstance(second, AssistantTurnFailed)
    assert second.consecutive_failures == 1
    assert not second.escalated
    escalations = [e for e in found if isinstance(e, ConversationEscalated)]
    assert [e.by for e in escalations] == ["agent"]


async def test_an_escalation_long_ago_still_keeps_the_assistant_silent(
    database_url: str,
) -> None:
    escalated, agent_helped = "33612345016", "33612345017"
    async with sending_world(database_url, **ON) as world:
        for phone in (escalated, agent_helped):
            await world.customer_writes("Bonjour", phone=phone)
            await wait_for_sent(world, phone, 1)
        await intervene(world, escalated, "escalated")
        await intervene(world, agent_helped, "agent")
        for phone in (escalated, agent_helped):
            await many_statuses(world, phone, EVENTS_READ + 100)
            await world.customer_writes("Vous êtes là ?", phone=phone)
        _, silent = await wait_for_outcomes(world, escalated, 2)
        _, paused = await wait_for_outcomes(world, agent_helped, 2)
        await wait_for_sent(world, agent_helped, 2)  # the first reply and the agent's

    assert isinstance(silent, AssistantTurnSkipped)
    assert silent.reason == "escalated"
    assert isinstance(paused, AssistantTurnSkipped)
    assert paused.reason == "human_replied"
    assert len(sent_to(world, escalated)) == 1


async def many_statuses(world: SendingWorld, phone: str, count: int) -> None:
    """``count`` delivery statuses on the conversation, appended at once."""
    store = await resolve(world.container.event_store())
    now = datetime.now(UTC)
    updates = [
        NewEvent(
            MessageStatusUpdated(business_id="default", status=DeliveryStatus(
                phone_number_id=PHONE_NUMBER_ID, recipient_id=phone, wamid=f"wamid.old-{n}",
                status="read", at=now,
            )),
            deterministic_event_id("test-status", phone, str(n)),
        )
        for n in range(count)
    ]  # fmt: skip
    await store.append(conversation_stream(PHONE_NUMBER_ID, phone), updates)


async def test_a_group_gets_no_automatic_reply_even_with_an_old_setting_asking_for_one(
    database_url: str,
) -> None:
    group = "group:120363000000000001"
    async with sending_world(database_url, **ON) as world:
        store = await resolve(world.container.event_store())
        old = AssistantSettingsChanged(  # stored before turning groups on was refused
            business_id="default", changes=SettingsChanges(group_auto_replies=True)
        )
        await store.append(settings_stream("default"), [NewEvent(old, uuid.uuid4())], 0)
        message = InboundMessage(
            phone_number_id=PHONE_NUMBER_ID, customer_id="33612345018", wamid="wamid.group-1",
            sent_at=datetime.now(UTC), type="text", content=TextContent(body="Bonjour à tous"),
            group_id="120363000000000001",
        )  # fmt: skip
        received = MessageReceived(business_id="default", message=message, customer=group)
        await store.append(
            conversation_stream(PHONE_NUMBER_ID, group),
            [NewEvent(received, deterministic_event_id("test-group-message"))],
        )
        (outcome,) = await wait_for_outcomes(world, group, 1)
        found = await events(world, group)

    assert isinstance(outcome, AssistantTurnSkipped)
    assert outcome.reason == "group"
    assert not [e for e in found if isinstance(e, OutboundMessageQueued)]
