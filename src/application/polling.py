"""A background worker that polls for due work: the notice deliverer and the outbox sender."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

import structlog

log = structlog.get_logger(__name__)


class PollingWorker(ABC):
    """Runs rounds until stopped; sleeps between rounds only when a round left nothing due."""

    def __init__(self, name: str, poll_seconds: float) -> None:
        self._name = name
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def work_round(self) -> bool:
        """Do one batch of due work; True when fewer than a batch were due."""

    async def wait_for_work(self) -> None:
        """Between rounds that left nothing due: the poll (a worker told of work wakes sooner)."""
        await asyncio.sleep(self._poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        while True:
            try:
                idle = await self.work_round()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away: try again at the next poll
                log.warning("worker.round_failed", worker=self._name,
                            error=type(error).__name__)  # fmt: skip
                idle = True
            if idle:
                await self.wait_for_work()
