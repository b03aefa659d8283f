"""Events about the product's own operation, recorded so the team can be told."""

from __future__ import annotations

import uuid
from typing import Final

from domain.events import DomainEvent, deterministic_event_id

OPERATIONS_STREAM_PREFIX: Final = "operations-"


class EventParked(DomainEvent, frozen=True, tag="subscriber.event_parked"):
    """A subscriber set an event aside after it failed alone again and again."""

    subscriber: str
    parked_event_id: uuid.UUID
    parked_type: str
    stream_id: str
    position: int
    error: str
    attempts: int
    business_id: str | None = None


def parked_stream(subscriber: str) -> str:
    return f"{OPERATIONS_STREAM_PREFIX}{subscriber}"


def event_parked_id(subscriber: str, parked_event_id: uuid.UUID) -> uuid.UUID:
    """One EventParked per subscriber and event, however often it is parked again."""
    return deterministic_event_id("subscriber.event_parked", subscriber, str(parked_event_id))
