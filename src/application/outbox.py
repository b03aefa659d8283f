"""The outbox sender: takes due queued messages, sends them, records what Meta answered.

A claim (with a lease) commits before the Graph API is called, and the outcome is
recorded afterwards as events of the conversation, so no transaction stays open across
the call. Queue order holds within a conversation: only its oldest unfinished message
is ever claimed, so one message is in flight per conversation. A worker that dies
mid-send leaves its claim to expire; the message is then sent again, and its events say
a duplicate is possible (the one window where at least once cannot be made exact).

Each number's rate holds across every process: before sending, a sender reserves a send
slot for each claimed message from the number's shared pace (``SendPacing``) and waits for
it. Messages are claimed again while earlier ones wait for their slots, but never more
than ``lookahead_seconds`` of slots ahead. A free-form message whose 24-hour window closed
while it waited fails without Meta being called.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

import structlog

from application.event_log import NewEvent
from application.gateway import AccessToken, AccessTokenUnreadableError, GatewayError, Sender
from application.polling import PollingWorker
from application.ports import WhatsAppGateway
from domain.events import EventMetadata
from domain.outbound import OutboundMessage, Recipient
from domain.outbox import (
    GiveUp,
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundSendFailed,
    RetryPolicy,
    accepted_event_id,
    dead_lettered_event_id,
    decide_retry,
    failed_event_id,
    queued_event_id,
)
from domain.privacy import mask_customer_id, mask_phones_in, safe_error_details
from domain.service_window import WINDOW_CLOSED_REASON, may_send
from domain.whatsapp_errors import Classification, ErrorClass, Transport, classify

log = structlog.get_logger(__name__)

OUTBOX_SUBSCRIBER: Final = "outbox"
# Seconds of a lease kept free beyond a send's own time limit (clock steps, a slow commit).
LEASE_MARGIN: Final = 2.0
# The share of the stop grace the sends in flight may use; the rest is for cancelling them.
STOP_SHARE: Final = 0.8


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message a sender holds until ``lease`` runs out; ``attempt`` counts from 1."""

    message_id: str
    business_id: str
    phone_number_id: str
    conversation_stream: str
    recipient: Recipient
    message: OutboundMessage
    attempt: int
    queued_at: datetime
    possibly_sent: bool  # an earlier attempt may have reached Meta
    last_inbound_at: datetime | None = None  # the customer's last message (Meta's time)
    # The wamid of an earlier sending Meta accepted, then reported failed: this is a new one.
    previous_wamid: str | None = None


