"""What the dashboard reads: views of the read models, time ranges and page cursors."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal, Protocol

import msgspec

from domain.assistant import EscalationCause

ConversationStatus = Literal["bot", "escalated", "closed"]
Bucket = Literal["hour", "day"]
CONVERSATION_STATUSES: Final = ("bot", "escalated", "closed")
BUCKETS: Final = ("hour", "day")
NAMED_RANGES: Final = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
MAX_RANGE: Final = timedelta(days=366)
MAX_HOURLY_POINTS: Final = 24 * 92
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200
MAX_SEARCH_LENGTH: Final = 100
# A search first looks through at most this many conversations, newest activity first,
# reading the activity index alone: a common word fills its page there. Beyond them a
# search reads what its trigrams find; one without three letters or digits in a row has
# no trigram to look up, and its page ends where the window ended.
SEARCH_WINDOW: Final = 10_000
EARLIEST: Final = datetime(1971, 1, 1, tzinfo=UTC)  # times outside these are typing errors
LATEST: Final = datetime(9998, 1, 1, tzinfo=UTC)
MAX_BIGINT: Final = 2**63 - 1
MAX_INT: Final = 2**31 - 1
HOUR: Final = timedelta(hours=1)


class QueryError(ValueError):
    """A query parameter is wrong; the message names it."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


class View(msgspec.Struct, frozen=True, kw_only=True):
    pass


def doc(description: str) -> msgspec.Meta:
    """A field's description in the OpenAPI document."""
    return msgspec.Meta(description=description)


class ConversationView(View, frozen=True):
    """One conversation between a business number and one customer (or one group)."""

    id: Annotated[
        str,
        doc(
            "The conversation's opaque id, stable across rebuilds, to use in "
            "/conversations/{conversation_id} URLs."
        ),
    ]
    customer_id: Annotated[
        str,
        doc(
            "The customer's key: the first identifier WhatsApp gave for them (their phone "
            "number, else their business-scoped user id, else their username), or the group's "
            "id. It never changes, even when the customer changes number or hides it."
        ),
    ]
    customer_name: Annotated[
        str | None, doc("The customer's WhatsApp profile name, as last seen; null when never sent.")
    ]
    customer_phone: Annotated[
        str | None,
        doc("The customer's phone number (wa_id, digits only); null while WhatsApp withholds it."),
    ]
    customer_user_id: Annotated[
        str | None,
        doc("The customer's business-scoped user id (BSUID, e.g. US.1349...); null if not sent."),
    ]
    customer_parent_user_id: Annotated[
        str | None, doc("The parent business-scoped user id, when Meta sends one; else null.")
    ]
    customer_username: Annotated[
        str | None, doc("The customer's WhatsApp username, when they adopted one; else null.")
    ]
    is_group: Annotated[bool, doc("True for a WhatsApp group conversation.")]
    group_id: Annotated[str | None, doc("The group's id for a group conversation; else null.")]
    phone_number_id: Annotated[
        str, doc("Meta's id of the business phone number the customer writes to.")
    ]
    status: Annotated[
        ConversationStatus,
        doc(
            "bot: the assistant may answer; escalated: a person handles it (from an "
            "escalation until POST /api/v1/conversations/{conversation_id}/resolve); closed: "
            "ended."
        ),
    ]
    last_message_preview: Annotated[
        str | None,
        doc("A short readable summary of the latest message either way; null before any."),
    ]
    last_message_at: Annotated[
        datetime | None, doc("When the latest message was sent (by either side); null before any.")
    ]
    last_message_direction: Annotated[
        str | None, doc("inbound (from the customer) or outbound (from the business).")
    ]
    last_activity_at: Annotated[
        datetime,
        doc(
            "The latest moment the conversation moved: a customer message arrived or the "
            "business sent one (its first 'sent' status). Delivery and read receipts do not "
            "move it; it never goes back. Conversations are listed newest activity first."
        ),
    ]
    unread_count: Annotated[
        int,
        doc(
            "Customer messages received since the conversation was last marked read "
            "(POST /api/v1/conversations/{conversation_id}/read sets it to zero)."
        ),
    ]
    service_window_open: Annotated[
        bool,
        doc(
            "True while the 24-hour customer service window is open: free-form replies are "
            "allowed only then (otherwise only templates)."
        ),
    ]
    service_window_closes_at: Annotated[
        datetime | None,
        doc(
            "When the service window closes: 24 hours after the customer's latest message; "
            "null before the customer wrote."
        ),
    ]
    throttled: Annotated[
        bool,
        doc(
            "True while the customer exceeds the flood limit: their messages are recorded but"
            " get no automatic replies."
        ),
    ]
    throttled_until: Annotated[
        datetime | None, doc("When the throttle ends, if known; null when not throttled.")
    ]
    assignee: Annotated[
        str | None,
        doc(
            "The person the escalated conversation is assigned to (the escalation's assignee, "
            "else the name of the API token that escalated it); null when nobody."
        ),
    ]
    escalated_at: Annotated[
        datetime | None, doc("When the conversation was escalated; null while the bot handles it.")
    ] = None
    escalation_cause: Annotated[
        EscalationCause | None,
        doc(
            "Why it was escalated: customer_asked, assistant_decided, keyword, "
            "repeated_failures or agent_took_over; null while the bot handles it."
        ),
    ] = None
    escalation_reason: Annotated[
        str | None, doc("The escalation's readable reason; null while the bot handles it.")
    ] = None
    escalated_by: Annotated[
        str | None,
        doc("Who escalated it: ai, agent or system; null while the bot handles it."),
    ] = None


