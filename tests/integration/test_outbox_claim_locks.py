"""A claim skips the rows another sender is claiming right now: it never waits for them and
never takes them too (FOR UPDATE SKIP LOCKED on real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.outbox import PostgresOutbox, apply_outbox_event
from application.codec import EventCodec
from domain.conversation import conversation_stream
from domain.event_types import EVENT_TYPES
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued

NUMBER = "1020"


async def queue_row(pool: asyncpg.Pool[Any], customer: str) -> str:
    message_id = str(uuid.uuid4())
    event = OutboundMessageQueued(
        message_id=message_id, business_id="acme", phone_number_id=NUMBER,
        conversation_stream=conversation_stream(NUMBER, customer),
        recipient=Recipient(phone_number=customer), message=TextMessage(body="hi"),
        requested_by="system", queued_at=datetime.now(UTC),
    )  # fmt: skip
    async with pool.acquire() as connection:
        await apply_outbox_event(connection, event, version=1)
    return message_id


async def test_a_row_another_sender_is_claiming_is_skipped_not_waited_for(
    pool: asyncpg.Pool[Any],
) -> None:
    busy = await queue_row(pool, "33611110001")
    free = await queue_row(pool, "33611110002")
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    outbox = PostgresOutbox(pool, store)
    try:
        async with pool.acquire() as other_sender, other_sender.transaction():
            # Another sender's claim holds this row's lock until its transaction ends.
            await other_sender.execute(
                "select 1 from outbox where message_id = $1 for update", uuid.UUID(busy)
            )
            claimed = await asyncio.wait_for(outbox.claim_due(10, lease_seconds=90), 5)
            assert [c.message_id for c in claimed] == [free]
            await other_sender.execute(
                "update outbox set status = 'in_flight', attempts = 1,"
                " lease_until = now() + interval '90 seconds' where message_id = $1",
                uuid.UUID(busy),
            )
        # Once that claim is committed, the row is in flight: nobody takes it again.
        assert await outbox.claim_due(10, lease_seconds=90) == []
    finally:
        await store.close()


async def test_a_lease_is_renewed_only_by_the_claim_that_holds_it(pool: asyncpg.Pool[Any]) -> None:
    message_id = await queue_row(pool, "33611110003")
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    outbox = PostgresOutbox(pool, store)
    try:
        [claim] = await outbox.claim_due(10, lease_seconds=5)
        lease_of = "select lease_until - now() from outbox where message_id = $1"
        assert await outbox.renew_lease(message_id, claim.attempt, lease_seconds=600)
        assert (await pool.fetchval(lease_of, uuid.UUID(message_id))).total_seconds() > 500
        # The lease ran out and another sender claimed attempt 2: attempt 1 is no longer ours.
        await pool.execute("update outbox set lease_until = now() where message_id = $1",
                           uuid.UUID(message_id))  # fmt: skip
        [again] = await outbox.claim_due(10, lease_seconds=5)
        assert again.attempt == claim.attempt + 1
        assert not await outbox.renew_lease(message_id, claim.attempt, lease_seconds=600)
        assert (await pool.fetchval(lease_of, uuid.UUID(message_id))).total_seconds() < 10
    finally:
        await store.close()
