"""What each batch of events changes in the read models, decided without I/O.

The storage adapter loads whatever current state a decision needs, calls these
functions, and writes the outcome set-wise (a few statements per batch), in the
same transaction as the projection's checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from application.event_log import RecordedEvent
from domain.account import WebhookChangeRecovered, WebhookChangeUnreadable
from domain.conversation import (
    CustomerThrottled,
    CustomerThrottleLifted,
    MessageEchoed,
    MessageReceived,
    MessageStatusUpdated,
    WebhookProblemReported,
)
from domain.customer import lookup_identifiers
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.inbound import (
    CustomerIdentity,
    DeliveryStatus,
    MessageContent,
    MessageContext,
    SystemContent,
    WhatsAppError,
)
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageQueued,
    OutboundRetryRequested,
    OutboundSendFailed,
)
from domain.privacy import mask_phones_in, safe_error_details
from domain.public_ids import message_public_id
from domain.timeline import (
    FAILED,
    outbound_summary,
    outbound_type,
    status_moves_forward,
    summarize,
)
from domain.whatsapp_errors import reported_failure_reason

# --- conversations -----------------------------------------------------------------------


@dataclass(slots=True)
class ConversationChange:
    """What one batch changes in one conversation row (absent facts are left as stored)."""

    id: str
    business_id: str
    phone_number_id: str
    customer_id: str
    last_activity_at: datetime
    customer_name: str | None = None
    last_message_preview: str | None = None
    last_message_at: datetime | None = None
    last_message_direction: str | None = None
    last_customer_message_at: datetime | None = None
    unread_increment: int = 0
    throttle_known: bool = False
    throttled: bool = False
    throttled_until: datetime | None = None
    customer_phone: str | None = None
    customer_user_id: str | None = None
    customer_parent_user_id: str | None = None
    customer_username: str | None = None
    group_id: str | None = None
    identifiers: set[str] = field(default_factory=set)  # every one seen, for search

    def learn(self, identity: CustomerIdentity | None) -> None:
        """The newest identifiers Meta gave win; one it withheld keeps the one known."""
        if identity is None:
            return
        self.identifiers.update(lookup_identifiers(identity))
        self.customer_phone = identity.phone or self.customer_phone
        self.customer_user_id = identity.user_id or self.customer_user_id
        self.customer_parent_user_id = identity.parent_user_id or self.customer_parent_user_id
        self.customer_username = identity.username or self.customer_username

    def set_throttle(self, throttled: bool, until: datetime | None) -> None:
        self.throttle_known, self.throttled, self.throttled_until = True, throttled, until


_Changes = dict[tuple[str, str], ConversationChange]  # by (business id, conversation id)


def conversation_changes(events: Iterable[RecordedEvent]) -> list[ConversationChange]:
    changes: _Changes = {}
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageReceived):
            _received(changes, recorded.stream_id, event)
        elif isinstance(event, MessageStatusUpdated):
            _status_activity(changes, recorded.stream_id, event)
        elif isinstance(event, MessageEchoed):
            _echoed(changes, recorded.stream_id, event)
        elif isinstance(event, CustomerThrottled):
            _throttle(changes, recorded.stream_id, event, event.since).set_throttle(
                True, event.until
            )
        elif isinstance(event, CustomerThrottleLifted):
            _throttle(changes, recorded.stream_id, event, event.at).set_throttle(False, None)
    return list(changes.values())


def _throttle(
    changes: _Changes,
    stream: str,
    event: CustomerThrottled | CustomerThrottleLifted,
    at: datetime,
) -> ConversationChange:
    return _change(changes, stream, event.business_id, event.phone_number_id,
                   event.customer_id, at)  # fmt: skip


def _received(changes: _Changes, stream: str, event: MessageReceived) -> None:
    message = event.message
    change = _change(
        changes,
        stream,
        event.business_id,
        message.phone_number_id,
        event.customer or message.customer_id,
        message.sent_at,
    )
    if message.group_id:
        change.group_id = message.group_id
    else:
        change.learn(message.identity)
        if isinstance(message.content, SystemContent):  # a changed number or user id
            change.learn(message.content.new_identity)
    _show_latest(change, message.sent_at, message.content, "inbound")
    newest = change.last_customer_message_at
    if newest is None or message.sent_at >= newest:
        change.last_customer_message_at = message.sent_at
        # The profile name as of the customer's newest message, not the latest delivery.
        if not message.group_id:  # in a group the sender is one participant among many
            change.customer_name = message.customer_name or change.customer_name
    change.unread_increment += 1
    # The flag an event carries is the conversation's flag after it, late messages included.
    # Its end comes only from CustomerThrottled; None here keeps the end already stored.
    change.set_throttle(event.throttled, change.throttled_until if event.throttled else None)


def _status_activity(changes: _Changes, stream: str, event: MessageStatusUpdated) -> None:
    status = event.status
    if status.status == "sent":  # the business wrote to the customer
        change = _change(
            changes,
            stream,
            event.business_id,
            status.phone_number_id,
            event.customer or status.recipient_id,
            status.at,
        )
        if status.in_group:
            change.group_id = status.recipient_id
        else:
            change.learn(status.recipient)


def _echoed(changes: _Changes, stream: str, event: MessageEchoed) -> None:
    """Someone at the business answered from the WhatsApp Business app."""
    message = event.message
    change = _change(
        changes,
        stream,
        event.business_id,
        message.phone_number_id,
        event.customer or message.customer_id,
        message.sent_at,
    )
    change.learn(message.customer)
    _show_latest(change, message.sent_at, message.content, "outbound")


def _show_latest(
    change: ConversationChange, sent_at: datetime, content: MessageContent, direction: str
) -> None:
    """The conversation shows its newest message, whichever side wrote it."""
    if change.last_message_at is None or sent_at >= change.last_message_at:
        change.last_message_at = sent_at
        change.last_message_preview = summarize(content)
        change.last_message_direction = direction


def _change(
    changes: _Changes,
    stream: str,
    business_id: str,
    phone_number_id: str,
    customer_id: str,
    at: datetime,
) -> ConversationChange:
    change = changes.get((business_id, stream))
    if change is None:
        change = changes[business_id, stream] = ConversationChange(
            stream, business_id, phone_number_id, customer_id, last_activity_at=at
        )
    elif at > change.last_activity_at:
        change.last_activity_at = at
    return change


@dataclass(slots=True)
class HandoffChange:
    """What one batch changes in a conversation's handoff: who handles it, what is unread.

    These events only ever follow the conversation's first message, so its row exists.
    """

    business_id: str
    id: str
    handoff_known: bool = False
    status: str = "bot"
    assignee: str | None = None
    escalated_at: datetime | None = None
    escalation_cause: str | None = None
    escalation_reason: str | None = None
    escalated_by: str | None = None
    read: bool = False
    unread_after_read: int = 0  # customer messages after the batch's last marked read

    def escalate(self, event: ConversationEscalated) -> None:
        self.handoff_known, self.status, self.assignee = True, "escalated", event.assignee
        self.escalated_at, self.escalation_cause = event.at, event.cause
        self.escalation_reason, self.escalated_by = event.reason, event.by

    def resolve(self) -> None:
        self.handoff_known, self.status, self.assignee = True, "bot", None
        self.escalated_at = self.escalation_cause = self.escalation_reason = None
        self.escalated_by = None


def handoff_changes(events: Iterable[RecordedEvent]) -> list[HandoffChange]:
    """In log order: a conversation is escalated until resolved; its unread count starts
    again from zero at each marked read."""
    changes: dict[tuple[str, str], HandoffChange] = {}

    def change(business_id: str, stream: str) -> HandoffChange:
        found = changes.get((business_id, stream))
        if found is None:
            found = changes[business_id, stream] = HandoffChange(business_id, stream)
        return found

    for recorded in events:
        event = recorded.event
        if isinstance(event, ConversationEscalated):
            change(event.business_id, recorded.stream_id).escalate(event)
        elif isinstance(event, ConversationResolved):
            change(event.business_id, recorded.stream_id).resolve()
        elif isinstance(event, ConversationMarkedRead):
            marked = change(event.business_id, recorded.stream_id)
            marked.read, marked.unread_after_read = True, 0
        elif isinstance(event, MessageReceived):
            known = changes.get((event.business_id, recorded.stream_id))
            if known is not None and known.read:
                known.unread_after_read += 1
    return list(changes.values())


# --- messages (timelines) -----------------------------------------------------------------


class MessageKey(NamedTuple):
    business_id: str
    wamid: str


class TimelineMessage(NamedTuple):
    """A row of the timeline table, in its column order."""

    business_id: str
    conversation_id: str
    wamid: str | None  # None while a message we queued awaits Meta's acceptance
    direction: str
    sender: str
    type: str
    summary: str | None
    sent_at: datetime
    status: str | None = None
    status_at: datetime | None = None
    error_code: int | None = None
    error_title: str | None = None
    public_id: str = ""  # filled by ``with_public_id`` unless a queued message brings its own
    reply_to_wamid: str | None = None
    error_reason: str | None = None
    attempts: int | None = None
    error_details: str | None = None

    def with_public_id(self) -> TimelineMessage:
        if self.public_id or self.wamid is None:
            return self
        return self._replace(public_id=message_public_id(self.business_id, self.wamid))


class SettledStatus(NamedTuple):
    status: str
    at: datetime
    error_code: int | None
    error_title: str | None
    error_details: str | None = None


class StoredMessage(NamedTuple):
    """What the timeline already holds of a message a status is about."""

    status: str | None
    sent_at: datetime
    placeholder: bool  # known only from its statuses, dated by the earliest of them


class TimelineUpdate(NamedTuple):
    key: MessageKey
    sent_at: datetime
    status: SettledStatus | None


class StatusReports(NamedTuple):
    """One message's statuses in a batch, in feed order, and its conversation."""

    conversation_id: str
    statuses: list[DeliveryStatus]


