"""Ports: what the application needs from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from application.businesses import BusinessRoute
from application.event_log import (
    ANY,
    AppendRequest,
    AppendResult,
    ExpectedVersion,
    FeedPosition,
    NewEvent,
    RecordedEvent,
)
from application.gateway import SendAccepted, Sender
from application.notices import Incident, IncidentChanges, KeyedNotice, Notice
from domain.assistant import AssistantAnswer, AssistantContext
from domain.outbound import OutboundMessage, Recipient

TxT = TypeVar("TxT")
TxT_contra = TypeVar("TxT_contra", contravariant=True)


class EventStore(Protocol):
    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        """Append to one stream; raises ConcurrencyError when the expected version is wrong."""
        ...

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """Append to several streams as one unit: all requests are stored or none."""
        ...

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]: ...

    async def read_stream_backward(
        self, stream_id: str, before_version: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        """The stream's newest events first, those below ``before_version`` when it is given."""
        ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def read_feed(self, after: FeedPosition, limit: int) -> list[RecordedEvent]:
        """Events committed after ``after`` in commit order, never skipping a late commit."""
        ...


class TransactionalAppender(Protocol[TxT_contra]):
    """Appends inside a subscriber's own transaction (the ``tx`` its ``handle`` receives).

    A process manager takes one: its new events commit with its checkpoint, or neither
    does. Same rules as ``EventStore.append_atomic`` (ConcurrencyError, idempotent
    duplicates, UnstorableEventError); followers see the events once ``tx`` commits.
    ``last_position`` of the answer may be None until then.
    """

    async def append_on(
        self, tx: TxT_contra, requests: Sequence[AppendRequest]
    ) -> list[AppendResult]: ...


class Subscriber(Protocol[TxT_contra]):
    """Consumes the global feed; its writes share a transaction with its checkpoint."""

    @property
    def name(self) -> str: ...

    async def handle(self, tx: TxT_contra, events: Sequence[RecordedEvent]) -> None: ...


class SubscriptionSession(Protocol[TxT]):
    """What a subscriber's runner may do while it is the one active runner of its name."""

    async def load_checkpoint(self) -> FeedPosition: ...

    async def read_feed(self, after: FeedPosition, limit: int) -> Sequence[RecordedEvent]: ...

    def transaction(self) -> AbstractAsyncContextManager[TxT]: ...

    async def save_checkpoint(self, tx: TxT, previous: FeedPosition, current: FeedPosition) -> None:
        """Move the checkpoint inside ``tx``; fails if it is no longer at ``previous``."""
        ...

    async def record_error(self, message: str) -> None: ...

    def may_park(self, error: Exception) -> bool:
        """Could the event be at fault (bad data, a bug on it) rather than the database?

        Only such failures count towards parking; a lost connection, a timeout or a
        checkpoint taken by another runner never set an event aside.
        """
        ...

    async def park(self, event: RecordedEvent, error: str, attempts: int,
                   previous: FeedPosition) -> None:  # fmt: skip
        """Set ``event`` aside with its error and move the checkpoint past it, atomically."""
        ...

    async def wait_for_events(self, timeout: float) -> None:
        """Return when new events may be there (a notification) or after ``timeout`` seconds."""
        ...


class SubscriptionSource(Protocol[TxT]):
    def lead(self, name: str) -> AbstractAsyncContextManager[SubscriptionSession[TxT]]:
        """Wait until this runner is the only active one for ``name`` and hold that role.

        Leaving the context (or losing the connection behind it) gives the role up,
        so a runner in another process takes over.
        """
        ...


class BusinessDirectory(Protocol):
    """Which business owns a phone number or a WhatsApp Business Account."""

    async def by_phone_number(self, phone_number_id: str) -> BusinessRoute | None: ...

    async def by_account(self, account_id: str) -> BusinessRoute | None: ...


class WhatsAppGateway(Protocol):
    """The Graph API's messages endpoint: every outbound message and read receipt leaves here.

    Both methods raise ``application.gateway.GatewayError`` carrying the classification
    of the failure; callers check WhatsApp's limits (``domain.whatsapp_limits``) first.
    """

    async def send(
        self, sender: Sender, recipient: Recipient, message: OutboundMessage
    ) -> SendAccepted: ...

    async def mark_read(self, sender: Sender, wamid: str, typing_indicator: bool = True) -> None:
        """Mark an inbound message read, showing the typing indicator (up to 25 s) by default."""
        ...


class Notifier(Protocol):
    """One channel that tells the team (log, JSON webhook, email)."""

    @property
    def channel(self) -> str:
        """A stable name: pending deliveries are kept per channel."""
        ...

    async def send(self, notice: Notice) -> None:
        """Deliver the notice or raise NotificationError (whose message holds no secret)."""
        ...


class NoticeQueue(Protocol[TxT_contra]):
    """Pending notices, written in a subscriber's transaction."""

    async def enqueue(self, tx: TxT_contra, notices: Sequence[KeyedNotice]) -> int:
        """Queue each notice once per channel; a key already queued is skipped. The count."""
        ...

    async def open_incidents(
        self, tx: TxT_contra, business_ids: Collection[str]
    ) -> dict[Incident, datetime]:
        """The open incidents of these businesses, with when each opened."""
        ...

    async def save_incidents(self, tx: TxT_contra, changes: IncidentChanges) -> None:
        """End the incidents of ``changes.ended`` businesses, then open ``changes.opened``."""
        ...


@dataclass(frozen=True, slots=True)
class NoticeDelivery:
    id: int
    channel: str
    notice: Notice
    attempt: int  # 1 for the first try


class NoticeDeliveries(Protocol):
    """What the delivery worker does with pending notices; safe across processes."""

    async def claim_due(
        self, channels: Sequence[str], limit: int, lease_seconds: float
    ) -> list[NoticeDelivery]:
        """Take due deliveries for ``lease_seconds``; an unsettled one is due again after it."""
        ...

    async def delivered(self, delivery_id: int) -> None: ...

    async def retry_at(self, delivery_id: int, error: str, when: datetime) -> None: ...


class AssistantUnavailableError(Exception):
    """The assistant could not answer (timeout, provider error, unusable answer).

    ``reason`` is readable and holds no secret; the turn sends the fallback message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Assistant(Protocol):
    """Decides the answer to a turn's customer messages: the offline rules or a provider."""

    @property
    def provider(self) -> str: ...

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        """The decision; ``AssistantUnavailableError`` when none can be had in time."""
        ...