class MessageView(View, frozen=True):
    """One message of a conversation's timeline."""

    id: Annotated[
        str,
        doc(
            "The message's opaque id, stable across rebuilds. For a message sent through "
            "WazyBot it is the message_id its queuing answered, before and after Meta accepts it."
        ),
    ]
    wamid: Annotated[
        str | None, doc("Meta's message id (wamid); null while a message we queued awaits Meta.")
    ]
    direction: Annotated[
        Literal["inbound", "outbound"],
        doc("inbound: from the customer; outbound: from the business."),
    ]
    sender: Annotated[
        Literal["customer", "ai", "agent", "system"],
        doc(
            "customer; or, for what the business sent, who asked for it: ai (the assistant), "
            "agent (a person, also for a message WazyBot did not send itself) or system."
        ),
    ]
    type: Annotated[
        str,
        doc(
            "The message type: text, image, audio, location, interactive, template, ...; "
            "unknown for a message the business sent outside WazyBot, known only from its "
            "statuses."
        ),
    ]
    summary: Annotated[
        str | None,
        doc("A short readable summary of the content; null when there is nothing to show."),
    ]
    sent_at: Annotated[
        datetime,
        doc("When the message was sent, as Meta reports it; for a message we queued, when it was"
            " queued. Meta gives a customer's message in whole seconds: its fraction here is"
            " when WazyBot recorded it within that second, so that messages of one second"
            " follow the order they arrived in."),
    ]  # fmt: skip
    status: Annotated[
        str | None,
        doc(
            "For outbound messages: queued (waiting for a sender, or retrying), accepted (Meta "
            "took it), then sent, delivered, read (only moves forward); or failed. Null for "
            "inbound ones."
        ),
    ]
    status_at: Annotated[
        datetime | None, doc("When the status was reported; null without a status.")
    ]
    error_code: Annotated[
        int | None,
        doc(
            "Meta's error code when the message failed (or, while it is retried, of its last "
            "failed attempt); null otherwise."
        ),
    ]
    error_title: Annotated[str | None, doc("Meta's title of that error; null otherwise.")]
    error_reason: Annotated[
        str | None,
        doc("Why the send failed, readable (what to do about it when there is something)."),
    ] = None
    attempts: Annotated[
        int | None, doc("Send attempts so far of a message queued through WazyBot; else null.")
    ] = None
    reply_to: Annotated[
        str | None,
        doc("The id of the message this one quotes (either direction); null when none."),
    ] = None
    error_details: Annotated[
        str | None,
        doc(
            "Meta's details of that error (error_data.details, e.g. which parameter it refused;"
            " phone numbers masked); null when Meta gave none."
        ),
    ] = None