@dataclass(slots=True)
class TimelineChanges:
    messages: list[TimelineMessage] = field(default_factory=list)
    statuses: dict[MessageKey, StatusReports] = field(default_factory=dict)
    echoes: dict[MessageKey, int] = field(default_factory=dict)  # -> index in ``messages``

    def status_keys(self) -> list[MessageKey]:
        """The messages whose stored rows the batch needs: those with statuses, and echoes."""
        return list(dict.fromkeys([*self.statuses, *self.echoes]))


@dataclass(slots=True)
class TimelineWrite:
    inserts: list[TimelineMessage]
    updates: list[TimelineUpdate]
    # echoed messages whose rows their statuses placed first: what they are, and when sent
    described: list[TimelineMessage] = field(default_factory=list)


_LAST_MICROSECOND: Final = timedelta(microseconds=999_999)


def within_its_second(stamped: datetime, recorded_at: datetime) -> datetime:
    """When a customer's message shows in the timeline: WhatsApp's time, in whole seconds,
    with the fraction of the moment WazyBot recorded it (kept inside that second).

    What WazyBot sends carries its own clock's fraction; without this a tap sent in the same
    second as the message it answers (a list, buttons) would sort above it. The shown second
    is WhatsApp's; within it, messages follow the order they arrived in.
    """
    if stamped.microsecond or recorded_at <= stamped:
        return stamped
    return stamped + min(recorded_at - stamped, _LAST_MICROSECOND)


