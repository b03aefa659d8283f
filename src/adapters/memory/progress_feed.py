"""An in-memory ProgressFeed: checkpoints, events and sessions a test sets by hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from application.event_log import FeedPosition, RecordedEvent


class InMemoryProgressFeed:
    """``move`` a checkpoint, ``add`` events, ``close_session``, ``lose`` the connection."""

    def __init__(self) -> None:
        self.positions: dict[str, FeedPosition] = {}
        self.events: list[RecordedEvent] = []
        self.sessions: set[bytes] = set()
        self.opened = 0
        self.open_now = False
        self._woken: set[str] = set()
        self._signal = asyncio.Event()
        self._lost = False

    # -- what a test does --------------------------------------------------------------------

    def add(self, *events: RecordedEvent) -> None:
        self.events.extend(events)
        self.events.sort(key=lambda e: e.position)

    def move(self, name: str, to: FeedPosition) -> None:
        self.positions[name] = to
        self._wake("progress")

    def close_session(self, key: bytes) -> None:
        self.sessions.discard(key)
        self._wake("sessions")

    def lose(self) -> None:
        self._lost = True
        self._signal.set()

    def _wake(self, what: str) -> None:
        self._woken.add(what)
        self._signal.set()

    # -- ProgressFeed ------------------------------------------------------------------------

    async def open(self) -> None:
        self._lost = False
        self.opened += 1
        self.open_now = True

    async def close(self) -> None:
        self.open_now = False

    async def wait(self, timeout: float) -> frozenset[str]:
        if not self._signal.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._signal.wait()
        self._signal.clear()
        if self._lost:
            raise ConnectionError("lost")
        woken, self._woken = frozenset(self._woken), set()
        return woken

    def _ready(self) -> None:
        if self._lost or not self.open_now:
            raise ConnectionError("not open")

    async def checkpoints(self, names: Sequence[str]) -> dict[str, FeedPosition]:
        self._ready()
        return {name: self.positions[name] for name in names if name in self.positions}

    async def read_feed(self, after: FeedPosition, limit: int) -> Sequence[RecordedEvent]:
        self._ready()
        return [e for e in self.events if e.position > after][:limit]

    async def live_sessions(self, session_keys: Sequence[bytes]) -> set[bytes]:
        self._ready()
        return {key for key in session_keys if key in self.sessions}