class ErrorView(View, frozen=True):
    """A failed send, a problem Meta reported, an unreadable change or a parked event."""

    kind: Annotated[
        Literal[
            "send_failed",
            "dead_letter",
            "webhook_problem",
            "unreadable_change",
            "projection_parked",
        ],
        doc(
            "send_failed: an outbound message failed for good (Meta's status, or a permanent "
            "error of a send); dead_letter: a message WazyBot queued ran out of attempts (POST "
            "/api/v1/outbox/{message_id}/retry sends it again); webhook_problem: an error Meta "
            "sent on its own; unreadable_change: part of a webhook delivery this version could not "
            "read, kept raw (wazybot webhooks reprocess reads it again); projection_parked: a "
            "projection set an event aside after it failed again and again (wazybot "
            "projections retry-parked replays it)."
        ),
    ]
    code: Annotated[int | None, doc("Meta's error code; null when Meta gave none.")]
    title: Annotated[str, doc("Meta's title of the error, or what went wrong.")]
    detail: Annotated[
        str,
        doc(
            "For a failed send or dead letter, the readable reason the timeline shows; else "
            "Meta's details of the error, or what went wrong; empty when none."
        ),
    ]
    conversation_id: Annotated[
        str | None, doc("The conversation it belongs to; null for errors about the whole number.")
    ]
    wamid: Annotated[str | None, doc("The message it is about; null when none.")]
    occurred_at: Annotated[datetime, doc("When it happened (as Meta reported it, if it did).")]
    resolved_at: Annotated[
        datetime | None,
        doc(
            "When it stopped mattering: an unreadable change read after all by a newer "
            "version, or a failed send (or dead letter) of a message WazyBot queued that a "
            "later attempt got accepted by Meta; else null."
        ),
    ]
    message_id: Annotated[
        str | None,
        doc("The id of the message WazyBot queued that failed (for the outbox); else null."),
    ] = None
    error_details: Annotated[
        str | None,
        doc(
            "Meta's details of the error (error_data.details, phone numbers masked) of a "
            "failed send; null when Meta gave none."
        ),
    ] = None


class ConversationPage(View, frozen=True):
    """A page of conversations."""

    items: Annotated[
        list[ConversationView], doc("The conversations of this page, newest activity first.")
    ]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


class MessagePage(View, frozen=True):
    """A page of a conversation's timeline."""

    items: Annotated[list[MessageView], doc("The messages of this page, newest first.")]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for older messages; null on the last page.")
    ]


class ErrorPage(View, frozen=True):
    """A page of errors."""

    items: Annotated[list[ErrorView], doc("The errors of this page, newest first.")]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


OutboxStatus = Literal["queued", "in_flight", "retrying", "accepted", "failed"]
OUTBOX_FILTERS: Final = {
    "queued": ("queued", "in_flight"),
    "retrying": ("retrying",),
    "failed": ("failed",),
}


class OutboxItemView(View, frozen=True):
    """A message WazyBot queued, as its senders see it."""

    message_id: Annotated[str, doc("The message's id (as its queuing answered).")]
    conversation_id: Annotated[str, doc("The conversation the message belongs to.")]
    type: Annotated[str, doc("The kind of message: text, media, buttons, list, template, ...")]
    status: Annotated[
        OutboxStatus,
        doc(
            "queued: waiting for its turn; in_flight: a sender holds it; retrying: an attempt "
            "failed and another follows at next_attempt_at; accepted: Meta took it; failed: "
            "it will not be sent unless retried (also when Meta reported it failed after "
            "accepting it)."
        ),
    ]
    attempts: Annotated[int, doc("Send attempts so far.")]
    next_attempt_at: Annotated[
        datetime | None, doc("When a sender takes it next; null when none will.")
    ]
    last_error: Annotated[
        str | None,
        doc(
            "Why the last attempt failed, readable; or why Meta failed the message after "
            "accepting it (a failed status); null when none did."
        ),
    ]
    dead_lettered: Annotated[
        bool, doc("True when it failed because it ran out of attempts or time.")
    ]
    possibly_sent: Annotated[
        bool,
        doc(
            "True when an earlier attempt may have reached Meta although its answer was lost: "
            "the customer may receive it twice."
        ),
    ]
    wamid: Annotated[str | None, doc("Meta's message id once accepted; else null.")]
    queued_at: Annotated[datetime, doc("When it was queued.")]
    updated_at: Annotated[datetime, doc("When its outbox entry last changed.")]
    error_details: Annotated[
        str | None,
        doc(
            "Meta's details of the last error (error_data.details, e.g. which parameter it "
            "refused; phone numbers masked); null when Meta gave none."
        ),
    ] = None