def timeline_changes(events: Iterable[RecordedEvent]) -> TimelineChanges:
    changes = TimelineChanges()
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageReceived):
            message = event.message
            system = isinstance(message.content, SystemContent)
            changes.messages.append(TimelineMessage(
                event.business_id, recorded.stream_id, message.wamid, "inbound",
                "system" if system else "customer", message.type, summarize(message.content),
                within_its_second(message.sent_at, recorded.recorded_at),
                reply_to_wamid=_quoted(message.context),
            ).with_public_id())  # fmt: skip
        elif isinstance(event, MessageEchoed):
            echoed = event.message
            changes.echoes[MessageKey(event.business_id, echoed.wamid)] = len(changes.messages)
            changes.messages.append(TimelineMessage(
                event.business_id, recorded.stream_id, echoed.wamid, "outbound", "agent",
                echoed.type, summarize(echoed.content), echoed.sent_at,
                reply_to_wamid=_quoted(echoed.context),
            ).with_public_id())  # fmt: skip
        elif isinstance(event, MessageStatusUpdated):
            key = MessageKey(event.business_id, event.status.wamid)
            reports = changes.statuses.get(key)
            if reports is None:
                reports = changes.statuses[key] = StatusReports(recorded.stream_id, [])
            reports.statuses.append(event.status)
    return changes


