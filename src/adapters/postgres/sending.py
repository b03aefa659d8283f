"""Queueing a message on PostgreSQL: reads, the idempotency key and the queued event in one
transaction; and the outbox as the API shows it (list, retry)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final

import asyncpg

from adapters.postgres.connection import PgConnection
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.idempotency import remember, remembered
from adapters.postgres.outbox import apply_outbox_event
from application.event_log import AppendRequest, NewEvent
from application.idempotency import KeyToRemember, RememberedKey
from application.sending import ConversationFacts, QuotedMessage, RetryOutcome
from domain.conversation import MessageReceived
from domain.events import EventMetadata, event_type_name
from domain.outbox import (
    OutboundRetryRequested,
    RequestedBy,
    parse_message_id,
    retry_requested_event_id,
)
from domain.public_ids import is_public_id

_CONVERSATION_SQL: Final = """
select id, phone_number_id, customer_id, customer_phone, customer_user_id, group_id
from conversations where business_id = $1 and public_id = $2
"""
_LAST_RECEIVED_SQL: Final = """
select stream_id, version, global_position, tx::text as tx_text, event_id, type, data, metadata,
       recorded_at
from events where stream_id = $1 and type = $2
order by version desc limit $3
"""
# Meta may deliver an older message late: the newest send time among the last few counts.
LATE_DELIVERY_LOOKBACK: Final = 20
_QUOTED_SQL: Final = """
select wamid from messages where business_id = $1 and conversation_id = $2 and public_id = $3
"""
_OUTBOX_ROW_SQL: Final = """
select conversation_stream, status, attempts from outbox
where business_id = $1 and message_id = $2
for update
"""
_CUSTOMER_CONVERSATIONS_SQL: Final = """
select public_id, phone_number_id from conversations
where business_id = $1 and group_id is null
  and ($3::text is null or phone_number_id = $3)
  and (customer_id = $2 or customer_phone = $2 or customer_user_id = $2
       or $2 = any(customer_identifiers))
order by last_activity_at desc
"""


def timeline_id(value: str) -> str | None:
    """A timeline id in its stored spelling: a public id, or a message id we gave (a UUID)."""
    if is_public_id(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class PostgresSendingUnit:
    def __init__(self, connection: PgConnection, store: PostgresEventStore) -> None:
        self._connection = connection
        self._store = store

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        return await remembered(self._connection, business_id, key)

    async def conversation(
        self, business_id: str, conversation_id: str
    ) -> ConversationFacts | None:
        if not is_public_id(conversation_id):
            return None
        row = await self._connection.fetchrow(_CONVERSATION_SQL, business_id, conversation_id)
        if row is None:
            return None
        return ConversationFacts(
            stream_id=row["id"], phone_number_id=row["phone_number_id"],
            customer_id=row["customer_id"], customer_phone=row["customer_phone"],
            customer_user_id=row["customer_user_id"], is_group=row["group_id"] is not None,
        )  # fmt: skip

    async def last_customer_message_at(self, stream_id: str) -> datetime | None:
        rows = await self._connection.fetch(
            _LAST_RECEIVED_SQL, stream_id, event_type_name(MessageReceived), LATE_DELIVERY_LOOKBACK
        )
        times = [
            event.message.sent_at
            for event in (self._store.decode_row(row).event for row in rows)
            if isinstance(event, MessageReceived)
        ]
        return max(times, default=None)

    async def quoted(
        self, business_id: str, stream_id: str, message_id: str
    ) -> QuotedMessage | None:
        stored_id = timeline_id(message_id)
        if stored_id is None:
            return None
        row = await self._connection.fetchrow(_QUOTED_SQL, business_id, stream_id, stored_id)
        return None if row is None else QuotedMessage(row["wamid"])

    async def queue(
        self, stream_id: str, new: NewEvent, key: KeyToRemember | None
    ) -> RememberedKey | None:
        if key is not None and (raced := await remember(self._connection, key)) is not None:
            return raced  # a concurrent request with this key committed first
        await self._store.append_on(self._connection, [AppendRequest(stream_id, [new])])
        return None


class PostgresSendingUnits:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[PostgresSendingUnit]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresSendingUnit(connection, self._store)

    async def customer_conversations(
        self, business_id: str, customer: str, phone_number_id: str | None
    ) -> list[tuple[str, str]]:
        """(public id, phone number id) of the business's conversations with ``customer``."""
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(
                _CUSTOMER_CONVERSATIONS_SQL, business_id, customer, phone_number_id
            )
        return [(r["public_id"], r["phone_number_id"]) for r in rows]


class PostgresOutboxRetries:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def request_retry(
        self, business_id: str, message_id: str, requested_by: RequestedBy, cause: str
    ) -> RetryOutcome:
        try:
            message_id = parse_message_id(message_id)
        except ValueError:
            return RetryOutcome.NOT_FOUND
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(_OUTBOX_ROW_SQL, business_id, uuid.UUID(message_id))
            if row is None:
                return RetryOutcome.NOT_FOUND
            if row["status"] != "failed":
                return RetryOutcome.NOT_FAILED
            at = await connection.fetchval("select now()")
            event = OutboundRetryRequested(message_id=message_id, after_attempt=row["attempts"],
                                           requested_by=requested_by, at=at)  # fmt: skip
            new = NewEvent(event, retry_requested_event_id(message_id, row["attempts"]),
                           EventMetadata(correlation_id=cause, causation_id=cause))  # fmt: skip
            request = AppendRequest(row["conversation_stream"], [new])
            await self._store.append_on(connection, [request])
            await apply_outbox_event(connection, event, 0)
        return RetryOutcome.RETRIED
