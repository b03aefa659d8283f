"""The handoff commands' reads and records over the in-memory event store, for service
tests; idempotency keys in a dict."""

from __future__ import annotations

from adapters.memory.event_store import InMemoryEventStore
from application.event_log import AppendRequest, ConcurrencyError, NewEvent
from application.handoff import HandoffHistory, handoff_history
from application.idempotency import KeyToRemember, RememberedKey
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved

_HANDOFF_EVENTS = (ConversationEscalated, ConversationResolved, ConversationMarkedRead)


class InMemoryHandoffRecords:
    """``conversations``: each business's conversations, public id -> stream id."""

    def __init__(self, store: InMemoryEventStore, conversations: dict[str, dict[str, str]]) -> None:
        self._store = store
        self._conversations = conversations
        self.keys: dict[tuple[str, str], RememberedKey] = {}

    async def stream_of(self, business_id: str, conversation_id: str) -> str | None:
        return self._conversations.get(business_id, {}).get(conversation_id)

    async def history(self, stream_id: str) -> HandoffHistory:
        events = await self._store.read_stream(stream_id)
        version = events[-1].version if events else 0
        found = [(r.version, r.event) for r in events if isinstance(r.event, _HANDOFF_EVENTS)]
        return handoff_history(version, found)

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        return self.keys.get((business_id, key))

    async def record(
        self, stream_id: str, version: int, new: NewEvent | None, key: KeyToRemember | None
    ) -> RememberedKey | None:
        if key is not None and (raced := self.keys.get((key.business_id, key.key))):
            return raced
        if new is not None:
            (result,) = await self._store.append_atomic([AppendRequest(stream_id, [new], version)])
            if result.is_duplicate:
                raise ConcurrencyError(stream_id, version, result.stream_version)
        if key is not None:
            self.keys[key.business_id, key.key] = key.remembered()
        return None
