"""What the dashboard reads: views of the read models, time ranges and page cursors."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol

import msgspec

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


class ConversationView(View, frozen=True):
    id: str
    customer_id: str  # the customer's key: their first identifier seen (or the group's)
    customer_name: str | None
    customer_phone: str | None  # null while WhatsApp withholds the number
    customer_user_id: str | None  # business-scoped user id (BSUID)
    customer_parent_user_id: str | None
    customer_username: str | None
    is_group: bool
    group_id: str | None
    phone_number_id: str
    status: ConversationStatus
    last_message_preview: str | None
    last_message_at: datetime | None
    last_message_direction: str | None
    last_activity_at: datetime
    unread_count: int
    service_window_open: bool
    service_window_closes_at: datetime | None
    throttled: bool
    throttled_until: datetime | None
    assignee: str | None


class MessageView(View, frozen=True):
    id: int
    wamid: str
    direction: Literal["inbound", "outbound"]
    sender: Literal["customer", "ai", "agent", "system"]
    type: str
    summary: str | None
    sent_at: datetime
    status: str | None
    status_at: datetime | None
    error_code: int | None
    error_title: str | None


class ErrorView(View, frozen=True):
    kind: Literal["send_failed", "webhook_problem", "unreadable_change"]
    code: int | None
    title: str
    detail: str
    conversation_id: str | None
    wamid: str | None
    occurred_at: datetime
    resolved_at: datetime | None  # an unreadable change read after all by a newer version


class ConversationPage(View, frozen=True):
    items: list[ConversationView]
    next_cursor: str | None  # pass it back as ``cursor`` for the next page; null on the last


class MessagePage(View, frozen=True):
    items: list[MessageView]
    next_cursor: str | None


class ErrorPage(View, frozen=True):
    items: list[ErrorView]
    next_cursor: str | None


class MetricsFigures(View, frozen=True):
    messages_received: int
    messages_sent: int
    ai_responses: int
    human_handoffs: int
    conversations_awaiting_response: int
    responded: int
    response_rate: float | None
    first_response_seconds_avg: float | None
    first_response_seconds_p90: float | None
    delivery_rate: float | None
    read_rate: float | None
    error_rate: float | None
    failed_sends: int
    webhook_problems: int


class TimeRange(View, frozen=True):
    start: datetime
    end: datetime


class MetricsComparison(View, frozen=True):
    range: TimeRange
    previous_range: TimeRange
    current: MetricsFigures
    previous: MetricsFigures


class TimeseriesPoint(View, frozen=True):
    start: datetime
    messages_received: int
    messages_sent: int
    ai_responses: int
    human_handoffs: int
    responded: int
    failed_sends: int
    delivery_rate: float | None
    read_rate: float | None


class Timeseries(View, frozen=True):
    range: TimeRange
    bucket: Bucket
    points: list[TimeseriesPoint]


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


def conversation_status(raw: str | None) -> ConversationStatus | None:
    if raw is None:
        return None
    if raw not in CONVERSATION_STATUSES:
        raise QueryError("status", f"must be one of {', '.join(CONVERSATION_STATUSES)}")
    return raw  # type: ignore[return-value]  # checked against the literal's values above


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


def cursor_number(value: str | int, highest: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= highest:
        raise QueryError("cursor", "is not a cursor this API returned")
    return value


def cursor_uuid(value: str | int) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise QueryError("cursor", "is not a cursor this API returned") from None
