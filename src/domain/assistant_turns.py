"""The assistant's turns in a conversation, as events of the conversation's stream.

A turn is requested by each customer message that may start one (its id comes from the
message's wamid, so a message requests at most one turn). A turn answers every request
still open when it starts, and records exactly one outcome: completed (the assistant's
decision), failed (the provider gave none in time), or skipped (the assistant had to stay
silent). The outcome's id comes from the turn's key, the wamid of the oldest message it
answers, so a retried or taken-over turn stores its outcome once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, TypeAlias

from domain.assistant import Decision
from domain.events import DomainEvent, deterministic_event_id

SilenceReason: TypeAlias = Literal[
    "auto_reply_off",
    "escalated",
    "throttled",
    "window_closed",
    "human_replied",
    "group",
]


class AssistantTurnRequested(DomainEvent, frozen=True, tag="assistant.turn_requested"):
    """A customer message waits for the assistant; ``at`` is its send time (Meta's)."""

    business_id: str
    wamid: str
    at: datetime


class AssistantTurnCompleted(DomainEvent, frozen=True, tag="assistant.turn_completed"):
    """The assistant decided; ``message_id`` names the message queued for the customer
    (the reply, or the handoff message of an escalation)."""

    business_id: str
    turn_id: str
    wamids: tuple[str, ...]
    decision: Decision
    provider: str
    at: datetime
    model: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    message_id: str | None = None


class AssistantTurnFailed(DomainEvent, frozen=True, tag="assistant.turn_failed"):
    """No decision came in time. ``consecutive_failures`` counts this one; ``escalated``:
    it reached the business's limit and the conversation went to a person, else the
    fallback message (``message_id``) was queued."""

    business_id: str
    turn_id: str
    wamids: tuple[str, ...]
    reason: str
    provider: str
    at: datetime
    consecutive_failures: int
    escalated: bool = False
    latency_ms: float = 0.0
    message_id: str | None = None


class AssistantTurnSkipped(DomainEvent, frozen=True, tag="assistant.turn_skipped"):
    """The assistant stayed silent for these messages, for ``reason``."""

    business_id: str
    turn_id: str
    wamids: tuple[str, ...]
    reason: SilenceReason
    at: datetime


def turn_requested_event_id(wamid: str) -> uuid.UUID:
    return deterministic_event_id("assistant.turn_requested", wamid)


def turn_outcome_event_id(turn_id: str) -> uuid.UUID:
    """One outcome per turn, whichever kind: a second attempt at a turn stores nothing."""
    return deterministic_event_id("assistant.turn_outcome", turn_id)


def turn_message_id(turn_id: str) -> str:
    """The id of the one message a turn queues (reply, fallback or handoff message)."""
    return str(deterministic_event_id("assistant.turn_message", turn_id))


def turn_escalated_event_id(turn_id: str) -> uuid.UUID:
    return deterministic_event_id("assistant.turn_escalated", turn_id)
