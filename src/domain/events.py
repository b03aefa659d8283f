"""Domain events: frozen msgspec Structs on one tagged base.

Every concrete event names its stable type with ``tag=...``; that string is
what the event store writes in its ``type`` column, so renaming a class never
breaks stored history. Events evolve by adding fields with defaults; a changed
meaning is a new event type.
"""

from __future__ import annotations

import uuid
from typing import Final

import msgspec

EVENT_ID_NAMESPACE: Final = uuid.UUID("7c1f3b1e-5d0a-5b7e-9a53-2f4c6b0e8d11")


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every domain event; subclasses pass ``tag="stable.name"``."""


class EventMetadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where an event came from: the id that started the chain and its direct cause."""

    correlation_id: str | None = None
    causation_id: str | None = None


def deterministic_event_id(*identity: str) -> uuid.UUID:
    """UUIDv5 of what makes an event unique (e.g. the wamid and the kind of change).

    Redelivered inputs produce the same id, so the store keeps them once.
    """
    if not identity or any(not part for part in identity):
        raise ValueError("an event identity needs at least one non-empty part")
    return uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(identity))


def event_type_name(event_type: type[DomainEvent]) -> str:
    """The stable type string of an event class (its msgspec tag)."""
    tag = event_type.__struct_config__.tag
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"{event_type.__name__} must declare a string tag, e.g. tag='x.happened'")
    return tag
