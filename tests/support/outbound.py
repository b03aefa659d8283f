"""Events of a conversation for the outbox tests: the customer's message, a queued reply."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from application.event_log import NewEvent
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.inbound import InboundMessage, TextContent
from domain.outbound import OutboundMessage, Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id


def customer_wrote(
    number: str, customer: str, at: datetime | None = None, *, business_id: str = "acme"
) -> NewEvent:
    """The customer's message that opens the 24-hour window (``at``: Meta's timestamp)."""
    wamid = f"wamid.in-{uuid.uuid4().hex}"
    message = InboundMessage(
        phone_number_id=number, customer_id=customer, wamid=wamid,
        sent_at=at or datetime.now(UTC), type="text", content=TextContent(body="hello"),
    )  # fmt: skip
    received = MessageReceived(business_id=business_id, message=message)
    return NewEvent(received, message_event_id(wamid))


def queued(
    number: str,
    customer: str,
    message: OutboundMessage | str,
    *,
    business_id: str = "acme",
    message_id: str | None = None,
) -> NewEvent:
    """A reply queued for ``customer`` on ``number`` (a text when ``message`` is a str)."""
    message_id = message_id or str(uuid.uuid4())
    event = OutboundMessageQueued(
        message_id=message_id, business_id=business_id,
        conversation_stream=conversation_stream(number, customer), phone_number_id=number,
        recipient=Recipient(phone_number=customer),
        message=TextMessage(body=message) if isinstance(message, str) else message,
        requested_by="ai", queued_at=datetime.now(UTC),
    )  # fmt: skip
    return NewEvent(event, queued_event_id(message_id))
