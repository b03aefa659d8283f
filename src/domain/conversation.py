"""A conversation: one business phone number talking with one customer.

Its stream holds what the customer sent, what happened to what the business
sent, and the flood-protection decisions. The flood rule is decided here from
the customers' own send times (Meta's timestamps), so it is the same on replay
and across processes.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain.customer import bounded_name
from domain.events import DomainEvent, deterministic_event_id
from domain.inbound import (
    DeliveryStatus,
    EchoedMessage,
    InboundMessage,
    MarketingPreference,
    WebhookProblem,
)

CONVERSATION_STREAM_PREFIX: Final = "conversation-"
DEFAULT_FLOOD_LIMIT: Final = 20
FLOOD_WINDOW: Final = timedelta(minutes=1)


def conversation_stream(phone_number_id: str, customer_key: str) -> str:
    """The stream of one customer's (or one group's) conversation with a business number."""
    return bounded_name(CONVERSATION_STREAM_PREFIX, phone_number_id, customer_key)


class MessageReceived(DomainEvent, frozen=True, tag="message.received"):
    """A customer's message reached the business. ``throttled`` ones get no automatic reply."""

    business_id: str
    message: InboundMessage
    throttled: bool = False
    customer: str | None = None  # the conversation's customer key (None: message.customer_id)


class MessageEchoed(DomainEvent, frozen=True, tag="message.echoed"):
    """Someone at the business wrote to the customer from the WhatsApp Business app."""

    business_id: str
    message: EchoedMessage
    customer: str | None = None


class MessageStatusUpdated(DomainEvent, frozen=True, tag="message.status_updated"):
    """Meta reported a delivery status of a message the business sent (in any order)."""

    business_id: str
    status: DeliveryStatus
    customer: str | None = None  # the conversation's customer key (None: the recipient id)


class CustomerThrottled(DomainEvent, frozen=True, tag="customer.throttled"):
    """The customer sent more than the allowed rate; automatic replies pause."""

    business_id: str
    phone_number_id: str
    customer_id: str
    wamid: str  # the message that crossed the limit
    since: datetime
    until: datetime  # when the rate falls back under the limit unless more messages come
    limit_per_minute: int


class CustomerThrottleLifted(DomainEvent, frozen=True, tag="customer.throttle_lifted"):
    """The customer's rate fell back under the limit; automatic replies resume."""

    business_id: str
    phone_number_id: str
    customer_id: str
    wamid: str  # the first message back under the limit
    at: datetime


class MarketingPreferenceChanged(
    DomainEvent, frozen=True, tag="customer.marketing_preference_changed"
):
    business_id: str
    preference: MarketingPreference
    customer: str | None = None


class WebhookProblemReported(DomainEvent, frozen=True, tag="webhook.problem_reported"):
    """Meta delivered an update carrying errors instead of content."""

    business_id: str
    problem: WebhookProblem


def message_event_id(wamid: str) -> uuid.UUID:
    return deterministic_event_id(wamid, "message")


def echo_event_id(wamid: str) -> uuid.UUID:
    return deterministic_event_id(wamid, "echo")


def status_event_id(status: DeliveryStatus) -> uuid.UUID:
    participant = status.participant_id or status.participant_user_id or "-"
    return deterministic_event_id(
        status.wamid, "status", status.status, status.recipient_id, participant
    )


def throttle_event_id(wamid: str, transition: str) -> uuid.UUID:
    return deterministic_event_id(wamid, transition)


def preference_event_id(preference: MarketingPreference) -> uuid.UUID:
    return deterministic_event_id(
        preference.phone_number_id, preference.customer_id, "marketing_preference",
        preference.category, preference.value, preference.at.isoformat(),
    )  # fmt: skip


# --- flood protection --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecentMessage:
    wamid: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class FloodState:
    """What the flood rule needs of a conversation: its newest messages and the current flag."""

    recent: tuple[RecentMessage, ...] = ()  # oldest first, at most ``limit`` of them
    throttled: bool = False

    def knows(self, wamid: str) -> bool:
        return any(m.wamid == wamid for m in self.recent)

    @property
    def newest(self) -> datetime | None:
        return self.recent[-1].sent_at if self.recent else None


@dataclass(frozen=True, slots=True)
class FloodDecision:
    throttled: bool
    state: FloodState
    started: bool = False  # this message crossed the limit
    lifted: bool = False  # this message is the first back under the limit
    until: datetime | None = None


def assess_message(state: FloodState, wamid: str, sent_at: datetime, limit: int) -> FloodDecision:
    """Is this message over the limit of ``limit`` messages in any one-minute window?

    The window ends at the message's own send time. A late message (sent before
    the newest one seen) takes the conversation's current flag and never changes
    it, so a delayed delivery cannot lift a throttle that newer messages imposed.
    Every MessageReceived therefore records the flag as it stands after it.
    """
    if limit < 1:
        raise ValueError(f"the flood limit must be at least 1 message a minute, got {limit}")
    if state.knows(wamid):
        return FloodDecision(throttled=state.throttled, state=state)
    recent = state.recent
    # ``recent`` is in time order, so the window is a slice found by bisection.
    window_start = bisect_right(recent, sent_at - FLOOD_WINDOW, key=_by_time)
    window = recent[window_start : bisect_right(recent, sent_at, key=_by_time)]
    over = len(window) + 1 > limit
    kept = _insert_in_time_order(recent, RecentMessage(wamid, sent_at))[-limit:]
    newest = state.newest
    if newest is not None and sent_at < newest:
        return FloodDecision(throttled=state.throttled, state=FloodState(kept, state.throttled))
    until = _throttled_until(window, sent_at, limit) if over else None
    return FloodDecision(
        throttled=over,
        state=FloodState(kept, over),
        started=over and not state.throttled,
        lifted=state.throttled and not over,
        until=until,
    )


def _insert_in_time_order(
    recent: tuple[RecentMessage, ...], message: RecentMessage
) -> tuple[RecentMessage, ...]:
    at = bisect_right(recent, message.sent_at, key=_by_time)
    return (*recent[:at], message, *recent[at:])


def _by_time(message: RecentMessage) -> datetime:
    return message.sent_at


def _throttled_until(in_window: Sequence[RecentMessage], sent_at: datetime, limit: int) -> datetime:
    """When enough of the window's messages age out for the count to be back at the limit."""
    times = [m.sent_at for m in in_window] + [sent_at]  # already in time order
    excess = len(times) - limit
    return times[excess - 1] + FLOOD_WINDOW


def flood_state_from_history(newest_first: list[MessageReceived], limit: int) -> FloodState:
    """Rebuild the flood state from the conversation's latest MessageReceived events."""
    if not newest_first:
        return FloodState()
    recent = sorted(
        (RecentMessage(e.message.wamid, e.message.sent_at) for e in newest_first), key=_by_time
    )
    return FloodState(tuple(recent[-limit:]), newest_first[0].throttled)
