"""Event types used only by the infrastructure tests."""

from __future__ import annotations

import itertools
import uuid

from application.codec import EventCodec
from application.event_log import NewEvent
from domain.events import DomainEvent, EventMetadata


class ItemNoted(DomainEvent, frozen=True, kw_only=True, tag="test.item_noted"):
    text: str


class ItemRemoved(DomainEvent, frozen=True, kw_only=True, tag="test.item_removed"):
    reason: str = ""


TEST_CODEC = EventCodec([ItemNoted, ItemRemoved])
_counter = itertools.count()


def noted(text: str | None = None, *, event_id: uuid.UUID | None = None) -> NewEvent:
    return NewEvent(
        event=ItemNoted(text=text or f"item {next(_counter)}"),
        event_id=event_id or uuid.uuid4(),
        metadata=EventMetadata(correlation_id="corr-1"),
    )
