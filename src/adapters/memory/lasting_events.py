"""What lasts of a conversation's older events, over the in-memory event store: the same
answer as the PostgreSQL query (the newest event of each lasting kind, an
``outbound.queued`` only when an agent queued it), found by reading the stream."""

from __future__ import annotations

from adapters.memory.event_store import InMemoryEventStore
from application.event_log import RecordedEvent
from domain.events import DomainEvent
from domain.outbox import OutboundMessageQueued
from domain.reply_policy import LASTING_KINDS


class InMemoryLastingEvents:
    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store

    async def lasting_events(self, stream_id: str, before_version: int) -> list[DomainEvent]:
        newest: dict[type[DomainEvent], RecordedEvent] = {}
        for recorded in await self._store.read_stream(stream_id, limit=before_version - 1):
            kind = type(recorded.event)
            if kind in LASTING_KINDS and _counts(recorded.event):
                newest[kind] = recorded
        return [r.event for r in sorted(newest.values(), key=lambda r: r.version)]


def _counts(event: DomainEvent) -> bool:
    return not isinstance(event, OutboundMessageQueued) or event.requested_by == "agent"
