"""A background worker that polls for due work: the notice deliverer and the outbox sender."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Final

import structlog

log = structlog.get_logger(__name__)

# A round in progress when the process is told to stop may finish within this time: a
# message already handed to Meta then has its answer recorded instead of being sent again.
STOP_GRACE_SECONDS: Final = 20.0


class PollingWorker(ABC):
    """Runs rounds until stopped; sleeps between rounds only when a round left nothing due."""

    def __init__(
        self, name: str, poll_seconds: float, *, stop_grace_seconds: float = STOP_GRACE_SECONDS
    ) -> None:
        self._name = name
        self._poll_seconds = poll_seconds
        self._stop_grace_seconds = stop_grace_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @abstractmethod
    async def work_round(self) -> bool:
        """Do one batch of due work; True when fewer than a batch were due."""

    async def wait_for_work(self) -> None:
        """Between rounds that left nothing due: the poll, or less when woken up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    def wake_up(self) -> None:
        """End the wait for work at once: work may be due, or the worker is told to stop."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name=self._name)

    async def stop(self) -> None:
        """Let the round in progress finish (for the grace period at most), then end."""
        if self._task is None:
            return
        self._stopping.set()
        self.wake_up()
        _, unfinished = await asyncio.wait({self._task}, timeout=self._stop_grace_seconds)
        if unfinished:
            log.warning("worker.stopped_mid_round", worker=self._name,
                        grace_seconds=self._stop_grace_seconds)  # fmt: skip
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before the round: work arriving during it wakes the next wait
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
