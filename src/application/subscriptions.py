"""The runner that feeds one subscriber: catch up from its checkpoint, then follow live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

import structlog

from application.codec import EventCodec
from application.event_log import (
    AppendRequest,
    EventStoreError,
    FeedPosition,
    InvalidAppendError,
    NewEvent,
    RecordedEvent,
)
from application.ports import Subscriber, SubscriptionSession, SubscriptionSource, TxT
from domain.events import EventMetadata, event_type_name
from domain.operations import EventParked, event_parked_id, parked_stream
from domain.privacy import mask_phones_in

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    batch_size: int = 500
    poll_interval: float = 2.0
    retry_delay: float = 0.5
    max_retry_delay: float = 30.0
    # Attempts of a failing batch before it is narrowed to single events, and of a
    # failing single event before it is parked.
    attempts_before_parking: int = 5


@dataclass(slots=True)
class RunnerState:
    leading: bool = False
    checkpoint: FeedPosition | None = None
    handled_events: int = 0
    last_error: str | None = None
    parked_events: int = 0


@dataclass(slots=True)
class _Trouble:
    """A batch that failed for a reason the event may be at fault for, and where it stands."""

    until: FeedPosition  # the failing batch's last event: narrowed to singles up to here
    at: FeedPosition  # the checkpoint the current attempts start from
    attempts: int = 0
    narrowing: bool = False


class SubscriptionRunner(Generic[TxT]):
    """Runs a subscriber while this process holds its leadership; retries after failures.

    Each batch is handled in one transaction together with the checkpoint move,
    so a crash anywhere replays the batch as a whole (exactly-once effect).

    A batch that keeps failing for a reason the events may be at fault for is retried
    a bounded number of times, then event by event; an event that still fails alone
    is parked (set aside with its error) and the subscriber moves on.
    """

    def __init__(
        self,
        subscriber: Subscriber[TxT],
        source: SubscriptionSource[TxT],
        settings: RunnerSettings | None = None,
    ) -> None:
        self.subscriber = subscriber
        self._source = source
        self._settings = settings or RunnerSettings()
        self.state = RunnerState()
        self._failures = 0
        self._trouble: _Trouble | None = None
        self._progress = asyncio.Condition()

    async def wait_for_checkpoint(self, position: FeedPosition) -> None:
        """Return once every event up to ``position`` is handled and committed."""
        async with self._progress:
            await self._progress.wait_for(self._reached(position))

    def _reached(self, position: FeedPosition) -> Callable[[], bool]:
        return lambda: self.state.checkpoint is not None and self.state.checkpoint >= position

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                async with self._source.lead(self.subscriber.name) as session:
                    self.state.leading = True
                    log.info("subscriber.leading", subscriber=self.subscriber.name)
                    await self._follow(session)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._failures += 1
                self.state.last_error = describe_failure(error)
                log.warning(
                    "subscriber.failed",
                    subscriber=self.subscriber.name,
                    error=self.state.last_error,
                    attempt=self._failures,
                )
                await asyncio.sleep(self._backoff(self._failures))
            finally:
                self.state.leading = False

    async def _follow(self, session: SubscriptionSession[TxT]) -> None:
        checkpoint = await session.load_checkpoint()
        await self._advance(checkpoint)
        while True:
            batch = await session.read_feed(checkpoint, self._batch_limit(checkpoint))
            if not batch:
                await session.wait_for_events(self._settings.poll_interval)
                continue
            checkpoint = await self._handle_batch(session, checkpoint, batch)

    async def _handle_batch(
        self,
        session: SubscriptionSession[TxT],
        checkpoint: FeedPosition,
        batch: Sequence[RecordedEvent],
    ) -> FeedPosition:
        latest = batch[-1].position
        with structlog.contextvars.bound_contextvars(**_batch_context(batch)):
            try:
                async with session.transaction() as tx:
                    await self.subscriber.handle(tx, batch)
                    await session.save_checkpoint(tx, checkpoint, latest)
            except Exception as error:
                log.warning(
                    "subscriber.batch_failed",
                    subscriber=self.subscriber.name,
                    first_position=batch[0].position.position,
                    last_position=latest.position,
                    error=describe_failure(error),
                )
                await _record_error_quietly(session, describe_failure(error))
                if not session.may_park(error) or not self._gives_up_on(checkpoint, batch):
                    raise
                return await self._park(session, checkpoint, batch[0], error)
        self.state.handled_events += len(batch)
        self._failures = 0
        if self._trouble is not None and latest >= self._trouble.until:
            self._trouble = None  # past the batch that failed: whole batches again
        await self._advance(latest)
        return latest

    def _batch_limit(self, checkpoint: FeedPosition) -> int:
        trouble = self._trouble
        if trouble is not None and trouble.narrowing and checkpoint < trouble.until:
            return 1
        return self._settings.batch_size

    def _gives_up_on(self, checkpoint: FeedPosition, batch: Sequence[RecordedEvent]) -> bool:
        """Count a failure the events may be at fault for; True when the single event is done."""
        trouble = self._trouble
        if trouble is None or checkpoint >= trouble.until:
            trouble = self._trouble = _Trouble(until=batch[-1].position, at=checkpoint)
        elif trouble.at != checkpoint:
            trouble.at, trouble.attempts = checkpoint, 0
        trouble.attempts += 1
        if trouble.attempts < self._settings.attempts_before_parking:
            return False
        if len(batch) > 1:
            trouble.narrowing, trouble.attempts = True, 0  # find the event at fault
            log.warning("subscriber.narrowing", subscriber=self.subscriber.name,
                        first_position=batch[0].position.position,
                        last_position=batch[-1].position.position)  # fmt: skip
            return False
        return True

    async def _park(
        self,
        session: SubscriptionSession[TxT],
        checkpoint: FeedPosition,
        event: RecordedEvent,
        error: Exception,
    ) -> FeedPosition:
        attempts = self._trouble.attempts if self._trouble else 1
        await session.park(event, describe_failure(error), attempts, checkpoint)
        log.error(
            "subscriber.event_parked", subscriber=self.subscriber.name,
            position=event.position.position, event_id=str(event.event_id), type=event.type,
            error=describe_failure(error), attempts=attempts,
        )  # fmt: skip
        if self._trouble is not None:
            self._trouble.attempts = 0
            if event.position >= self._trouble.until:
                self._trouble = None
        self.state.parked_events += 1
        self._failures = 0
        await self._advance(event.position)
        return event.position

    async def _advance(self, checkpoint: FeedPosition) -> None:
        """Record where the subscriber stands and wake everyone waiting for it."""
        self.state.checkpoint = checkpoint
        async with self._progress:
            self._progress.notify_all()

    def _backoff(self, failures: int) -> float:
        delay = self._settings.retry_delay * 2 ** min(failures - 1, 16)
        return float(min(delay, self._settings.max_retry_delay))


def _batch_context(batch: Sequence[RecordedEvent]) -> dict[str, str]:
    """The batch's correlation id when all its events share one (a batch may mix several)."""
    ids = {event.metadata.correlation_id for event in batch}
    if len(ids) == 1 and (only := ids.pop()) is not None:
        return {"correlation_id": only}
    return {}