def timeline_write(
    changes: TimelineChanges, stored: Mapping[MessageKey, StoredMessage]
) -> TimelineWrite:
    """New rows (messages, and sent messages known only from statuses) and changed rows.

    An echoed message may also have statuses: a row its statuses placed first is
    described by the echo (type, summary, send time), and statuses in the echo's own
    batch settle on the echo's new row, so any batching gives the same rows.
    """
    inserts = list(changes.messages)
    echoed = {key: index for key, index in changes.echoes.items() if key not in stored}
    updates: list[TimelineUpdate] = []
    for key, reports in changes.statuses.items():
        known = stored.get(key)
        settled = settle(known.status if known else None, reports.statuses)
        first_at = min(status.at for status in reports.statuses)
        if known is None and key in echoed:
            if settled is not None:
                inserts[echoed[key]] = inserts[echoed[key]]._replace(
                    status=settled.status, status_at=settled.at, error_code=settled.error_code,
                    error_title=settled.error_title, error_details=settled.error_details,
                )  # fmt: skip
            continue
        if known is None:
            placeholder = TimelineMessage(
                key.business_id,
                reports.conversation_id,
                key.wamid,
                "outbound",
                "agent",
                "unknown",
                None,
                first_at,
            )
            if settled is not None:
                placeholder = placeholder._replace(
                    status=settled.status, status_at=settled.at, error_code=settled.error_code,
                    error_title=settled.error_title, error_details=settled.error_details,
                )  # fmt: skip
            inserts.append(placeholder.with_public_id())
            continue
        sent_at = min(known.sent_at, first_at) if known.placeholder else known.sent_at
        if settled is not None or sent_at != known.sent_at:
            updates.append(TimelineUpdate(key, sent_at, settled))
    placed = {index for key, index in changes.echoes.items() if key in stored}
    described = [inserts[index] for index in placed]
    kept = [row for index, row in enumerate(inserts) if index not in placed]
    return TimelineWrite(kept, updates, described)


def _quoted(context: MessageContext | None) -> str | None:
    return context.reply_to_wamid if context is not None else None


# --- outbound messages on the timeline ------------------------------------------------------
# A message we queued has a row from its queuing on, keyed by its message id. When Meta
# accepts it, its wamid joins the row; a row its statuses made first (they may be recorded
# before the acceptance) is folded into it, so no placeholder stays for a message we sent.


class OutboundAcceptedStep(NamedTuple):
    message_id: str
    wamid: str
    attempt: int
    at: datetime


class OutboundFailedStep(NamedTuple):
    message_id: str
    attempt: int
    code: int | None
    title: str | None
    reason: str
    final: bool  # no attempt follows: the message failed
    at: datetime | None
    details: str | None = None


class OutboundRetryStep(NamedTuple):
    message_id: str
    at: datetime


OutboundStep = TimelineMessage | OutboundAcceptedStep | OutboundFailedStep | OutboundRetryStep


