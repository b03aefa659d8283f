"""How the metrics projection counts a batch: pure, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from application.event_log import FeedPosition, RecordedEvent
from application.projections import ConversationKey, metrics_changes
from domain.conversation import (
    MessageReceived,
    MessageStatusUpdated,
    conversation_stream,
)
from domain.events import DomainEvent, EventMetadata
from domain.inbound import DeliveryStatus, InboundMessage, TextContent, WhatsAppError

NUMBER = "1122334455667"
ANA = "15550001111"
CHAT = conversation_stream(NUMBER, ANA)
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def recorded(events: list[DomainEvent]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            CHAT, n + 1, FeedPosition(1, n + 1), uuid.uuid4(), "t", event, EventMetadata(), T0
        )
        for n, event in enumerate(events)
    ]


def received(seconds: int) -> MessageReceived:
    message = InboundMessage(
        phone_number_id=NUMBER, customer_id=ANA, wamid=f"wamid.in-{seconds}",
        sent_at=T0 + timedelta(seconds=seconds), type="text", content=TextContent(body="hi"),
    )  # fmt: skip
    return MessageReceived(business_id="acme", message=message)


def status(wamid: str, state: str, seconds: int) -> MessageStatusUpdated:
    errors = (WhatsAppError(code=131026, title="Undeliverable"),) if state == "failed" else ()
    return MessageStatusUpdated(business_id="acme", status=DeliveryStatus(
        phone_number_id=NUMBER, recipient_id=ANA, wamid=wamid, status=state,
        at=T0 + timedelta(seconds=seconds), errors=errors,
    ))  # fmt: skip


def counts(events: list[DomainEvent]) -> dict[str, int]:
    changes = metrics_changes(recorded(events), {}, {})
    (hour,) = changes.hours.values()
    return {
        "sent": hour.messages_sent,
        "delivered": hour.messages_delivered,
        "read": hour.messages_read,
        "failed": hour.messages_failed,
    }


def test_a_failed_message_is_never_counted_delivered_and_a_delivered_one_never_failed() -> None:
    failed_first = [status("wamid.a", "failed", 1), status("wamid.a", "delivered", 2),
                    status("wamid.a", "read", 3)]  # fmt: skip
    delivered_first = [status("wamid.b", "delivered", 1), status("wamid.b", "failed", 2)]

    assert counts(failed_first) == {"sent": 1, "delivered": 0, "read": 0, "failed": 1}
    assert counts(delivered_first) == {"sent": 1, "delivered": 1, "read": 0, "failed": 0}


def test_each_status_is_counted_once_whatever_its_order() -> None:
    events = [status("wamid.c", s, n) for n, s in enumerate(["read", "sent", "delivered", "read"])]
    assert counts(events) == {"sent": 1, "delivered": 1, "read": 1, "failed": 0}


def test_two_turns_asked_in_the_same_second_are_two_responses() -> None:
    events = [
        received(5),
        status("wamid.r1", "sent", 5),
        received(5),
        status("wamid.r2", "sent", 9),
    ]
    changes = metrics_changes(recorded(events), {}, {})

    assert [r.seconds for r in changes.responses] == [0.0, 4.0]
    assert len({r.event_id for r in changes.responses}) == 2
    assert changes.waiting == {ConversationKey("acme", CHAT): None}


def test_a_turn_waiting_from_an_earlier_batch_is_answered_in_this_one() -> None:
    waiting = {ConversationKey("acme", CHAT): T0}
    changes = metrics_changes(recorded([status("wamid.r", "sent", 30)]), {}, waiting)

    (response,) = changes.responses
    assert response.seconds == 30.0
    assert response.asked_at == T0
