"""The outbox in PostgreSQL: rows written from the conversation's events, claimed by
senders of any process with FOR UPDATE SKIP LOCKED and a lease.

Every row change comes from an event and is idempotent, so the subscriber may see an
event again, and the sender applies an outcome in the very transaction that appends it
(a lease can then never run out between Meta's answer and the subscriber catching up).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import msgspec
import structlog

from adapters.postgres.connection import PgConnection
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.listening import listening
from application.event_log import AppendRequest, NewEvent, RecordedEvent
from application.outbox import OUTBOX_SUBSCRIBER, ClaimedMessage
from domain.conversation import MessageReceived, MessageStatusUpdated
from domain.events import DomainEvent
from domain.inbound import DeliveryStatus
from domain.outbound import OutboundMessage, Recipient
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundMessageQueued,
    OutboundRetryRequested,
    OutboundSendFailed,
)
from domain.privacy import mask_phones_in, safe_error_details
from domain.timeline import FAILED
from domain.whatsapp_errors import reported_failure_reason


class _Payload(msgspec.Struct, frozen=True, kw_only=True):
    recipient: Recipient
    message: OutboundMessage


log = structlog.get_logger(__name__)

# Senders listen here to hear of newly queued messages at once (their poll is the safety net).
OUTBOX_CHANNEL: Final = "wazybot_outbox"

_ENCODER: Final = msgspec.json.Encoder()
_PAYLOAD: Final = msgspec.json.Decoder(_Payload)

_INSERT_SQL: Final = """
insert into outbox (message_id, business_id, phone_number_id, conversation_stream, queue_seq,
                    next_attempt_at, queued_at, payload)
values ($1, $2, $3, $4, $5, $6, $6, $7)
on conflict (message_id) do nothing
"""
# A wamid Meta already reported failed fails the row at once (its status may be recorded
# first); replayed, such an acceptance never takes back a row sent again since.
_ACCEPTED_SQL: Final = """
with failure as (select reason, details from outbox_failed_wamids where wamid = $2)
update outbox
set status = case when exists (select from failure) then 'failed' else 'accepted' end,
    wamid = $2, attempts = greatest(attempts, $3), lease_until = null, next_attempt_at = null,
    last_error = (select reason from failure), error_details = (select details from failure),
    possibly_sent = possibly_sent or $4, updated_at = now()
where message_id = $1
  and (not exists (select from failure)
       or (status in ('in_flight', 'retrying') and wamid is distinct from $2 and attempts <= $3))
"""
# Meta failed a message after accepting it: final for that wamid. A row sent again since
# holds a newer wamid (or waits to be sent), so a late status of the old one moves nothing.
_WAMID_FAILED_SQL: Final = """
insert into outbox_failed_wamids (wamid, business_id, code, reason, details, failed_at)
values ($1, $2, $3, $4, $5, $6)
on conflict (wamid) do nothing
"""
_REPORTED_FAILED_SQL: Final = """
update outbox o set status = 'failed', last_error = f.reason, error_details = f.details,
                    next_attempt_at = null, lease_until = null, updated_at = now()
from outbox_failed_wamids f
where f.wamid = $1 and o.wamid = $1 and o.business_id = $2 and o.status = 'accepted'
"""
# An outcome of an attempt older than the row's (a claim came since) changes nothing.
_FAILED_SQL: Final = """
update outbox
set status = case when $3::timestamptz is null then 'failed' else 'retrying' end,
    attempts = $2, next_attempt_at = $3, lease_until = null, last_error = $4,
    possibly_sent = possibly_sent or $5, error_details = $6, updated_at = now()
where message_id = $1 and attempts <= $2 and status not in ('accepted', 'failed')
"""
_DEAD_SQL: Final = """
update outbox set status = 'failed', dead_lettered = true, next_attempt_at = null,
                  lease_until = null, last_error = $2, updated_at = now()
where message_id = $1 and status <> 'accepted'
"""
# A failed message asked for again: due at once, after the attempt that failed last.
_RETRY_SQL: Final = """
update outbox set status = 'queued', dead_lettered = false, next_attempt_at = $3,
                  lease_until = null, updated_at = now()