class OutboxPage(View, frozen=True):
    """A page of the outbox."""

    items: Annotated[list[OutboxItemView], doc("The messages of this page, newest queued first.")]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


class RevenueView(View, frozen=True):
    currency: Annotated[str, doc("ISO 4217 code.")]
    amount: Annotated[int, doc("In the currency's minor unit (cents for EUR).")]


class MetricsFigures(View, frozen=True):
    """The figures of one range: messages count in the hour they were sent, customer turns in
    the hour they began.
    """

    messages_received: Annotated[int, doc("Customer messages received.")]
    messages_sent: Annotated[
        int, doc("Messages the business sent (each counted once, at its first status).")
    ]
    ai_responses: Annotated[
        int, doc("Messages the assistant queued for customers (in the hour it queued them).")
    ]
    human_handoffs: Annotated[
        int,
        doc(
            "Escalations: conversations handed to a person (by the customer's request, the "
            "assistant, a keyword, repeated failures or an agent taking over)."
        ),
    ]
    conversations_awaiting_response: Annotated[
        int,
        doc(
            "Customer turns that began in the range: a turn begins with a customer's first "
            "message after the business last answered (or their first message ever), so "
            "several messages in a row are one turn."
        ),
    ]
    responded: Annotated[
        int,
        doc(
            "Of those turns, the ones the business answered (a sent message after the turn "
            "began), whenever the answer came."
        ),
    ]
    response_rate: Annotated[
        float | None,
        doc("responded / conversations_awaiting_response (4 decimals); null when no turn began."),
    ]
    first_response_seconds_avg: Annotated[
        float | None,
        doc(
            "Average seconds from a turn's first message to the business's first answer, over"
            " the responded turns; null when none."
        ),
    ]
    first_response_seconds_p90: Annotated[
        float | None, doc("90th percentile of those seconds; null when none.")
    ]
    delivery_rate: Annotated[
        float | None,
        doc("Sent messages delivered (or read) / messages_sent; null when none were sent."),
    ]
    read_rate: Annotated[
        float | None, doc("Sent messages read / messages_sent; null when none were sent.")
    ]
    error_rate: Annotated[
        float | None, doc("Sent messages that failed / messages_sent; null when none were sent.")
    ]
    failed_sends: Annotated[int, doc("Sent messages that failed.")]
    webhook_problems: Annotated[
        int, doc("Errors Meta reported by webhook that are not about one message.")
    ]
    agent_responses: Annotated[
        int,
        doc(
            "Messages people sent: queued through the API (sender agent) or written in the "
            "WhatsApp Business app on the same number."
        ),
    ] = 0
    ai_first_responses: Annotated[
        int,
        doc(
            "Customer turns that began in the range whose first reply came from the "
            "assistant (a reply queued by the assistant or by an agent ends a turn)."
        ),
    ] = 0
    ai_first_response_seconds_avg: Annotated[
        float | None,
        doc(
            "Average seconds from a turn's first message to the assistant's reply being "
            "queued, over ai_first_responses; null when none."
        ),
    ] = None
    ai_first_response_seconds_p90: Annotated[
        float | None, doc("90th percentile of those seconds; null when none.")
    ] = None
    agent_first_responses: Annotated[
        int,
        doc("Customer turns that began in the range whose first reply came from a person."),
    ] = 0
    agent_first_response_seconds_avg: Annotated[
        float | None,
        doc(
            "Average seconds from a turn's first message to a person's reply (queued through "
            "the API, or sent from the business app), over agent_first_responses; null when "
            "none."
        ),
    ] = None
    agent_first_response_seconds_p90: Annotated[
        float | None, doc("90th percentile of those seconds; null when none.")
    ] = None
    orders: Annotated[int, doc("Orders placed in the range (any status now).")] = 0
    confirmed_orders: Annotated[
        int, doc("Orders the customer confirmed in the range and not cancelled since.")
    ] = 0
    revenue: Annotated[
        list[RevenueView],
        doc(
            "Per currency, the totals of confirmed_orders (confirmed, shipped or delivered; "
            "cancelled ones excluded); amounts never add up across currencies."
        ),
    ] = []
    recommendations_sent: Annotated[
        int,
        doc("Recommendation lists queued for customers: list messages with product_ rows."),
    ] = 0
    recommended_conversations: Annotated[
        int, doc("Conversations sent at least one recommendation list in the range.")
    ] = 0
    converted_conversations: Annotated[
        int,
        doc(
            "Of those, the ones with an order placed at or after their first recommendation of"
            " the range that is confirmed now (confirmed, shipped or delivered)."
        ),
    ] = 0
    recommendation_conversion: Annotated[
        float | None,
        doc("converted_conversations / recommended_conversations; null when none."),
    ] = None