def outbound_steps(events: Iterable[RecordedEvent]) -> list[OutboundStep]:
    """What the batch's outbound events do to their rows, in log order."""
    steps: list[OutboundStep] = []
    for recorded in events:
        event = recorded.event
        if isinstance(event, OutboundMessageQueued):
            steps.append(_queued_row(recorded.stream_id, event))
        elif isinstance(event, OutboundMessageAccepted):
            steps.append(OutboundAcceptedStep(event.message_id, event.wamid, event.attempt,
                                              event.at))  # fmt: skip
        elif isinstance(event, OutboundSendFailed):
            steps.append(OutboundFailedStep(
                event.message_id, event.attempt, event.code, event.title, event.reason,
                event.next_attempt_at is None, event.at or recorded.recorded_at, event.details,
            ))  # fmt: skip
        elif isinstance(event, OutboundRetryRequested):
            steps.append(OutboundRetryStep(event.message_id, event.at))
    return steps


def _queued_row(stream_id: str, event: OutboundMessageQueued) -> TimelineMessage:
    message = event.message
    return TimelineMessage(
        event.business_id, stream_id, None, "outbound", event.requested_by,
        outbound_type(message), outbound_summary(message), event.queued_at, "queued",
        event.queued_at, public_id=event.message_id, reply_to_wamid=message.reply_to,
        attempts=0,
    )  # fmt: skip


def settle(current: str | None, statuses: Sequence[DeliveryStatus]) -> SettledStatus | None:
    """Apply statuses in feed order over the stored one; the last real move, if any."""
    moved: DeliveryStatus | None = None
    for status in statuses:
        if status_moves_forward(current, status.status):
            current, moved = status.status, status
    if moved is None:
        return None
    error = moved.errors[0] if moved.errors else None
    return SettledStatus(moved.status, moved.at, error.code if error else None,
                         error.title if error else None,
                         safe_error_details(error.details) if error else None)  # fmt: skip


# --- errors ------------------------------------------------------------------------------------


class ErrorRow(NamedTuple):
    event_id: str
    ordinal: int
    business_id: str
    kind: str
    code: int | None
    title: str
    detail: str
    conversation_id: str | None
    wamid: str | None
    occurred_at: datetime
    message_id: str | None = None
    error_details: str | None = None


def reported_failures(events: Iterable[RecordedEvent]) -> list[tuple[str, str]]:
    """(conversation stream, wamid) of each failure Meta reported by webhook in the batch:
    the message we queued under that wamid is looked up by its acceptance."""
    return [
        (recorded.stream_id, recorded.event.status.wamid)
        for recorded in events
        if isinstance(recorded.event, MessageStatusUpdated)
        and recorded.event.status.status == FAILED
    ]


def error_rows(
    events: Iterable[RecordedEvent], message_of: Mapping[str, str] | None = None
) -> list[ErrorRow]:
    """``message_of``: the id of the message we queued, by the wamid Meta accepted it as."""
    rows: list[ErrorRow] = []
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageStatusUpdated) and event.status.status == FAILED:
            message_id = (message_of or {}).get(event.status.wamid)
            rows.extend(_failed_send(recorded, event.business_id, event.status, message_id))
        elif isinstance(event, WebhookProblemReported):
            problem = event.problem
            rows.extend(
                _error_row(
                    recorded, n, event.business_id, "webhook_problem", error, None, None, problem.at
                )
                for n, error in enumerate(problem.errors)
            )
        elif isinstance(event, WebhookChangeUnreadable) and event.business_id is not None:
            rows.append(_unreadable_row(recorded, event.business_id, event))
    return rows


def finally_failed_messages(events: Iterable[RecordedEvent]) -> list[str]:
    """Messages we queued that failed for good in the batch (their business is looked up)."""
    return [
        recorded.event.message_id
        for recorded in events
        if isinstance(recorded.event, OutboundSendFailed) and recorded.event.next_attempt_at is None
    ]


def outbound_error_rows(
    events: Iterable[RecordedEvent], business_of: Mapping[str, str]
) -> list[ErrorRow]:
    """A row for each send that failed for good: a permanent error, or out of attempts."""
    rows: list[ErrorRow] = []
    for recorded in events:
        event = recorded.event
        if not isinstance(event, OutboundSendFailed) or event.next_attempt_at is not None:
            continue
        business_id = business_of.get(event.message_id)
        if business_id is None:
            continue
        rows.append(ErrorRow(
            str(recorded.event_id), 0, business_id,
            "dead_letter" if event.retryable else "send_failed", event.code,
            event.title or ("Out of attempts" if event.retryable else "Message not sent"),
            event.reason, recorded.stream_id, None, event.at or recorded.recorded_at,
            event.message_id, event.details,
        ))  # fmt: skip
    return rows


