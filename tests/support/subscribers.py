"""Subscribers and helpers for the subscription tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from application.event_log import RecordedEvent

HANDLED_TABLE = """
create table if not exists handled (
    event_id uuid primary key,
    owner text not null,
    position bigint not null
)
"""


class RecordingSubscriber:
    """Remembers what it handled; can be told to fail its first calls."""

    def __init__(self, name: str = "recorder", fail_times: int = 0) -> None:
        self.name = name
        self.events: list[RecordedEvent] = []
        self.calls = 0
        self._fail_times = fail_times
        self._changed = asyncio.Condition()

    async def handle(self, tx: object, events: Sequence[RecordedEvent]) -> None:
        self.calls += 1
        if self._fail_times > 0:
            self._fail_times -= 1
            raise RuntimeError("handler failed on purpose")
        self.events.extend(events)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 15) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.events) >= count), timeout
            )


class TableSubscriber:
    """Writes one row per event in the runner's transaction (a stand-in for a projection)."""

    def __init__(self, owner: str, name: str = "table-writer", fail_times: int = 0) -> None:
        self.name = name
        self._owner = owner
        self._fail_times = fail_times

    async def handle(self, tx: asyncpg.Connection[Any], events: Sequence[RecordedEvent]) -> None:
        await tx.executemany(
            "insert into handled (event_id, owner, position) values ($1, $2, $3)",
            [(e.event_id, self._owner, e.position.position) for e in events],
        )
        if self._fail_times > 0:
            self._fail_times -= 1
            raise RuntimeError("failed after writing, before commit")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    """Wait until ``check`` holds, polling; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