class TimeRange(View, frozen=True):
    """A time range in whole UTC hours: start included, end excluded."""

    start: Annotated[datetime, doc("The first instant of the range.")]
    end: Annotated[datetime, doc("The instant just after the range.")]


class MetricsComparison(View, frozen=True):
    """The figures of a range and of the equally long range just before it."""

    range: Annotated[TimeRange, doc("The range asked for.")]
    previous_range: Annotated[
        TimeRange, doc("The equally long range that ends where range starts.")
    ]
    current: Annotated[MetricsFigures, doc("The figures of range.")]
    previous: Annotated[MetricsFigures, doc("The figures of previous_range, for comparison.")]


class TimeseriesPoint(View, frozen=True):
    """The figures of one bucket (see MetricsFigures for each figure)."""

    start: Annotated[
        datetime, doc("The start of the bucket (an hour, or 24 hours from the range's start).")
    ]
    messages_received: Annotated[int, doc("Customer messages received.")]
    messages_sent: Annotated[int, doc("Messages the business sent.")]
    ai_responses: Annotated[int, doc("Messages the assistant sent.")]
    human_handoffs: Annotated[int, doc("Conversations handed to a person.")]
    responded: Annotated[int, doc("Customer turns that began in the bucket and were answered.")]
    failed_sends: Annotated[int, doc("Sent messages that failed.")]
    delivery_rate: Annotated[
        float | None, doc("Sent messages delivered / sent; null when none were sent.")
    ]
    read_rate: Annotated[float | None, doc("Sent messages read / sent; null when none were sent.")]
    agent_responses: Annotated[int, doc("Messages people sent.")] = 0


class Timeseries(View, frozen=True):
    """The figures of a range per bucket, empty buckets included."""

    range: Annotated[TimeRange, doc("The range asked for.")]
    bucket: Annotated[Bucket, doc("hour, or day (24-hour periods from the range's start).")]
    points: Annotated[list[TimeseriesPoint], doc("One point per bucket, oldest first.")]


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: ConversationStatus | None = None
    search: str | None = None


class ReadModelQueries(Protocol):
    async def conversations(
        self, business_id: str, filter_: ConversationFilter, limit: int, cursor: str | None
    ) -> ConversationPage: ...

    async def conversation(
        self, business_id: str, conversation_id: str
    ) -> ConversationView | None: ...

    async def messages(
        self, business_id: str, conversation_id: str, limit: int, cursor: str | None
    ) -> MessagePage | None: ...

    async def metrics(self, business_id: str, window: TimeRange) -> MetricsComparison: ...

    async def timeseries(
        self, business_id: str, window: TimeRange, bucket: Bucket
    ) -> Timeseries: ...

    async def errors(self, business_id: str, limit: int, cursor: str | None) -> ErrorPage: ...

    async def outbox(
        self, business_id: str, statuses: tuple[str, ...] | None, limit: int, cursor: str | None
    ) -> OutboxPage: ...


# --- parameters -------------------------------------------------------------------------------