async def _record_error_quietly(session: SubscriptionSession[TxT], message: str) -> None:
    try:
        await session.record_error(message)
    except Exception as error:  # the original failure matters more than this one
        log.warning("subscriber.error_not_recorded", error=describe_failure(error))


def describe_failure(error: BaseException) -> str:
    """A failure as stored and shown (checkpoints, parked events, notices, the errors API).

    It leaves the logs' masking behind, so a number or BSUID quoted by an exception
    is masked here.
    """
    return mask_phones_in(f"{type(error).__name__}: {error}")[:1000]


def may_be_the_events(error: BaseException) -> bool:
    """Could the batch's events be what fails (so retrying them alone, then parking, helps)?

    The store refusing a subscriber's own appends is: the same events fail the same way.
    Other store errors, lost connections and timeouts are passing troubles, never parked.
    """
    if isinstance(error, InvalidAppendError):
        return True
    return not isinstance(error, OSError | TimeoutError | EventStoreError)


class RunnerGroup:
    """Starts and stops the runners of one process."""

    def __init__(self, runners: Sequence[SubscriptionRunner[Any]]) -> None:
        self.runners = list(runners)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(runner.run(), name=f"subscriber:{runner.subscriber.name}")
            for runner in self.runners
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


def business_of(event: RecordedEvent) -> str | None:
    business_id = getattr(event.event, "business_id", None)
    return business_id if isinstance(business_id, str) else None


def parked_record(
    codec: EventCodec, subscriber: str, event: RecordedEvent, error: str, attempts: int
) -> list[AppendRequest]:
    """The EventParked to append with the park (the team is told through it).

    None for a parked EventParked, so a failing notice subscriber cannot feed itself, and
    none where the codec does not hold the type (stores of other event sets).
    """
    name = event_type_name(EventParked)
    if event.type == name or name not in codec.type_names:
        return []
    parked = EventParked(
        subscriber=subscriber, parked_event_id=event.event_id, parked_type=event.type,
        stream_id=event.stream_id, position=event.position.position, error=error[:1000],
        attempts=attempts, business_id=business_of(event),
    )  # fmt: skip
    metadata = EventMetadata(correlation_id=event.metadata.correlation_id,
                             causation_id=str(event.event_id))  # fmt: skip
    new = NewEvent(parked, event_parked_id(subscriber, event.event_id), metadata)
    return [AppendRequest(parked_stream(subscriber), (new,))]
