"""Queueing a message for a conversation: the way in for agents, operators and the assistant.

Everything is decided before anything is written: the conversation belongs to the caller's
business, the message keeps WhatsApp's limits, a free-form message finds the 24-hour
window open (by the customer's last message in the conversation's own stream), a quoted
message is one of this conversation. The queued event and the caller's idempotency key
then commit in one transaction, so a retried request never queues a message twice.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

import msgspec

from application.event_log import NewEvent
from application.idempotency import (
    KEY_FIELD,
    KEY_REUSED,
    KeyToRemember,
    RememberedKey,
    same_request,
)
from application.templates import TemplateBook, prepare_template
from domain.events import EventMetadata
from domain.outbound import OutboundMessage, Recipient, TemplateMessage, recipient_of
from domain.outbox import OutboundMessageQueued, RequestedBy, queued_event_id
from domain.service_window import WINDOW_CLOSED_REASON, may_send, needs_open_window
from domain.whatsapp_limits import MessageLimitError, check_message

IDEMPOTENCY_KEY_MAX: Final = 255


class Refusal(enum.Enum):
    NOT_FOUND = "not_found"
    WINDOW_CLOSED = "service_window_closed"
    INVALID = "invalid"  # a field breaks a limit or names nothing; ``field`` says which
    KEY_REUSED = "idempotency_key_reused"
    NOT_SENDABLE = "not_sendable"  # e.g. a group conversation


class SendRefusedError(Exception):
    """The message is not queued; nothing was written."""

    def __init__(self, refusal: Refusal, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class SendCommand:
    """``message.reply_to`` holds the timeline id of the quoted message, not its wamid."""

    business_id: str
    conversation_id: str  # the public id
    message: OutboundMessage
    requested_by: RequestedBy
    cause: str  # what asked for it (an API request, a command), kept in the event's metadata
    idempotency_key: str | None = None
    request_fingerprint: str = ""  # the same key must come with the same request


@dataclass(frozen=True, slots=True)
class QueuedAnswer:
    message_id: str
    replayed: bool = False  # the answer a first request with the same key got


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    stream_id: str
    phone_number_id: str
    customer_id: str
    customer_phone: str | None
    customer_user_id: str | None
    is_group: bool

    def recipient(self) -> Recipient:
        """The customer's phone number when known, else their business-scoped user id."""
        return recipient_of(self.customer_phone, self.customer_user_id, self.customer_id)


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    wamid: str | None  # None while a message we queued waits for Meta's acceptance


class SendingUnit(Protocol):
    """One transaction: every read happens before ``queue`` writes."""

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None: ...

    async def conversation(
        self, business_id: str, conversation_id: str
    ) -> ConversationFacts | None: ...

    async def last_customer_message_at(self, stream_id: str) -> datetime | None: ...

    async def quoted(
        self, business_id: str, stream_id: str, message_id: str
    ) -> QuotedMessage | None: ...

    async def queue(
        self, stream_id: str, new: NewEvent, key: KeyToRemember | None
    ) -> RememberedKey | None:
        """Append the queued event with the key; or, when another request stored the same
        key first, write nothing and return what it stored."""
        ...


class SendingUnits(Protocol):
    def begin(self) -> AbstractAsyncContextManager[SendingUnit]: ...


class MessageSending:
    def __init__(
        self,
        units: SendingUnits,
        templates: TemplateBook,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._units = units
        self._templates = templates
        self._clock = clock
        self._new_id = new_id

    async def send(self, command: SendCommand) -> QueuedAnswer:
        message = checked(command.message)
        async with self._units.begin() as unit:
            if command.idempotency_key is not None:
                known = await unit.remembered(command.business_id, command.idempotency_key)
                if known is not None:
                    return replay(known, command)
            facts = await _conversation(unit, command)
            if isinstance(message, TemplateMessage):
                message = await prepare_template(self._templates, command.business_id, message)
            await self._check_window(unit, facts, message)
            message = await _quote(unit, command, facts, message)
            message_id = self._new_id()
            event = OutboundMessageQueued(
                message_id=message_id, business_id=command.business_id,
                conversation_stream=facts.stream_id, phone_number_id=facts.phone_number_id,
                recipient=facts.recipient(), message=message,
                requested_by=command.requested_by, queued_at=self._clock(),
            )  # fmt: skip
            metadata = EventMetadata(correlation_id=command.cause, causation_id=command.cause)
            key = None
            if command.idempotency_key is not None:
                key = KeyToRemember(command.business_id, command.idempotency_key,
                                    command.request_fingerprint, message_id)  # fmt: skip
            new = NewEvent(event, queued_event_id(message_id), metadata)
            raced = await unit.queue(facts.stream_id, new, key)
            if raced is not None:
                return replay(raced, command)
            return QueuedAnswer(message_id)

    async def _check_window(
        self, unit: SendingUnit, facts: ConversationFacts, message: OutboundMessage
    ) -> None:
        if not needs_open_window(message):
            return
        last = await unit.last_customer_message_at(facts.stream_id)
        if not may_send(message, last, self._clock()):
            raise SendRefusedError(Refusal.WINDOW_CLOSED, _sentence(WINDOW_CLOSED_REASON))


def checked(message: OutboundMessage) -> OutboundMessage:
    try:
        return check_message(message)
    except MessageLimitError as error:
        raise SendRefusedError(Refusal.INVALID, _sentence(str(error)), error.field) from None


def replay(known: RememberedKey, command: SendCommand) -> QueuedAnswer:
    if not same_request(known, command.request_fingerprint):
        raise SendRefusedError(Refusal.KEY_REUSED, KEY_REUSED, KEY_FIELD)
    return QueuedAnswer(known.answer, replayed=True)  # a send's answer is its message id


async def _conversation(unit: SendingUnit, command: SendCommand) -> ConversationFacts:
    facts = await unit.conversation(command.business_id, command.conversation_id)
    if facts is None:
        raise SendRefusedError(Refusal.NOT_FOUND, "This business has no conversation with that id.")
    if facts.is_group:
        raise SendRefusedError(
            Refusal.NOT_SENDABLE, "Sending to a group conversation is not supported."
        )
    return facts


async def _quote(
    unit: SendingUnit, command: SendCommand, facts: ConversationFacts, message: OutboundMessage
) -> OutboundMessage:
    """The quoted message by its wamid, as Meta's context.message_id wants it."""
    if message.reply_to is None:
        return message
    quoted = await unit.quoted(command.business_id, facts.stream_id, message.reply_to)
    if quoted is None:
        raise SendRefusedError(Refusal.INVALID, "reply_to names no message of this conversation.",
                          "reply_to")  # fmt: skip
    if quoted.wamid is None:
        raise SendRefusedError(
            Refusal.INVALID,
            "reply_to names a message WhatsApp has not accepted yet; quote it once it is sent.",
            "reply_to",
        )
    return msgspec.structs.replace(message, reply_to=quoted.wamid)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


# --- the outbox, asked to try a failed message again -------------------------------------


class RetryOutcome(enum.Enum):
    RETRIED = "retried"
    NOT_FOUND = "not_found"
    NOT_FAILED = "not_failed"  # queued, being sent or accepted: nothing to retry


class OutboxRetries(Protocol):
    async def request_retry(
        self, business_id: str, message_id: str, requested_by: RequestedBy, cause: str
    ) -> RetryOutcome:
        """Record that a failed message of this business is to be sent again, and make it
        due at once, in one transaction."""
        ...