where message_id = $1 and status = 'failed' and attempts = $2
"""

# The heads are the oldest unfinished message of each conversation (in flight or not); a
# head is due when its next attempt came or its lease ran out (its sender died). The due
# conditions are on the locked row, so PostgreSQL checks them again on its newest version
# when a concurrent sender changed it: a row is never claimed twice.
_CLAIM_SQL: Final = """
with heads as (
    select distinct on (conversation_stream) message_id
    from outbox
    where status in ('queued', 'in_flight', 'retrying')
    order by conversation_stream, queue_seq
), due as (
    select o.message_id
    from outbox o join heads h on h.message_id = o.message_id
    where (o.status in ('queued', 'retrying') and o.next_attempt_at <= now())
       or (o.status = 'in_flight' and o.lease_until <= now())
    order by o.next_attempt_at, o.queue_seq
    limit $1
    for update of o skip locked
)
update outbox o
set possibly_sent = o.possibly_sent or o.status = 'in_flight',
    status = 'in_flight', attempts = o.attempts + 1,
    lease_until = now() + make_interval(secs => $2), updated_at = now()
from due where o.message_id = due.message_id
returning o.message_id, o.business_id, o.phone_number_id, o.conversation_stream, o.attempts,
          o.queued_at, o.possibly_sent, o.payload, o.wamid,
          (select w.last_inbound_at from conversation_windows w
           where w.conversation_stream = o.conversation_stream) as last_inbound_at
"""
# Meta's timestamps may arrive out of order: the window follows the latest one.
_LAST_INBOUND_SQL: Final = """
insert into conversation_windows as w (conversation_stream, last_inbound_at) values ($1, $2)
on conflict (conversation_stream) do update
set last_inbound_at = greatest(w.last_inbound_at, excluded.last_inbound_at)
"""

_RENEW_SQL: Final = """
update outbox set lease_until = now() + make_interval(secs => $3), updated_at = now()
where message_id = $1 and attempts = $2 and status = 'in_flight'
returning 1
"""


async def apply_outbox_event(tx: PgConnection, event: DomainEvent, version: int) -> None:
    """Change the outbox row as ``event`` says; ``version`` is its place in its stream."""
    match event:
        case OutboundMessageQueued():
            payload = _ENCODER.encode(_Payload(recipient=event.recipient, message=event.message))
            await tx.execute(_INSERT_SQL, uuid.UUID(event.message_id), event.business_id,
                             event.phone_number_id, event.conversation_stream, version,
                             event.queued_at, payload)  # fmt: skip
        case OutboundMessageAccepted():
            await tx.execute(_ACCEPTED_SQL, uuid.UUID(event.message_id), event.wamid,
                             event.attempt, event.ambiguous_retry)  # fmt: skip
        case OutboundSendFailed():
            await tx.execute(_FAILED_SQL, uuid.UUID(event.message_id), event.attempt,
                             event.next_attempt_at, event.reason[:1000],
                             event.ambiguous, event.details)  # fmt: skip
        case OutboundMessageDeadLettered():
            await tx.execute(_DEAD_SQL, uuid.UUID(event.message_id), event.reason[:1000])
        case OutboundRetryRequested():
            await tx.execute(_RETRY_SQL, uuid.UUID(event.message_id), event.after_attempt,
                             event.at)  # fmt: skip
        case MessageStatusUpdated(status=status) if status.status == FAILED:
            await _reported_failed(tx, event.business_id, status)
        case _:
            pass


async def _reported_failed(tx: PgConnection, business_id: str, status: DeliveryStatus) -> None:
    error = status.errors[0] if status.errors else None
    code, title = (error.code or None, error.title) if error else (None, None)
    reason = mask_phones_in(reported_failure_reason(code, title))
    details = safe_error_details(error.details) if error else None
    await tx.execute(_WAMID_FAILED_SQL, status.wamid, business_id, code, reason[:1000], details,
                     status.at)  # fmt: skip
    await tx.execute(_REPORTED_FAILED_SQL, status.wamid, business_id)


class OutboxSubscriber:
    """Keeps the outbox table in step with the outbox events, with its checkpoint, and each
    conversation's last inbound message time (its 24-hour window at send time)."""

    name = OUTBOX_SUBSCRIBER

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        queued = False
        for recorded in events:
            if isinstance(recorded.event, MessageReceived):
                await tx.execute(_LAST_INBOUND_SQL, recorded.stream_id,
                                 recorded.event.message.sent_at)  # fmt: skip
                continue
            await apply_outbox_event(tx, recorded.event, recorded.version)
            queued = queued or isinstance(recorded.event, OutboundMessageQueued)
        if queued:  # delivered at commit, when the rows are there to claim
            await tx.execute("select pg_notify($1, '')", OUTBOX_CHANNEL)


