"""The background loop shared by the notice deliverer and the outbox sender."""

from __future__ import annotations

import asyncio

from application.polling import PollingWorker


class Scripted(PollingWorker):
    """Each round takes the next scripted outcome: True (idle), False (more due), or an error."""

    def __init__(self, outcomes: list[bool | Exception]) -> None:
        super().__init__("scripted", poll_seconds=0.01)
        self.outcomes = outcomes
        self.rounds = 0
        self.done = asyncio.Event()

    async def work_round(self) -> bool:
        self.rounds += 1
        if not self.outcomes:
            self.done.set()
            return True
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def test_a_failed_round_is_retried_and_busy_rounds_follow_each_other() -> None:
    worker = Scripted([ConnectionError("database away"), False, False, True])
    worker.start()
    await asyncio.wait_for(worker.done.wait(), timeout=5)
    await worker.stop()

    assert worker.rounds == 5  # the failure did not end the loop
    assert worker.outcomes == []


async def test_stop_ends_the_loop_and_may_be_called_twice() -> None:
    worker = Scripted([])
    worker.start()
    await asyncio.wait_for(worker.done.wait(), timeout=5)
    await worker.stop()
    rounds = worker.rounds
    await asyncio.sleep(0.05)
    await worker.stop()

    assert worker.rounds == rounds


class Slow(PollingWorker):
    """One round that takes ``seconds``; records whether it ran to its end."""

    def __init__(self, seconds: float, *, poll_seconds: float = 60.0, grace: float = 5.0) -> None:
        super().__init__("slow", poll_seconds, stop_grace_seconds=grace)
        self.seconds = seconds
        self.started = asyncio.Event()
        self.finished = False

    async def work_round(self) -> bool:
        if self.started.is_set():
            return True
        self.started.set()
        await asyncio.sleep(self.seconds)
        self.finished = True
        return True


async def test_stop_lets_the_round_in_progress_finish() -> None:
    worker = Slow(seconds=0.2)
    worker.start()
    await asyncio.wait_for(worker.started.wait(), timeout=5)
    await worker.stop()

    assert worker.finished  # a send already made gets its answer recorded


async def test_stop_cancels_a_round_that_outlasts_the_grace_period() -> None:
    worker = Slow(seconds=60, grace=0.1)
    worker.start()
    await asyncio.wait_for(worker.started.wait(), timeout=5)
    await asyncio.wait_for(worker.stop(), timeout=5)

    assert not worker.finished


async def test_stop_does_not_wait_for_the_next_poll() -> None:
    worker = Slow(seconds=0, poll_seconds=60)
    worker.start()
    await asyncio.wait_for(worker.started.wait(), timeout=5)
    await asyncio.wait_for(worker.stop(), timeout=5)

    assert worker.finished
