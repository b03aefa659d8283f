"""Queueing a message, decided with in-memory units: what is queued, and what is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.sending import InMemorySendingUnits
from adapters.memory.templates import InMemoryTemplateBook
from application.sending import (
    ConversationFacts,
    MessageSending,
    Refusal,
    SendCommand,
    SendRefusedError,
)
from application.templates import StoredTemplate, TemplateError
from domain.outbound import (
    OutboundMessage,
    Recipient,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateMessage,
    TextMessage,
)
from domain.outbox import OutboundMessageQueued, queued_event_id
from tests.support.events import TEST_CODEC

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHAT = "c" * 32
STREAM = "conversation-1122334455667-15550001111"
IDS = iter(f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 1000))


def units(
    *, last_received: datetime | None = NOW - timedelta(hours=1), phone: str | None = "15550001111",
    user_id: str | None = None, group: bool = False,
) -> InMemorySendingUnits:  # fmt: skip
    memory = InMemorySendingUnits()
    memory.state.conversations["acme", CHAT] = ConversationFacts(
        stream_id=STREAM, phone_number_id="1122334455667", customer_id=phone or user_id or "",
        customer_phone=phone, customer_user_id=user_id, is_group=group,
    )  # fmt: skip
    if last_received is not None:
        memory.state.last_received[STREAM] = last_received
    return memory


def command(message: OutboundMessage, **changes: str) -> SendCommand:
    return replace(SendCommand(business_id="acme", conversation_id=CHAT, message=message,
                               requested_by="agent", cause="test"), **changes)  # fmt: skip


def sending(memory: InMemorySendingUnits) -> MessageSending:
    book = InMemoryTemplateBook(InMemoryEventStore(TEST_CODEC))
    book.put(StoredTemplate(business_id="acme", name="order_update", language="fr",
                            status="APPROVED", category="UTILITY", quality=None,
                            components=[{"type": "BODY", "text": "Your order left."}],
                            template_id="1", updated_at=NOW, last_event_id="e1"))  # fmt: skip
    return MessageSending(memory, book, clock=lambda: NOW, new_id=lambda: next(IDS))


def queued_events(memory: InMemorySendingUnits) -> list[OutboundMessageQueued]:
    events = [new.event for _, new in memory.state.queued]
    assert all(isinstance(e, OutboundMessageQueued) for e in events)
    return events  # type: ignore[return-value]


async def test_a_text_in_the_window_is_queued_with_its_recipient_and_cause() -> None:
    memory = units()
    answer = await sending(memory).send(command(TextMessage(body="hi")))
    [(stream, new)] = memory.state.queued
    event = new.event
    assert isinstance(event, OutboundMessageQueued)
    assert (stream, event.conversation_stream, event.message_id) == (
        STREAM, STREAM, answer.message_id
    )  # fmt: skip
    assert new.event_id == queued_event_id(answer.message_id)
    assert event.recipient == Recipient(phone_number="15550001111")
    assert (event.requested_by, event.queued_at, new.metadata.causation_id) == (
        "agent", NOW, "test"
    )  # fmt: skip


async def test_a_customer_known_only_by_bsuid_is_addressed_by_it() -> None:
    memory = units(phone=None, user_id="US.13491208655302741918")
    await sending(memory).send(command(TextMessage(body="hi")))
    assert queued_events(memory)[0].recipient == Recipient(user_id="US.13491208655302741918")


@pytest.mark.parametrize(
    ("last_received", "refused"),
    [
        (NOW - timedelta(hours=23, minutes=59), False),
        (NOW - timedelta(hours=24), True),  # the window closes 24 hours after, exactly
        (None, True),  # the customer never wrote
    ],
)
async def test_free_form_needs_the_window_and_templates_do_not(
    last_received: datetime | None, refused: bool
) -> None:
    memory = units(last_received=last_received)
    service = sending(memory)
    if refused:
        with pytest.raises(SendRefusedError) as error:
            await service.send(command(TextMessage(body="hi")))
        assert error.value.refusal is Refusal.WINDOW_CLOSED
    else:
        await service.send(command(TextMessage(body="hi")))
    await service.send(command(TemplateMessage(name="order_update", language="fr")))
    assert len(memory.state.queued) == (1 if refused else 2)


async def test_broken_limits_name_the_field_and_queue_nothing() -> None:
    memory = units()
    buttons = tuple(ReplyButton(id=str(n), title=f"t{n}") for n in range(4))
    with pytest.raises(SendRefusedError) as error:
        await sending(memory).send(command(ReplyButtonsMessage(body="b", buttons=buttons)))
    assert (error.value.refusal, error.value.field) == (Refusal.INVALID, "buttons")
    assert memory.state.queued == []


async def test_reply_to_is_sent_as_the_quoted_wamid_of_this_conversation() -> None:
    memory = units()
    memory.state.messages["acme", STREAM, "q" * 32] = "wamid.question"
    memory.state.messages["acme", STREAM, "p" * 32] = None  # ours, not accepted yet
    service = sending(memory)
    await service.send(command(TextMessage(body="yes", reply_to="q" * 32)))
    assert queued_events(memory)[0].message.reply_to == "wamid.question"
    for unknown in ("p" * 32, "z" * 32):
        with pytest.raises(SendRefusedError) as error:
            await service.send(command(TextMessage(body="yes", reply_to=unknown)))
        assert (error.value.refusal, error.value.field) == (Refusal.INVALID, "reply_to")
    assert len(memory.state.queued) == 1


async def test_unknown_conversations_and_groups_are_refused() -> None:
    with pytest.raises(SendRefusedError) as unknown:
        await sending(units()).send(command(TextMessage(body="hi"), business_id="globex"))
    assert unknown.value.refusal is Refusal.NOT_FOUND
    with pytest.raises(SendRefusedError) as group:
        await sending(units(group=True)).send(command(TextMessage(body="hi")))
    assert group.value.refusal is Refusal.NOT_SENDABLE


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_request() -> None:
    memory = units()
    service = sending(memory)
    keyed = {"idempotency_key": "k-1", "request_fingerprint": "f-1"}
    first = await service.send(command(TextMessage(body="hi"), **keyed))
    again = await service.send(command(TextMessage(body="hi"), **keyed))
    assert (again.message_id, again.replayed, first.replayed) == (first.message_id, True, False)
    with pytest.raises(SendRefusedError) as error:
        await service.send(command(TextMessage(body="other"), idempotency_key="k-1",
                                   request_fingerprint="f-2"))  # fmt: skip
    assert error.value.refusal is Refusal.KEY_REUSED
    assert len(memory.state.queued) == 1


async def test_a_template_not_approved_in_that_language_is_refused_and_nothing_queued() -> None:
    memory = units()
    with pytest.raises(TemplateError) as error:
        await sending(memory).send(command(TemplateMessage(name="order_update", language="en")))
    assert (error.value.code, error.value.field) == ("template_not_approved", "template.language")
    assert memory.state.queued == []