class PostgresOutbox:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store
        self._outcomes: list[_Outcome] = []
        self._recorder: asyncio.Task[None] | None = None

    async def renew_lease(self, message_id: str, attempt: int, lease_seconds: float) -> bool:
        async with self._pool.acquire() as connection:
            renewed = await connection.fetchval(
                _RENEW_SQL, uuid.UUID(message_id), attempt, lease_seconds
            )
        return renewed is not None

    async def claim_due(self, limit: int, lease_seconds: float) -> list[ClaimedMessage]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_CLAIM_SQL, limit, lease_seconds)
        return [_claimed(row) for row in rows]

    def watching(self, wake: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """Call ``wake`` whenever messages are queued, from any process, while in the block."""
        return listening(self._pool, OUTBOX_CHANNEL, wake)

    async def record(self, conversation_stream: str, events: Sequence[NewEvent]) -> None:
        """Outcomes recorded at the same time share one transaction (a group commit): at a
        high send rate, a transaction per message would cost more than the sends."""
        outcome = _Outcome(conversation_stream, events, asyncio.get_running_loop().create_future())
        self._outcomes.append(outcome)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_pending(), name="outbox-recorder")
        await asyncio.shield(outcome.done)

    async def _record_pending(self) -> None:
        while self._outcomes:
            batch: list[_Outcome] = []
            rest: list[_Outcome] = []
            streams: set[str] = set()
            for outcome in self._outcomes:  # a conversation at most once a transaction
                (rest if outcome.stream in streams else batch).append(outcome)
                streams.add(outcome.stream)
            self._outcomes = rest
            try:
                await self._record_batch(batch)
            except BaseException:  # cancelled (shutdown): nobody waits for ever
                for outcome in batch + self._outcomes:
                    if not outcome.done.done():
                        outcome.done.cancel()
                self._outcomes = []
                raise

    async def _record_batch(self, batch: list[_Outcome]) -> None:
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                await self._store.append_on(
                    connection, [AppendRequest(o.stream, o.events) for o in batch]
                )
                await _apply_outcomes(connection, [new.event for o in batch for new in o.events])
        except Exception as error:
            if len(batch) > 1:  # one refused outcome never costs the others
                for outcome in batch:
                    await self._record_batch([outcome])
                return
            if not batch[0].done.done():
                batch[0].done.set_exception(error)
            return
        for outcome in batch:
            if not outcome.done.done():
                outcome.done.set_result(None)


@dataclass(slots=True)
class _Outcome:
    stream: str
    events: Sequence[NewEvent]
    done: asyncio.Future[None]


async def _apply_outcomes(connection: PgConnection, events: Sequence[DomainEvent]) -> None:
    """Apply outcome events to their rows, each kind in one pipelined statement, failures
    before dead letters (as they come in one message's events)."""
    accepted = [(uuid.UUID(e.message_id), e.wamid, e.attempt, e.ambiguous_retry)
                for e in events if isinstance(e, OutboundMessageAccepted)]  # fmt: skip
    failed = [(uuid.UUID(e.message_id), e.attempt, e.next_attempt_at, e.reason[:1000], e.ambiguous,
               e.details) for e in events if isinstance(e, OutboundSendFailed)]  # fmt: skip
    dead = [(uuid.UUID(e.message_id), e.reason[:1000])
            for e in events if isinstance(e, OutboundMessageDeadLettered)]  # fmt: skip
    for sql, rows in ((_ACCEPTED_SQL, accepted), (_FAILED_SQL, failed), (_DEAD_SQL, dead)):
        if rows:
            await connection.executemany(sql, rows)


def _claimed(row: asyncpg.Record) -> ClaimedMessage:
    payload = _PAYLOAD.decode(row["payload"])
    return ClaimedMessage(
        message_id=str(row["message_id"]),
        business_id=row["business_id"],
        phone_number_id=row["phone_number_id"],
        conversation_stream=row["conversation_stream"],
        recipient=payload.recipient,
        message=payload.message,
        attempt=row["attempts"],
        queued_at=row["queued_at"],
        possibly_sent=row["possibly_sent"],
        last_inbound_at=row["last_inbound_at"],
        previous_wamid=row["wamid"],
    )
