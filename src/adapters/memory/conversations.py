"""Conversations' activity for service tests: the streams named, with their activity time."""

from __future__ import annotations

from datetime import datetime

from application.assistant_evaluation import ConversationRef
from domain.public_ids import conversation_public_id


class InMemoryActiveConversations:
    def __init__(self) -> None:
        self._last: dict[tuple[str, str], datetime] = {}

    def saw(self, business_id: str, stream: str, at: datetime) -> None:
        known = self._last.get((business_id, stream))
        if known is None or at > known:
            self._last[business_id, stream] = at

    async def active_since(self, business_id: str, since: datetime) -> list[ConversationRef]:
        found = [
            (at, stream)
            for (business, stream), at in self._last.items()
            if business == business_id and at >= since
        ]
        return [
            ConversationRef(stream, conversation_public_id(business_id, stream))
            for _, stream in sorted(found, reverse=True)
        ]