class Outbox(Protocol):
    async def claim_due(self, limit: int, lease_seconds: float) -> list[ClaimedMessage]:
        """Take due messages (the oldest unfinished one of each conversation) for a lease."""
        ...

    async def record(self, conversation_stream: str, events: Sequence[NewEvent]) -> None:
        """Append an attempt's outcome to the conversation and apply it to its row, at once."""
        ...

    def watching(self, wake: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """Call ``wake`` when messages are queued (from any process) while in the block."""
        ...

    async def renew_lease(self, message_id: str, attempt: int, lease_seconds: float) -> bool:
        """Hold a claimed message ``lease_seconds`` from now; False when the claim of this
        attempt is no longer ours (its lease ran out and another sender took it)."""
        ...


class SendPacing(Protocol):
    """Each phone number's send slots, shared by the senders of every process."""

    async def reserve(self, phone_number_id: str, business_id: str, count: int) -> list[float]:
        """Reserve ``count`` consecutive slots; the seconds from now to each one."""
        ...

    async def slow_down(self, phone_number_id: str) -> float:
        """Meta said the number sends too fast; the share of its rate left."""
        ...


class AccessTokens(Protocol):
    async def access_token_of(self, business_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SenderSettings:
    poll_seconds: float = 0.5
    batch_size: int = 20
    # Longer than any send may take: an attempt still running when it ends may be repeated.
    lease_seconds: float = 90.0
    send_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Messages waiting for their slot or their answer, at most, in this process.
    max_in_flight: int = 500
    # No new claims while this process holds slots further ahead than this: a slow-down then
    # applies within that time, and other processes get their share of the number's rate.
    lookahead_seconds: float = 0.25
    # A send that wakes later than this after its slot takes a new slot instead: late sends
    # bunched with punctual ones would put more than the rate into one second.
    slot_tolerance: float = 0.02


class OutboxSender(PollingWorker):
    """Sends due messages until stopped; safe to run in any number of processes."""

    def __init__(
        self,
        outbox: Outbox,
        gateway: WhatsAppGateway,
        tokens: AccessTokens,
        settings: SenderSettings | None = None,
        *,
        pacing: SendPacing | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._gateway = gateway
        self._tokens = tokens
        self._settings = settings or SenderSettings()
        self._pacing = pacing
        self._clock = clock
        self._rand = rand
        self._in_flight: set[asyncio.Task[None]] = set()
        super().__init__("outbox-sender", self._settings.poll_seconds)

    async def run(self) -> None:
        try:
            async with self._outbox.watching(self.wake_up):
                await super().run()
        finally:
            await self._finish_in_flight()

    async def work_round(self) -> bool:
        """Claim and start a batch without waiting for its sends; pace the next claim."""
        while len(self._in_flight) >= self._settings.max_in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
        limit = min(self._settings.batch_size,
                    self._settings.max_in_flight - len(self._in_flight))  # fmt: skip
        claimed = await self._outbox.claim_due(limit, self._settings.lease_seconds)
        _, furthest_slot = await self._start(claimed)
        ahead = furthest_slot - self._settings.lookahead_seconds
        if ahead > 0:
            await asyncio.sleep(ahead)  # the slots already held keep the number busy till then
        return len(claimed) < limit

    async def send_due(self) -> bool:
        """Send one batch of due messages, each at its slot; True when fewer than a batch
        were due."""
        claimed = await self._outbox.claim_due(
            self._settings.batch_size, self._settings.lease_seconds
        )
        tasks, _ = await self._start(claimed)
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(claimed) < self._settings.batch_size

    async def _start(self, claimed: list[ClaimedMessage]) -> tuple[list[asyncio.Task[None]], float]:
        """Start sending each message at its slot; the tasks, and the seconds to the last slot."""
        now = self._clock()
        tasks, furthest = [], 0.0
        by_number: dict[tuple[str, str], list[ClaimedMessage]] = {}
        for message in claimed:
            if may_send(message.message, message.last_inbound_at, now):
                by_number.setdefault((message.phone_number_id, message.business_id), []).append(
                    message
                )
            else:
                tasks.append(self._spawn(self._window_closed(message), message))
        loop = asyncio.get_running_loop()
        for (number, business_id), messages in by_number.items():
            delays = await self._reserve(number, business_id, len(messages))
            if delays is None:
                continue  # their leases run out and they are claimed again
            now_local = loop.time()
            for message, delay in zip(messages, delays, strict=True):
                send = self._send_at(message, now_local + delay, claimed_at=now_local)
                tasks.append(self._spawn(send, message))
            furthest = max(furthest, delays[-1])
        return tasks, furthest

    async def _reserve(self, number: str, business_id: str, count: int) -> list[float] | None:
        if self._pacing is None:
            return [0.0] * count
        try:
            return await self._pacing.reserve(number, business_id, count)
        except Exception as error:  # the database is away: send nothing rather than too much
            log.error("outbox.slots_not_reserved", count=count, error=type(error).__name__)
            return None

    def _spawn(
        self, work: Coroutine[object, object, None], message: ClaimedMessage
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._in_flight.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._in_flight.discard(done)
            self.wake_up()  # the conversation's next message may be due now
            if not done.cancelled() and (error := done.exception()) is not None:
                # Its lease runs out and it is sent again.
                log.error("outbox.send_not_recorded", message_id=message.message_id,
                          error=type(error).__name__)  # fmt: skip

        task.add_done_callback(finished)
        return task

    async def _finish_in_flight(self) -> None:
        """At stop: let sends already started end (within the stop grace): a send cut off
        after Meta took it would be sent again once its lease ran out."""
        if not self._in_flight:
            return
        pending = set(self._in_flight)
        try:  # within the stop grace, so that what is left is cancelled here, not orphaned
            await asyncio.wait(pending, timeout=self._stop_grace_seconds * STOP_SHARE)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _send_at(self, claimed: ClaimedMessage, slot: float, *, claimed_at: float) -> None:
        """Send when the slot comes (pacing, not a race); the window is checked right before.

        The token is read first, so nothing but the request itself follows the slot.
        """
        token = await self._token_of(claimed.business_id)
        if token is None:
            reason = "the business has no usable access token: store one for it"
            await self._failed(claimed, Classification(error_class=ErrorClass.CRITICAL,
                                                       reason=reason), None, None)  # fmt: skip
            return
        if not await self._punctual(claimed, slot):
            return  # no slot could be reserved: its lease runs out and it is claimed again
        if not await self._lease_covers_send(claimed, claimed_at):
            return
        if not may_send(claimed.message, claimed.last_inbound_at, self._clock()):
            await self._window_closed(claimed)
            return
        await self._send(claimed, token)

    async def _punctual(self, claimed: ClaimedMessage, slot: float) -> bool:
        """Wait for the slot; False when a new one was needed and could not be reserved."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, slot - loop.time()))
            if self._pacing is None or loop.time() - slot <= self._settings.slot_tolerance:
                return True
            # Woken too late (a busy process): a new slot rather than a burst.
            delays = await self._reserve(claimed.phone_number_id, claimed.business_id, 1)
            if delays is None:
                return False
            slot = loop.time() + delays[0]

    async def _lease_covers_send(self, claimed: ClaimedMessage, claimed_at: float) -> bool:
        """A long wait for a slot (a low rate, many senders) may have eaten into the lease:
        renew it, so the send ends before it does and no other sender takes the message
        over while Meta may be taking it."""
        waited = asyncio.get_running_loop().time() - claimed_at
        if waited <= self._settings.lease_seconds - self._settings.send_timeout - LEASE_MARGIN:
            return True
        try:
            renewed = await self._outbox.renew_lease(
                claimed.message_id, claimed.attempt, self._settings.lease_seconds
            )
        except Exception as error:  # the database is away: its lease runs out, it goes again
            log.error("outbox.lease_not_renewed", message_id=claimed.message_id,
                      error=type(error).__name__)  # fmt: skip
            return False
        if not renewed:
            log.warning("outbox.claim_lost", message_id=claimed.message_id,
                        attempt=claimed.attempt)  # fmt: skip
        return renewed

    async def _window_closed(self, claimed: ClaimedMessage) -> None:
        """The customer's 24-hour window closed while the message waited: fail it for good,
        without calling Meta."""
        closed = Classification(error_class=ErrorClass.PERMANENT, reason=WINDOW_CLOSED_REASON)
        await self._failed(claimed, closed, None, None)

    async def _slow_down(self, claimed: ClaimedMessage) -> None:
        if self._pacing is None:
            return
        try:
            share = await self._pacing.slow_down(claimed.phone_number_id)
        except Exception as error:  # the retry's backoff still applies
            log.error("outbox.slow_down_failed", error=type(error).__name__)
            return
        log.warning("outbox.number_slowed_down", phone_number_id=claimed.phone_number_id,
                    share_of_rate=round(share, 3))  # fmt: skip

    async def _send(self, claimed: ClaimedMessage, token: str) -> None:
        sender = Sender(claimed.phone_number_id, AccessToken(token))
        try:
            async with asyncio.timeout(self._settings.send_timeout):
                accepted = await self._gateway.send(sender, claimed.recipient, claimed.message)
        except GatewayError as error:
            if error.classification.error_class is ErrorClass.THROUGHPUT:
                await self._slow_down(claimed)
            await self._failed(claimed, error.classification, error.code, error.title,
                               error.details)  # fmt: skip
            return
        except TimeoutError:
            await self._failed(claimed, classify(None, None, Transport.NO_ANSWER), None, None)
            return
        await self._accepted(claimed, accepted.wamid)

    async def _token_of(self, business_id: str) -> str | None:
        """The business's token; None when it has none or it cannot be opened. Any other
        error (the database away) propagates: the lease runs out and the message goes again."""
        try:
            return await self._tokens.access_token_of(business_id)
        except AccessTokenUnreadableError as error:  # a key that does not open the stored token
            log.error("outbox.token_unavailable", business_id=business_id,
                      error=type(error).__name__)  # fmt: skip
            return None

    async def _accepted(self, claimed: ClaimedMessage, wamid: str) -> None:
        event = OutboundMessageAccepted(message_id=claimed.message_id, wamid=wamid,
                                        attempt=claimed.attempt, at=self._clock(),
                                        ambiguous_retry=claimed.possibly_sent,
                                        business_id=claimed.business_id)  # fmt: skip
        event_id = accepted_event_id(claimed.message_id, claimed.previous_wamid)
        await self._outbox.record(claimed.conversation_stream, [_new(event, event_id)])
        log.info("outbox.accepted", message_id=claimed.message_id, attempt=claimed.attempt,
                 ambiguous_retry=claimed.possibly_sent)  # fmt: skip

    async def _failed(
        self,
        claimed: ClaimedMessage,
        classification: Classification,
        code: int | None,
        title: str | None,
        details: str | None = None,
    ) -> None:
        now = self._clock()
        decision = decide_retry(classification, claimed.attempt, queued_at=claimed.queued_at,
                                now=now, policy=self._settings.retry, rand=self._rand)  # fmt: skip
        next_attempt_at = None if isinstance(decision, GiveUp) else decision.when
        failed = OutboundSendFailed(
            message_id=claimed.message_id, attempt=claimed.attempt, code=code,
            title=mask_phones_in(title) if title else None,
            reason=mask_phones_in(classification.reason), error_class=classification.error_class,
            retryable=classification.retryable, next_attempt_at=next_attempt_at,
            ambiguous=classification.ambiguous, at=now, business_id=claimed.business_id,
            details=safe_error_details(details),
        )  # fmt: skip
        events = [_new(failed, failed_event_id(claimed.message_id, claimed.attempt))]
        if isinstance(decision, GiveUp) and decision.exhausted:
            dead = OutboundMessageDeadLettered(message_id=claimed.message_id,
                                               attempts=claimed.attempt,
                                               reason=mask_phones_in(classification.reason),
                                               at=now, business_id=claimed.business_id)  # fmt: skip
            events.append(_new(dead, dead_lettered_event_id(claimed.message_id)))
        await self._outbox.record(claimed.conversation_stream, events)
        log.warning("outbox.send_failed", message_id=claimed.message_id, attempt=claimed.attempt,
                    recipient=mask_customer_id(claimed.recipient.address), code=code,
                    error_class=classification.error_class.value,
                    next_attempt_at=next_attempt_at, dead_lettered=len(events) > 1)  # fmt: skip


def _new(
    event: OutboundMessageAccepted | OutboundSendFailed | OutboundMessageDeadLettered,
    event_id: uuid.UUID,
) -> NewEvent:
    """An outcome event, caused by the message's queuing."""
    cause = str(queued_event_id(event.message_id))
    return NewEvent(event, event_id, EventMetadata(causation_id=cause))
