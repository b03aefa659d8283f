"""Assistant turns in PostgreSQL: the subscriber that records turn requests, and the table
of conversations waiting for a turn that workers of any process claim with a lease."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import asyncpg
import structlog

from adapters.postgres.connection import PgConnection
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.listening import listening
from application.assistant_turns import TURNS_SUBSCRIBER, ClaimedConversation
from application.event_log import ANY, AppendRequest, ExpectedVersion, NewEvent, RecordedEvent
from domain.assistant_turns import AssistantTurnRequested, turn_requested_event_id
from domain.conversation import MessageReceived
from domain.events import DomainEvent, EventMetadata, event_type_name
from domain.outbox import OutboundMessageQueued
from domain.reply_policy import LASTING_KINDS, starts_turn

log = structlog.get_logger(__name__)

# Turn workers listen here to hear of new requests at once (their poll is the safety net).
TURNS_CHANNEL: Final = "wazybot_assistant_turns"

_REQUESTED_SQL: Final = """
insert into assistant_turns as t (conversation_stream, business_id, requested)
values ($1, $2, 1)
on conflict (conversation_stream) do update
set requested = t.requested + 1,
    requested_at = case when t.requested > t.handled then t.requested_at else now() end,
    updated_at = now()
"""
# The due conditions sit on the locked row, so PostgreSQL checks them again on its newest
# version when another worker changed it: a conversation is never claimed twice.
_CLAIM_SQL: Final = """
with due as (
    select conversation_stream from assistant_turns
    where requested > handled and (lease_until is null or lease_until <= now())
    order by requested_at
    limit $1
    for update skip locked
)
update assistant_turns t
set lease_until = now() + make_interval(secs => $2), lease_token = gen_random_uuid(),
    updated_at = now()
from due where t.conversation_stream = due.conversation_stream
returning t.conversation_stream, t.business_id, t.requested, t.lease_token
"""
_RELEASE_SQL: Final = """
update assistant_turns
set handled = greatest(handled, $2), lease_until = null, lease_token = null, updated_at = now()
where conversation_stream = $1 and lease_token = $3
"""
_NOTHING_HANDLED: Final = 0


def _newest_before(type_name: str, also: str = "") -> str:
    # The type is written out, not a parameter: PostgreSQL then knows the partial index
    # events_lasting_reply_idx (migration 0017) holds the rows, and takes one probe of it.
    return f"""(
    select stream_id, version, global_position, tx::text as tx_text, event_id, type, data,
           metadata, recorded_at
    from events
    where stream_id = $1 and version < $2 and type = '{type_name}'{also}
    order by version desc limit 1
)"""


_LASTING_SQL: Final = (
    "select * from (\n"
    + "\nunion all\n".join(
        [_newest_before(event_type_name(kind)) for kind in LASTING_KINDS
         if kind is not OutboundMessageQueued]
        + [_newest_before(event_type_name(OutboundMessageQueued),
                          " and data ->> 'requested_by' = 'agent'")]
    )
    + "\n) lasting order by version"
)  # fmt: skip


class TurnRequestSubscriber:
    """Records a turn request for each customer message that may start one, with its own
    checkpoint, and marks the conversation as waiting for a turn. Disabled (automatic
    replies off for the whole deployment), it only moves its checkpoint."""

    name = TURNS_SUBSCRIBER

    def __init__(self, store: PostgresEventStore, *, enabled: bool = True) -> None:
        self._store = store
        self._enabled = enabled

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        if not self._enabled:
            return
        requested = False
        for recorded in events:
            # Carts and order buttons are the orders process manager's to answer.
            if not starts_turn(recorded.event):
                continue
            event = recorded.event
            assert isinstance(event, MessageReceived)
            await self._request(tx, recorded, event)
            requested = True
        if requested:  # delivered at commit, when the rows are there to claim
            await tx.execute("select pg_notify($1, '')", TURNS_CHANNEL)

    async def _request(
        self, tx: PgConnection, recorded: RecordedEvent, event: MessageReceived
    ) -> None:
        wamid = event.message.wamid
        request = AssistantTurnRequested(
            business_id=event.business_id, wamid=wamid, at=event.message.sent_at
        )
        metadata = EventMetadata(
            correlation_id=recorded.metadata.correlation_id or wamid,
            causation_id=str(recorded.event_id),
        )
        new = NewEvent(request, turn_requested_event_id(wamid), metadata)
        (result,) = await self._store.append_on(tx, [AppendRequest(recorded.stream_id, (new,))])
        if result.appended:
            await tx.execute(_REQUESTED_SQL, recorded.stream_id, event.business_id)


class PostgresLastingEvents:
    """What lasts of a conversation's older events, one index probe per kind."""

    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def lasting_events(self, stream_id: str, before_version: int) -> list[DomainEvent]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_LASTING_SQL, stream_id, before_version)
        return [self._store.decode_row(row).event for row in rows]


class PostgresTurnBook:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def claim(self, limit: int, lease_seconds: float) -> list[ClaimedConversation]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_CLAIM_SQL, limit, lease_seconds)
        return [
            ClaimedConversation(
                row["conversation_stream"],
                row["business_id"],
                row["requested"],
                str(row["lease_token"]),
            )
            for row in rows
        ]

    async def lasting_events(self, stream_id: str, before_version: int) -> list[DomainEvent]:
        return await PostgresLastingEvents(self._pool, self._store).lasting_events(
            stream_id, before_version
        )

    async def record(
        self,
        claim: ClaimedConversation,
        outcome: NewEvent,
        effects: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> bool:
        stream = claim.conversation_stream
        async with self._pool.acquire() as connection, connection.transaction():
            (first,) = await self._store.append_on(
                connection, [AppendRequest(stream, (outcome,), expected_version)]
            )
            if first.appended and effects:
                await self._store.append_on(connection, [AppendRequest(stream, tuple(effects))])
            # A turn whose outcome was already stored answered nothing: the requests it saw
            # stay open (the stored outcome may have answered fewer of them).
            handled = claim.requested if first.appended else _NOTHING_HANDLED
            await self._release_on(connection, claim, handled)
        return bool(first.appended)

    async def release(self, claim: ClaimedConversation) -> None:
        async with self._pool.acquire() as connection:
            await self._release_on(connection, claim, claim.requested)

    async def abandon(self, claim: ClaimedConversation) -> None:
        async with self._pool.acquire() as connection:
            await self._release_on(connection, claim, _NOTHING_HANDLED)

    async def _release_on(
        self, connection: PgConnection, claim: ClaimedConversation, handled: int
    ) -> None:
        await connection.execute(
            _RELEASE_SQL, claim.conversation_stream, handled, uuid.UUID(claim.lease_token)
        )

    def watching(self, wake: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        return listening(self._pool, TURNS_CHANNEL, wake)
