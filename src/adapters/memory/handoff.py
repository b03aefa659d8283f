"""The handoff commands' reads over the in-memory event store, for service tests."""

from __future__ import annotations

from adapters.memory.event_store import InMemoryEventStore
from application.handoff import HandoffHistory, handoff_history
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved

_HANDOFF_EVENTS = (ConversationEscalated, ConversationResolved, ConversationMarkedRead)


class InMemoryHandoffRecords:
    """``conversations``: each business's conversations, public id -> stream id."""

    def __init__(self, store: InMemoryEventStore, conversations: dict[str, dict[str, str]]) -> None:
        self._store = store
        self._conversations = conversations

    async def stream_of(self, business_id: str, conversation_id: str) -> str | None:
        return self._conversations.get(business_id, {}).get(conversation_id)

    async def history(self, stream_id: str) -> HandoffHistory:
        events = await self._store.read_stream(stream_id)
        version = events[-1].version if events else 0
        found = [(r.version, r.event) for r in events if isinstance(r.event, _HANDOFF_EVENTS)]
        return handoff_history(version, found)
