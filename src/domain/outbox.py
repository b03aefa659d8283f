"""Outbound messages on their way to Meta: queued, accepted, failed, dead-lettered.

The events live in the conversation's stream, so the queue order of a conversation is
the order of its stream. Their ids are deterministic (the message id a caller chose,
and the attempt), so a retried decision or a replayed worker stores each fact once.
``decide_retry`` is the pure rule for what a failed attempt leads to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from domain.events import DomainEvent, deterministic_event_id
from domain.outbound import OutboundMessage, Recipient
from domain.send_pacing import PAIR_RATE_DELAY
from domain.whatsapp_errors import Classification, ErrorClass

RequestedBy: TypeAlias = Literal["ai", "agent", "system"]


class OutboundMessageQueued(DomainEvent, frozen=True, tag="outbound.queued"):
    """A message was decided and waits for a sender. ``message_id`` is the caller's UUID.

    Cause and correlation travel in the event's metadata, like every event's.
    """

    message_id: str
    business_id: str
    conversation_stream: str
    phone_number_id: str
    recipient: Recipient
    message: OutboundMessage
    requested_by: RequestedBy
    queued_at: datetime

    def __post_init__(self) -> None:
        # One spelling per id: event ids and the outbox row are keyed by it.
        if parse_message_id(self.message_id) != self.message_id:
            raise ValueError("message_id must be a lowercase UUID: " + repr(self.message_id))


class OutboundMessageAccepted(DomainEvent, frozen=True, tag="outbound.accepted"):
    """Meta took the message. ``ambiguous_retry``: an earlier attempt may have reached Meta
    too (its answer was lost, or its worker died mid-send), so the customer may see it twice."""

    message_id: str
    wamid: str
    attempt: int
    at: datetime
    ambiguous_retry: bool = False
    business_id: str | None = None  # None in events recorded before it was kept


class OutboundSendFailed(DomainEvent, frozen=True, tag="outbound.send_failed"):
    """One attempt failed; ``next_attempt_at`` is None when no attempt follows."""

    message_id: str
    attempt: int
    code: int | None
    title: str | None
    reason: str
    error_class: ErrorClass
    retryable: bool
    next_attempt_at: datetime | None
    ambiguous: bool = False  # Meta may have accepted this attempt although it failed
    at: datetime | None = None
    business_id: str | None = None  # None in events recorded before it was kept
    # Meta's error_data.details (phones masked, no credentials, bounded); None when Meta gave
    # none, and in events recorded before it was kept.
    details: str | None = None


class OutboundMessageDeadLettered(DomainEvent, frozen=True, tag="outbound.dead_lettered"):
    """A retryable message ran out of attempts or time: it will not be sent."""

    message_id: str
    attempts: int
    reason: str
    at: datetime
    business_id: str | None = None  # None in events recorded before it was kept


class OutboundRetryRequested(DomainEvent, frozen=True, tag="outbound.retry_requested"):
    """Someone asked to send a failed (or dead-lettered) message again; a sender takes it at
    once. ``after_attempt`` is the attempt that failed last: each retry is one fact."""

    message_id: str
    after_attempt: int
    requested_by: RequestedBy
    at: datetime


def parse_message_id(value: str) -> str:
    """The canonical form of a caller's message id; ValueError when it is not a UUID."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"message_id must be a UUID, not {value!r}") from None


def queued_event_id(message_id: str) -> uuid.UUID:
    return deterministic_event_id("outbound.queued", message_id)


def accepted_event_id(message_id: str, previous_wamid: str | None = None) -> uuid.UUID:
    """One acceptance per sending of a message: a message sent again after Meta reported its
    accepted wamid failed (``previous_wamid``) may be accepted once more, with a new wamid."""
    if previous_wamid is None:
        return deterministic_event_id("outbound.accepted", message_id)
    return deterministic_event_id("outbound.accepted", message_id, previous_wamid)


def failed_event_id(message_id: str, attempt: int) -> uuid.UUID:
    return deterministic_event_id("outbound.send_failed", message_id, str(attempt))


def retry_requested_event_id(message_id: str, after_attempt: int) -> uuid.UUID:
    return deterministic_event_id("outbound.retry_requested", message_id, str(after_attempt))


def dead_lettered_event_id(message_id: str) -> uuid.UUID:
    return deterministic_event_id("outbound.dead_lettered", message_id)


# --- retries --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    # A message older than this is not worth sending any more (the conversation moved on).
    max_age: timedelta = timedelta(hours=6)
    # After a pair-rate error (131056) only this customer waits, about Meta's pair rate.
    pair_rate_delay: timedelta = PAIR_RATE_DELAY


@dataclass(frozen=True, slots=True)
class RetryAt:
    when: datetime


@dataclass(frozen=True, slots=True)
class GiveUp:
    """``exhausted``: a retryable error ran out of attempts or time (a dead letter);
    otherwise the error itself is final (permanent or critical)."""

    exhausted: bool


RetryDecision: TypeAlias = RetryAt | GiveUp


def decide_retry(
    classification: Classification,
    attempt: int,
    *,
    queued_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    rand: Callable[[], float],
) -> RetryDecision:
    """After failed ``attempt`` (1 for the first): when to try again, or give up.

    Exponential backoff with full jitter: uniform in [first/10, first * 2^(attempt-1)],
    capped at ``max_delay``; a pair-rate error waits ``pair_rate_delay`` instead. Never
    beyond ``max_attempts`` or ``queued_at + max_age``.
    """
    if not classification.retryable:
        return GiveUp(exhausted=False)
    if attempt >= policy.max_attempts:
        return GiveUp(exhausted=True)
    if classification.error_class is ErrorClass.PAIR_RATE:
        delay = policy.pair_rate_delay
    else:
        ceiling = min(policy.first_delay * 2 ** min(attempt - 1, 30), policy.max_delay)
        delay = max(ceiling * rand(), policy.first_delay / 10)
    when = now + delay
    if when > queued_at + policy.max_age:
        return GiveUp(exhausted=True)
    return RetryAt(when)