class MessageAcceptance(NamedTuple):
    message_id: str
    wamid: str
    at: datetime


def acceptances(events: Iterable[RecordedEvent]) -> list[MessageAcceptance]:
    """Messages we queued that Meta accepted in the batch: their earlier failures are
    resolved, and a failure of this wamid recorded before it learns the message id."""
    return [
        MessageAcceptance(recorded.event.message_id, recorded.event.wamid, recorded.event.at)
        for recorded in events
        if isinstance(recorded.event, OutboundMessageAccepted)
    ]


def error_resolutions(events: Iterable[RecordedEvent]) -> list[tuple[str, datetime]]:
    """(error event id, when) for each unreadable change a later parser read after all."""
    return [
        (recorded.event.unreadable_event_id, recorded.recorded_at)
        for recorded in events
        if isinstance(recorded.event, WebhookChangeRecovered)
    ]


def _unreadable_row(
    recorded: RecordedEvent, business_id: str, event: WebhookChangeUnreadable
) -> ErrorRow:
    change = event.change
    part = f"field {change.field!r}" if change.field else change.scope
    return ErrorRow(
        str(recorded.event_id), 0, business_id, "unreadable_change", None,
        f"Unreadable webhook {part}", f"{change.error} (at {change.path})", None, None, change.at,
    )  # fmt: skip


def _failed_send(
    recorded: RecordedEvent, business_id: str, status: DeliveryStatus, message_id: str | None
) -> list[ErrorRow]:
    """The readable reason as the timeline shows it; Meta's title stays the title."""
    errors = status.errors or (WhatsAppError(code=0, title="Message failed"),)
    return [
        ErrorRow(
            str(recorded.event_id), n, business_id, "send_failed", error.code or None,
            error.title or error.message or "Message failed",
            mask_phones_in(reported_failure_reason(error.code or None, error.title)),
            recorded.stream_id, status.wamid, status.at, message_id,
            safe_error_details(error.details),
        )
        for n, error in enumerate(errors)
    ]  # fmt: skip


def _error_row(
    recorded: RecordedEvent,
    ordinal: int,
    business_id: str,
    kind: str,
    error: WhatsAppError,
    conversation_id: str | None,
    wamid: str | None,
    at: datetime,
) -> ErrorRow:
    return ErrorRow(
        str(recorded.event_id),
        ordinal,
        business_id,
        kind,
        error.code or None,
        error.title or error.message or "Unknown error",
        error.details or error.message,
        conversation_id,
        wamid,
        at,
    )


# --- metrics ------------------------------------------------------------------------------------


@dataclass(slots=True)
class HourCounts:
    messages_received: int = 0
    messages_sent: int = 0
    messages_delivered: int = 0
    messages_read: int = 0
    messages_failed: int = 0
    awaiting_response: int = 0
    responded: int = 0
    response_seconds: float = 0.0
    webhook_problems: int = 0
    ai_responses: int = 0
    handoffs: int = 0
    agent_responses: int = 0
    ai_first_responses: int = 0
    ai_first_response_seconds: float = 0.0
    agent_first_responses: int = 0
    agent_first_response_seconds: float = 0.0


@dataclass(slots=True)
class OutboundProgress:
    """What the metrics already counted of one sent message."""

    sent_at: datetime
    delivered: bool = False
    read: bool = False
    failed: bool = False
    stored: bool = False  # an earlier batch wrote it (so this one updates rather than inserts)


class FirstResponse(NamedTuple):
    event_id: str  # the status event that showed the answer
    business_id: str
    conversation_id: str
    asked_at: datetime
    seconds: float


class ConversationKey(NamedTuple):
    business_id: str
    conversation_id: str


