"""Team notifications, driven by events and never lost.

``TeamNoticeRecorder`` is a subscriber: it turns trigger events into pending notices in
its own batch transaction, keyed by their cause, so one cause gives one notice however
often it is seen, and a crash never loses one. Sending incidents (a business's expired
token, its dead letters) are kept open across batches, in the same transaction, until a
send of that business is accepted (``application.notices.plan_notices``).
``NoticeDeliveryWorker`` then delivers each pending notice on each channel on its own,
outside any transaction, retrying a failing channel with exponential backoff and full
jitter; nothing else waits for it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Generic

import structlog

from application.event_log import RecordedEvent
from application.notices import NotificationError, businesses_in, plan_notices
from application.polling import PollingWorker
from application.ports import NoticeDeliveries, NoticeDelivery, NoticeQueue, Notifier, TxT

log = structlog.get_logger(__name__)

NOTICE_SUBSCRIBER: Final = "team-notices"


# A first start on a long history must not page the team about last year's incidents.
MAX_NOTICE_AGE: Final = timedelta(days=1)


class TeamNoticeRecorder(Generic[TxT]):
    """Queues the notices that events deserve, in the batch's transaction.

    Events recorded longer ago than ``max_age`` give no notice (they are history).
    """

    name = NOTICE_SUBSCRIBER

    def __init__(
        self,
        queue: NoticeQueue[TxT],
        *,
        max_age: timedelta = MAX_NOTICE_AGE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queue = queue
        self._max_age = max_age
        self._clock = clock

    async def handle(self, tx: TxT, events: Sequence[RecordedEvent]) -> None:
        oldest = self._clock() - self._max_age
        businesses = businesses_in(events)
        open_incidents = await self._queue.open_incidents(tx, businesses) if businesses else {}
        notices, changes = plan_notices(events, open_incidents, oldest=oldest)
        if not changes.empty:
            await self._queue.save_incidents(tx, changes)
        if notices:
            queued = await self._queue.enqueue(tx, notices)
            log.info("notice.queued", notices=len(notices), deliveries=queued)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    poll_seconds: float = 1.0
    batch_size: int = 20
    send_timeout: float = 30.0
    # A claimed delivery whose process died is due again after this.
    lease_seconds: float = 120.0
    first_retry_seconds: float = 5.0
    max_retry_seconds: float = 3600.0


def retry_delay(attempt: int, settings: DeliverySettings, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter: uniform in (0, base * 2^(attempt-1)], capped."""
    ceiling = min(settings.first_retry_seconds * 2 ** min(attempt - 1, 30),
                  settings.max_retry_seconds)  # fmt: skip
    return float(max(ceiling * rand(), settings.first_retry_seconds / 10))


class NoticeDeliveryWorker(PollingWorker):
    """Delivers due notices until cancelled; each channel succeeds or retries on its own."""

    def __init__(
        self,
        deliveries: NoticeDeliveries,
        notifiers: Sequence[Notifier],
        settings: DeliverySettings | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._deliveries = deliveries
        self._notifiers = {notifier.channel: notifier for notifier in notifiers}
        self._settings = settings or DeliverySettings()
        self._rand = rand
        super().__init__("notice-delivery", self._settings.poll_seconds)

    @property
    def channels(self) -> list[str]:
        return list(self._notifiers)

    async def work_round(self) -> bool:
        return await self.deliver_due()

    async def deliver_due(self) -> bool:
        """Deliver one batch of due notices; True when fewer than a batch were due."""
        claimed = await self._deliveries.claim_due(
            self.channels, self._settings.batch_size, self._settings.lease_seconds
        )
        await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        return len(claimed) < self._settings.batch_size

    async def _deliver(self, delivery: NoticeDelivery) -> None:
        notifier = self._notifiers[delivery.channel]
        try:
            async with asyncio.timeout(self._settings.send_timeout):
                await notifier.send(delivery.notice)
        except (NotificationError, TimeoutError) as error:
            await self._retry_later(delivery, str(error) or "timed out")
            return
        except Exception as error:  # a bug in a channel must not stop the others
            await self._retry_later(delivery, f"{type(error).__name__}")
            return
        await self._deliveries.delivered(delivery.id)
        log.info("notice.delivered", channel=delivery.channel, notice_event=delivery.notice.event,
                 business_id=delivery.notice.business_id, attempt=delivery.attempt)  # fmt: skip

    async def _retry_later(self, delivery: NoticeDelivery, error: str) -> None:
        delay = retry_delay(delivery.attempt, self._settings, self._rand)
        when = datetime.now(UTC) + timedelta(seconds=delay)
        await self._deliveries.retry_at(delivery.id, error, when)
        log.warning("notice.delivery_failed", channel=delivery.channel,
                    notice_event=delivery.notice.event, attempt=delivery.attempt, error=error,
                    retry_in_seconds=round(delay, 2))  # fmt: skip
