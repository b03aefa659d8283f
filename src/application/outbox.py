"""The outbox sender: takes due queued messages, sends them, records what Meta answered.

A claim (with a lease) commits before the Graph API is called, and the outcome is
recorded afterwards as events of the conversation, so no transaction stays open across
the call. Queue order holds within a conversation: only its oldest unfinished message
is ever claimed, so one message is in flight per conversation. A worker that dies
mid-send leaves its claim to expire; the message is then sent again, and its events say
a duplicate is possible (the one window where at least once cannot be made exact).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

import structlog

from application.event_log import NewEvent
from application.gateway import AccessToken, GatewayError, Sender
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
from domain.privacy import mask_customer_id, mask_phones_in
from domain.whatsapp_errors import Classification, ErrorClass, Transport, classify

log = structlog.get_logger(__name__)

OUTBOX_SUBSCRIBER: Final = "outbox"


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


class Outbox(Protocol):
    async def claim_due(self, limit: int, lease_seconds: float) -> list[ClaimedMessage]:
        """Take due messages (the oldest unfinished one of each conversation) for a lease."""
        ...

    async def record(self, conversation_stream: str, events: Sequence[NewEvent]) -> None:
        """Append an attempt's outcome to the conversation and apply it to its row, at once."""
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


class OutboxSender(PollingWorker):
    """Sends due messages until stopped; safe to run in any number of processes."""

    def __init__(
        self,
        outbox: Outbox,
        gateway: WhatsAppGateway,
        tokens: AccessTokens,
        settings: SenderSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._gateway = gateway
        self._tokens = tokens
        self._settings = settings or SenderSettings()
        self._clock = clock
        self._rand = rand
        super().__init__("outbox-sender", self._settings.poll_seconds)

    async def work_round(self) -> bool:
        return await self.send_due()

    async def send_due(self) -> bool:
        """Send one batch of due messages; True when fewer than a batch were due."""
        claimed = await self._outbox.claim_due(
            self._settings.batch_size, self._settings.lease_seconds
        )
        outcomes = await asyncio.gather(
            *(self._send(message) for message in claimed), return_exceptions=True
        )
        for message, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):  # its lease runs out and it is sent again
                log.error("outbox.send_not_recorded", message_id=message.message_id,
                          error=type(outcome).__name__)  # fmt: skip
        return len(claimed) < self._settings.batch_size

    async def _send(self, claimed: ClaimedMessage) -> None:
        token = await self._token_of(claimed.business_id)
        if token is None:
            reason = "the business has no usable access token: store one for it"
            await self._failed(claimed, Classification(error_class=ErrorClass.CRITICAL,
                                                       reason=reason), None, None)  # fmt: skip
            return
        sender = Sender(claimed.phone_number_id, AccessToken(token))
        try:
            async with asyncio.timeout(self._settings.send_timeout):
                accepted = await self._gateway.send(sender, claimed.recipient, claimed.message)
        except GatewayError as error:
            await self._failed(claimed, error.classification, error.code, error.title)
            return
        except TimeoutError:
            await self._failed(claimed, classify(None, None, Transport.NO_ANSWER), None, None)
            return
        await self._accepted(claimed, accepted.wamid)

    async def _token_of(self, business_id: str) -> str | None:
        try:
            return await self._tokens.access_token_of(business_id)
        except Exception as error:  # a key that does not open the stored token
            log.error("outbox.token_unavailable", business_id=business_id,
                      error=type(error).__name__)  # fmt: skip
            return None

    async def _accepted(self, claimed: ClaimedMessage, wamid: str) -> None:
        event = OutboundMessageAccepted(message_id=claimed.message_id, wamid=wamid,
                                        attempt=claimed.attempt, at=self._clock(),
                                        ambiguous_retry=claimed.possibly_sent,
                                        business_id=claimed.business_id)  # fmt: skip
        await self._outbox.record(
            claimed.conversation_stream, [_new(event, accepted_event_id(claimed.message_id))]
        )
        log.info("outbox.accepted", message_id=claimed.message_id, attempt=claimed.attempt,
                 ambiguous_retry=claimed.possibly_sent)  # fmt: skip

    async def _failed(
        self,
        claimed: ClaimedMessage,
        classification: Classification,
        code: int | None,
        title: str | None,
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