class FirstReply(NamedTuple):
    """A customer turn's first reply queued by the assistant or by an agent."""

    event_id: str  # the event that queued (or echoed) the reply
    business_id: str
    conversation_id: str
    asked_at: datetime
    replied_by: str  # ai or agent
    seconds: float


@dataclass(slots=True)
class MetricsChanges:
    hours: dict[tuple[str, datetime], HourCounts] = field(default_factory=dict)
    outbound: dict[MessageKey, OutboundProgress] = field(default_factory=dict)
    # since when the customer's turn waits for an answer; None once it was answered
    waiting: dict[ConversationKey, datetime | None] = field(default_factory=dict)
    responses: list[FirstResponse] = field(default_factory=list)
    # since when the customer's turn waits for a reply of the assistant or an agent
    reply_waiting: dict[ConversationKey, datetime | None] = field(default_factory=dict)
    replies: list[FirstReply] = field(default_factory=list)

    def hour(self, business_id: str, at: datetime) -> HourCounts:
        key = (business_id, hour_of(at))
        counts = self.hours.get(key)
        if counts is None:
            counts = self.hours[key] = HourCounts()
        return counts


_HOURS: dict[int, datetime] = {}


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` falls in (memoised: a log has few distinct hours)."""
    number = int(at.timestamp() // 3600)
    hour = _HOURS.get(number)
    if hour is None:
        if len(_HOURS) > 100_000:
            _HOURS.clear()
        hour = _HOURS[number] = datetime.fromtimestamp(number * 3600, UTC)
    return hour


def metrics_keys(
    events: Sequence[RecordedEvent],
) -> tuple[set[MessageKey], set[ConversationKey]]:
    """The stored state ``metrics_changes`` needs: sent messages and conversations."""
    wamids: set[MessageKey] = set()
    conversations: set[ConversationKey] = set()
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageStatusUpdated):
            wamids.add(MessageKey(event.business_id, event.status.wamid))
            conversations.add(ConversationKey(event.business_id, recorded.stream_id))
        elif isinstance(event, MessageReceived):
            conversations.add(ConversationKey(event.business_id, recorded.stream_id))
    return wamids, conversations


def reply_keys(events: Sequence[RecordedEvent]) -> set[ConversationKey]:
    """The conversations whose waiting for a reply (by the assistant or an agent) the
    batch needs."""
    found: set[ConversationKey] = set()
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageReceived | OutboundMessageQueued | MessageEchoed):
            found.add(ConversationKey(event.business_id, recorded.stream_id))
    return found


def metrics_changes(
    events: Sequence[RecordedEvent],
    outbound: Mapping[MessageKey, OutboundProgress],
    waiting: Mapping[ConversationKey, datetime],
    reply_waiting: Mapping[ConversationKey, datetime] | None = None,
) -> MetricsChanges:
    """Count the batch into hourly buckets, given what earlier batches left behind."""
    changes = MetricsChanges()
    known_outbound = dict(outbound)
    known_waiting: dict[ConversationKey, datetime | None] = dict(waiting)
    replies: dict[ConversationKey, datetime | None] = dict(reply_waiting or {})
    for recorded in events:
        event = recorded.event
        if isinstance(event, MessageReceived):
            conversation = ConversationKey(event.business_id, recorded.stream_id)
            _count_received(changes, known_waiting, conversation, event)
            if replies.get(conversation) is None:
                replies[conversation] = changes.reply_waiting[conversation] = event.message.sent_at
        elif isinstance(event, MessageStatusUpdated):
            _count_status(changes, known_outbound, known_waiting, recorded, event)
        elif isinstance(event, WebhookProblemReported):
            changes.hour(event.business_id, event.problem.at).webhook_problems += 1
        elif isinstance(event, ConversationEscalated):
            changes.hour(event.business_id, event.at).handoffs += 1
        elif isinstance(event, OutboundMessageQueued) and event.requested_by != "system":
            reply = (event.business_id, event.requested_by, event.queued_at)
            _count_reply(changes, replies, recorded, *reply)
        elif isinstance(event, MessageEchoed):  # an agent answered from the business app
            reply = (event.business_id, "agent", event.message.sent_at)
            _count_reply(changes, replies, recorded, *reply)
    return changes


def _count_reply(
    changes: MetricsChanges,
    waiting: dict[ConversationKey, datetime | None],
    recorded: RecordedEvent,
    business_id: str,
    by: str,
    at: datetime,
) -> None:
    """A reply the assistant or an agent queued (or sent from the business app): counted
    by who gave it; the first one of a customer's turn gives that turn's response time."""
    counts = changes.hour(business_id, at)
    if by == "ai":
        counts.ai_responses += 1
    else:
        counts.agent_responses += 1
    conversation = ConversationKey(business_id, recorded.stream_id)
    asked_at = waiting.get(conversation)
    if asked_at is None:
        return
    waiting[conversation] = changes.reply_waiting[conversation] = None
    if at < asked_at:  # the customer's clock and ours disagree: no time to tell
        return
    seconds = (at - asked_at).total_seconds()
    turn = changes.hour(business_id, asked_at)
    if by == "ai":
        turn.ai_first_responses += 1
        turn.ai_first_response_seconds += seconds
    else:
        turn.agent_first_responses += 1
        turn.agent_first_response_seconds += seconds
    changes.replies.append(FirstReply(str(recorded.event_id), business_id,
                                      recorded.stream_id, asked_at, by, seconds))  # fmt: skip


def _count_received(
    changes: MetricsChanges,
    waiting: dict[ConversationKey, datetime | None],
    conversation: ConversationKey,
    event: MessageReceived,
) -> None:
    sent_at = event.message.sent_at
    counts = changes.hour(event.business_id, sent_at)
    counts.messages_received += 1
    if waiting.get(conversation) is None:
        waiting[conversation] = changes.waiting[conversation] = sent_at
        counts.awaiting_response += 1


_DELIVERED: Final = frozenset({"delivered", "read", "played"})
_READ: Final = frozenset({"read", "played"})


def _count_status(
    changes: MetricsChanges,
    outbound: dict[MessageKey, OutboundProgress],
    waiting: dict[ConversationKey, datetime | None],
    recorded: RecordedEvent,
    event: MessageStatusUpdated,
) -> None:
    status = event.status
    key = MessageKey(event.business_id, status.wamid)
    progress = outbound.get(key)
    if progress is None:
        progress = outbound[key] = OutboundProgress(sent_at=status.at)
        changes.hour(event.business_id, status.at).messages_sent += 1
        if status.status != FAILED:
            conversation = ConversationKey(event.business_id, recorded.stream_id)
            _count_response(changes, waiting, conversation, str(recorded.event_id), status.at)
    # As on the timeline: a delivered message did not fail, a failed one is never delivered.
    settled = progress.failed
    delivered = status.status in _DELIVERED and not (progress.delivered or settled)
    read = status.status in _READ and not (progress.read or settled)
    failed = status.status == FAILED and not (progress.failed or progress.delivered)
    if delivered or read or failed:
        counts = changes.hour(event.business_id, progress.sent_at)
        progress.delivered |= delivered
        progress.read |= read
        progress.failed |= failed
        counts.messages_delivered += delivered
        counts.messages_read += read
        counts.messages_failed += failed
    changes.outbound[key] = progress


def _count_response(
    changes: MetricsChanges,
    waiting: dict[ConversationKey, datetime | None],
    conversation: ConversationKey,
    event_id: str,
    answered_at: datetime,
) -> None:
    asked_at = waiting.get(conversation)
    if asked_at is None or answered_at < asked_at:
        return
    seconds = (answered_at - asked_at).total_seconds()
    counts = changes.hour(conversation.business_id, asked_at)
    counts.responded += 1
    counts.response_seconds += seconds
    changes.responses.append(
        FirstResponse(event_id, conversation.business_id, conversation.conversation_id,
                      asked_at, seconds)
    )  # fmt: skip
    waiting[conversation] = changes.waiting[conversation] = None
