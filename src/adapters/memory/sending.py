"""In-memory sending units for service tests: conversations, their last customer message,
the timeline ids they hold, idempotency keys, and the events queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from application.event_log import NewEvent
from application.idempotency import KeyToRemember, RememberedKey
from application.sending import ConversationFacts, QuotedMessage


@dataclass
class SendingState:
    conversations: dict[tuple[str, str], ConversationFacts] = field(default_factory=dict)
    last_received: dict[str, datetime] = field(default_factory=dict)  # by stream id
    # (business, stream, timeline id) -> the wamid, or None while not accepted
    messages: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    keys: dict[tuple[str, str], RememberedKey] = field(default_factory=dict)
    queued: list[tuple[str, NewEvent]] = field(default_factory=list)  # (stream id, event)


class InMemorySendingUnit:
    def __init__(self, state: SendingState) -> None:
        self._state = state
        self._queued: list[tuple[str, NewEvent]] = []
        self._keys: dict[tuple[str, str], RememberedKey] = {}

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        return self._state.keys.get((business_id, key))

    async def conversation(
        self, business_id: str, conversation_id: str
    ) -> ConversationFacts | None:
        return self._state.conversations.get((business_id, conversation_id))

    async def last_customer_message_at(self, stream_id: str) -> datetime | None:
        return self._state.last_received.get(stream_id)

    async def quoted(
        self, business_id: str, stream_id: str, message_id: str
    ) -> QuotedMessage | None:
        key = (business_id, stream_id, message_id)
        if key not in self._state.messages:
            return None
        return QuotedMessage(self._state.messages[key])

    async def queue(
        self, stream_id: str, new: NewEvent, key: KeyToRemember | None
    ) -> RememberedKey | None:
        if key is not None:
            stored = self._state.keys.get((key.business_id, key.key))
            if stored is not None:
                return stored
            self._keys[key.business_id, key.key] = key.remembered()
        self._queued.append((stream_id, new))
        return None

    def commit(self) -> None:
        self._state.keys.update(self._keys)
        self._state.queued.extend(self._queued)


class InMemorySendingUnits:
    """Each unit's writes land together when its block ends without an error."""

    def __init__(self, state: SendingState | None = None) -> None:
        self.state = state or SendingState()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InMemorySendingUnit]:
        unit = InMemorySendingUnit(self.state)
        yield unit
        unit.commit()