def page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise QueryError("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def search_text(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > MAX_SEARCH_LENGTH:
        raise QueryError("search", f"may be at most {MAX_SEARCH_LENGTH} characters")
    if "\x00" in raw:
        raise QueryError("search", "must not contain NUL characters")
    return raw.strip() or None


def has_trigram(search: str) -> bool:
    """Whether a search holds three letters or digits in a row, which a trigram index can
    look up (other characters split words, as pg_trgm splits them)."""
    run = 0
    for character in search:
        run = run + 1 if character.isalnum() else 0
        if run == 3:
            return True
    return False


def conversation_status(raw: str | None) -> ConversationStatus | None:
    if raw is None:
        return None
    if raw not in CONVERSATION_STATUSES:
        raise QueryError("status", f"must be one of {', '.join(CONVERSATION_STATUSES)}")
    return raw  # type: ignore[return-value]  # checked against the literal's values above


def outbox_statuses(raw: str | None) -> tuple[str, ...] | None:
    """The outbox statuses a ``status`` filter lists; None: every unfinished or failed one."""
    if raw is None:
        return None
    statuses = OUTBOX_FILTERS.get(raw)
    if statuses is None:
        raise QueryError("status", f"must be one of {', '.join(OUTBOX_FILTERS)}")
    return statuses


def bucket_of(raw: str | None) -> Bucket:
    if raw is None:
        return "hour"
    if raw not in BUCKETS:
        raise QueryError("bucket", "must be hour or day")
    return raw  # type: ignore[return-value]  # checked against the literal's values above


def time_range(named: str | None, start: str | None, end: str | None, now: datetime) -> TimeRange:
    """A named range (24h, 7d, 30d) ending with the current hour, or from/to, in whole hours."""
    if named is not None and (start is not None or end is not None):
        raise QueryError("range", "give either range or from/to, not both")
    if start is not None or end is not None:
        return _explicit_range(start, end, now)
    length = NAMED_RANGES.get(named or "24h")
    if length is None:
        raise QueryError("range", f"must be one of {', '.join(NAMED_RANGES)} (or use from/to)")
    end_at = _floor_hour(now) + HOUR
    return TimeRange(start=end_at - length, end=end_at)


def previous_range(window: TimeRange) -> TimeRange:
    return TimeRange(start=window.start - (window.end - window.start), end=window.start)


def _explicit_range(start: str | None, end: str | None, now: datetime) -> TimeRange:
    if start is None:
        raise QueryError("from", "is required with to")
    start_at = _floor_hour(_timestamp("from", start))
    end_at = _ceil_hour(_timestamp("to", end)) if end is not None else _floor_hour(now) + HOUR
    if end_at <= start_at:
        raise QueryError("to", "must be later than from")
    if end_at - start_at > MAX_RANGE:
        raise QueryError("to", f"the range may span at most {MAX_RANGE.days} days")
    if start_at - (end_at - start_at) < EARLIEST:  # the previous range must exist too
        raise QueryError(
            "from", f"the range and the one before it must start after {EARLIEST.year}"
        )
    return TimeRange(start=start_at, end=end_at)


def _timestamp(parameter: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryError(parameter, "must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z") from None
    if not EARLIEST <= value < LATEST:
        raise QueryError(parameter, f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + HOUR


def check_points(window: TimeRange, bucket: Bucket) -> None:
    if bucket == "hour" and (window.end - window.start) / HOUR > MAX_HOURLY_POINTS:
        raise QueryError("bucket", f"hour buckets cover at most {MAX_HOURLY_POINTS // 24} days")


# --- cursors ------------------------------------------------------------------------------------

_CURSOR_TEXT: Final = re.compile(r"^[A-Za-z0-9_-]{1,400}$")


def encode_cursor(*values: str | int) -> str:
    """An opaque position after the last item of a page (the sort key of that item)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


def decode_cursor(raw: str, shape: tuple[type, ...]) -> tuple[str | int, ...]:
    problem = QueryError("cursor", "is not a cursor this API returned")
    if not _CURSOR_TEXT.match(raw):
        raise problem
    try:
        values = msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, msgspec.DecodeError, ValueError):
        raise problem from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise problem
    if not all(type(v) is t for v, t in zip(values, shape, strict=True)):
        raise problem
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise problem
    return tuple(values)


def cursor_time(raw: str) -> datetime:
    """The time part of a cursor: an aware time in the range the API accepts at all."""
    problem = QueryError("cursor", "is not a cursor this API returned")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise problem from None
    if value.tzinfo is None or not EARLIEST <= value < LATEST:
        raise problem
    return value


def cursor_number(value: str | int, highest: int, lowest: int = 0) -> int:
    if not isinstance(value, int) or not lowest <= value <= highest:
        raise QueryError("cursor", "is not a cursor this API returned")
    return value


def cursor_uuid(value: str | int) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise QueryError("cursor", "is not a cursor this API returned") from None
