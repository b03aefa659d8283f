"""The order commands' unit of work in memory: reads and appends on the in-memory event
store, the templates of an in-memory book, idempotency keys in a dict. Appends are atomic
per call (``append_atomic``); nothing is rolled back when a command fails after one, which
the commands never rely on (each appends once, last)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from application.event_log import AppendRequest, AppendResult, RecordedEvent
from application.idempotency import KeyToRemember, RememberedKey
from application.ports import EventStore
from application.templates import TemplateBook


class InMemoryOrderUnit:
    def __init__(
        self,
        store: EventStore,
        templates: TemplateBook,
        keys: dict[tuple[str, str], RememberedKey],
    ) -> None:
        self._store = store
        self._templates = templates
        self._keys = keys

    @property
    def templates(self) -> TemplateBook:
        return self._templates

    async def read(self, stream_id: str) -> list[RecordedEvent]:
        return await self._store.read_stream(stream_id)

    async def read_newest(self, stream_id: str, limit: int) -> list[RecordedEvent]:
        return await self._store.read_stream_backward(stream_id, limit=limit)

    async def append(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        return await self._store.append_atomic(requests)

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        return self._keys.get((business_id, key))

    async def remember(self, key: KeyToRemember) -> RememberedKey | None:
        known = self._keys.get((key.business_id, key.key))
        if known is not None:
            return known
        self._keys[(key.business_id, key.key)] = key.remembered()
        return None


class InMemoryOrderUnits:
    def __init__(self, store: EventStore, templates: TemplateBook) -> None:
        self._store = store
        self._templates = templates
        self.keys: dict[tuple[str, str], RememberedKey] = {}

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InMemoryOrderUnit]:
        yield InMemoryOrderUnit(self._store, self._templates, self.keys)
