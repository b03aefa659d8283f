"""The outbox through the real path: events, the outbox subscriber, PostgreSQL claims with
leases, the sender with the in-memory gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from adapters.memory.gateway import InMemoryWhatsAppGateway
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.outbox import OutboxSubscriber, PostgresOutbox
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.codec import EventCodec
from application.event_log import AppendResult
from application.outbox import OutboxSender, SenderSettings
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.conversation import MessageReceived, conversation_stream
from domain.event_types import EVENT_TYPES
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundMessageQueued,
    OutboundSendFailed,
    RetryPolicy,
)
from domain.whatsapp_errors import ErrorClass, Transport
from tests.integration.test_subscriptions_contract import caught_up
from tests.support.outbound import customer_wrote, queued

CODEC = EventCodec(EVENT_TYPES)
NUMBER = "1010"
# Retries are due at once (rand 0 and a zero first delay), so tests never wait for backoff.
NO_WAIT = SenderSettings(retry=RetryPolicy(first_delay=timedelta(0), max_attempts=3))


class Tokens:
    async def access_token_of(self, business_id: str) -> str | None:
        return {"acme": "token-acme"}.get(business_id)


class Outboxes:
    """A store, the outbox subscriber running, and senders on their own pools."""

    def __init__(self, database_url: str, store: PostgresEventStore,
                 runner: SubscriptionRunner[Any], pool: asyncpg.Pool[Any]) -> None:  # fmt: skip
        self.database_url = database_url
        self.store = store
        self.runner = runner
        self.pool = pool
        self.gateway = InMemoryWhatsAppGateway()

    async def queue(self, customer: str, body: str, business_id: str = "acme") -> str:
        """Queue a text to ``customer``, whose message just opened the 24-hour window."""
        message_id = str(uuid.uuid4())
        stream = conversation_stream(NUMBER, customer)
        reply = queued(NUMBER, customer, body, business_id=business_id, message_id=message_id)
        events = [customer_wrote(NUMBER, customer), reply]
        result = await self.store.append(stream, events)
        await self.settle(result)
        return message_id

    async def settle(self, result: AppendResult | None = None) -> None:
        """Wait until the subscriber has applied everything appended so far."""
        if result is None:
            head = await self.pool.fetchval("select max(global_position) from events")
            (last,) = await self.store.read_stream_backward(await self._stream_of(head), limit=1)
            await asyncio.wait_for(self.runner.wait_for_checkpoint(last.position), 15)
            return
        await caught_up(self.runner, result)

    async def _stream_of(self, position: int) -> str:
        return str(await self.pool.fetchval(
            "select stream_id from events where global_position = $1", position))  # fmt: skip

    def sender(self, pool: asyncpg.Pool[Any] | None = None,
               settings: SenderSettings = NO_WAIT) -> OutboxSender:  # fmt: skip
        outbox = PostgresOutbox(pool or self.pool, self.store)
        return OutboxSender(outbox, self.gateway, Tokens(), settings, rand=lambda: 0.0)

    async def rows(self) -> dict[str, asyncpg.Record]:
        rows = await self.pool.fetch("select * from outbox")
        return {str(r["message_id"]): r for r in rows}

    async def events_of(self, customer: str) -> list[Any]:
        """The outbox's events of the conversation (not the customer's messages)."""
        records = await self.store.read_stream(conversation_stream(NUMBER, customer))
        return [r.event for r in records if not isinstance(r.event, MessageReceived)]


@pytest.fixture
async def outboxes(database_url: str, pool: asyncpg.Pool[Any]) -> AsyncIterator[Outboxes]:
    store = PostgresEventStore(pool, CODEC)
    runner = SubscriptionRunner(OutboxSubscriber(), PostgresSubscriptionSource(database_url, store),
                                RunnerSettings(poll_interval=0.05))  # fmt: skip
    task = asyncio.create_task(runner.run())
    try:
        yield Outboxes(database_url, store, runner, pool)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_a_conversation_sends_in_queue_order_one_at_a_time(outboxes: Outboxes) -> None:
    first = await outboxes.queue("33600000001", "one")
    second = await outboxes.queue("33600000001", "two")
    sender = outboxes.sender()

    claimed = await sender.send_due()
    assert claimed is True
    assert [s.message.body for s in outboxes.gateway.sent] == ["one"]  # type: ignore[union-attr]
    await outboxes.settle()
    await sender.send_due()
    await outboxes.settle()

    assert [s.message.body for s in outboxes.gateway.sent] == ["one", "two"]  # type: ignore[union-attr]
    rows = await outboxes.rows()
    assert [rows[m]["status"] for m in (first, second)] == ["accepted", "accepted"]
    assert rows[first]["wamid"] == outboxes.gateway.sent[0].wamid
    types = [type(e) for e in await outboxes.events_of("33600000001")]
    assert types == [OutboundMessageQueued, OutboundMessageQueued, OutboundMessageAccepted,
                     OutboundMessageAccepted]  # fmt: skip


async def test_the_second_message_waits_while_the_first_is_in_flight(outboxes: Outboxes) -> None:
    await outboxes.queue("33600000001", "one")
    await outboxes.queue("33600000001", "two")
    outbox = PostgresOutbox(outboxes.pool, outboxes.store)

    (held,) = await outbox.claim_due(10, lease_seconds=60)
    assert held.message.body == "one"  # type: ignore[union-attr]
    assert await outbox.claim_due(10, lease_seconds=60) == []  # "two" waits behind "one"


async def test_two_conversations_are_sent_in_parallel(outboxes: Outboxes) -> None:
    await outboxes.queue("33600000001", "to one")
    await outboxes.queue("33600000002", "to two")
    outbox = PostgresOutbox(outboxes.pool, outboxes.store)

    claimed = await outbox.claim_due(10, lease_seconds=60)
    assert sorted(c.message.body for c in claimed) == ["to one", "to two"]  # type: ignore[union-attr]


async def test_a_transient_error_is_retried_with_backoff_then_accepted(outboxes: Outboxes) -> None:
    message = await outboxes.queue("33600000001", "hello")
    outboxes.gateway.fail(131000, http_status=500)
    slow = SenderSettings(retry=RetryPolicy(first_delay=timedelta(seconds=60)))
    await outboxes.sender(settings=slow).send_due()
    await outboxes.settle()

    row = (await outboxes.rows())[message]
    assert (row["status"], row["attempts"]) == ("retrying", 1)
    wait = await outboxes.pool.fetchval("select next_attempt_at - now() from outbox")
    assert timedelta(seconds=5) < wait <= timedelta(seconds=60)  # rand 0 gives a tenth
    await outboxes.sender(settings=slow).send_due()
    assert len(outboxes.gateway.attempts) == 1
    assert outboxes.gateway.sent == []

    await outboxes.pool.execute("update outbox set next_attempt_at = now()")
    await outboxes.sender().send_due()
    await outboxes.settle()

    row = (await outboxes.rows())[message]
    assert (row["status"], row["attempts"]) == ("accepted", 2)
    failed, accepted = (await outboxes.events_of("33600000001"))[1:]
    assert isinstance(failed, OutboundSendFailed)
    assert (failed.code, failed.error_class, failed.retryable) == (131000, ErrorClass.TRANSIENT,
                                                                   True)  # fmt: skip
    assert isinstance(accepted, OutboundMessageAccepted)
    assert (accepted.attempt, accepted.ambiguous_retry) == (2, False)


async def test_a_permanent_error_fails_at_once(outboxes: Outboxes) -> None:
    message = await outboxes.queue("33600000001", "late")
    outboxes.gateway.fail(131047)
    await outboxes.sender().send_due()
    await outboxes.settle()
    await outboxes.sender().send_due()

    assert outboxes.gateway.attempts["33600000001"] == 1
    row = (await outboxes.rows())[message]
    assert (row["status"], row["attempts"], row["dead_lettered"]) == ("failed", 1, False)
    (failed,) = (await outboxes.events_of("33600000001"))[1:]
    assert isinstance(failed, OutboundSendFailed)
    assert failed.next_attempt_at is None
    assert not failed.retryable
    assert "24-hour" in failed.reason


async def test_a_failed_message_lets_the_next_one_go(outboxes: Outboxes) -> None:
    await outboxes.queue("33600000001", "first")
    await outboxes.queue("33600000001", "second")
    outboxes.gateway.fail(131026)
    sender = outboxes.sender()
    await sender.send_due()
    await outboxes.settle()
    await sender.send_due()

    assert [s.message.body for s in outboxes.gateway.sent] == ["second"]  # type: ignore[union-attr]


async def test_exhausted_attempts_dead_letter_the_message(outboxes: Outboxes) -> None:
    message = await outboxes.queue("33600000001", "hello")
    outboxes.gateway.fail(131016, http_status=503, times=3)
    sender = outboxes.sender()
    for _ in range(4):
        await sender.send_due()
        await outboxes.settle()

    assert outboxes.gateway.attempts["33600000001"] == 3  # max_attempts
    row = (await outboxes.rows())[message]
    assert (row["status"], row["attempts"], row["dead_lettered"]) == ("failed", 3, True)
    events = (await outboxes.events_of("33600000001"))[1:]
    assert [type(e) for e in events] == [OutboundSendFailed] * 3 + [OutboundMessageDeadLettered]
    assert events[2].next_attempt_at is None


async def test_an_expired_lease_is_sent_again_and_marked_as_a_possible_duplicate(
    outboxes: Outboxes,
) -> None:
    message = await outboxes.queue("33600000001", "hello")
    outbox = PostgresOutbox(outboxes.pool, outboxes.store)
    (dead_worker_claim,) = await outbox.claim_due(10, lease_seconds=60)
    await outboxes.sender().send_due()
    assert outboxes.gateway.sent == []  # leased to the worker that died

    await outboxes.pool.execute("update outbox set lease_until = now() - interval '1 second'")
    await outboxes.sender().send_due()
    await outboxes.settle()

    assert len(outboxes.gateway.sent) == 1
    row = (await outboxes.rows())[message]
    assert (row["status"], row["attempts"], row["possibly_sent"]) == ("accepted", 2, True)
    accepted = (await outboxes.events_of("33600000001"))[-1]
    assert isinstance(accepted, OutboundMessageAccepted)
    assert (accepted.attempt, accepted.ambiguous_retry) == (2, True)
    assert dead_worker_claim.attempt == 1


async def test_a_lost_answer_makes_the_retry_a_possible_duplicate(outboxes: Outboxes) -> None:
    await outboxes.queue("33600000001", "hello")
    outboxes.gateway.fail_transport(Transport.NO_ANSWER)
    sender = outboxes.sender()
    await sender.send_due()
    await outboxes.settle()
    await sender.send_due()
    await outboxes.settle()

    failed, accepted = (await outboxes.events_of("33600000001"))[1:]
    assert isinstance(failed, OutboundSendFailed)
    assert failed.ambiguous
    assert isinstance(accepted, OutboundMessageAccepted)
    assert accepted.ambiguous_retry


async def test_two_senders_racing_never_send_a_message_twice(
    outboxes: Outboxes, database_url: str
) -> None:
    customers = [f"336000001{n:02d}" for n in range(6)]
    for customer in customers:
        for n in range(3):
            await outboxes.queue(customer, f"{customer}-{n}")
    pools = [await create_pool(database_url, max_size=4) for _ in range(2)]
    senders = [outboxes.sender(pool) for pool in pools]
    try:
        async with asyncio.timeout(30):
            while len(outboxes.gateway.sent) < 18:
                await asyncio.gather(*(sender.send_due() for sender in senders))
                await outboxes.settle()
    finally:
        for pool in pools:
            await pool.close()

    bodies = [s.message.body for s in outboxes.gateway.sent]  # type: ignore[union-attr]
    assert len(bodies) == len(set(bodies)) == 18
    for customer in customers:
        mine = [b for b in bodies if b.startswith(customer)]
        assert mine == [f"{customer}-{n}" for n in range(3)]


async def test_a_redelivered_event_changes_nothing(outboxes: Outboxes) -> None:
    message = await outboxes.queue("33600000001", "hello")
    await outboxes.sender().send_due()
    await outboxes.settle()
    before = (await outboxes.rows())[message]

    subscriber = OutboxSubscriber()
    records = await outboxes.store.read_stream(conversation_stream(NUMBER, "33600000001"))
    async with outboxes.pool.acquire() as connection, connection.transaction():
        await subscriber.handle(connection, records)

    after = (await outboxes.rows())[message]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


async def test_stored_failure_texts_mask_phone_numbers(outboxes: Outboxes) -> None:
    await outboxes.queue("33600000001", "hello")
    outboxes.gateway.fail(999999, meta_message="(#999999) 33612345678 cannot get this")
    await outboxes.sender().send_due()

    (failed,) = (await outboxes.events_of("33600000001"))[1:]
    assert isinstance(failed, OutboundSendFailed)
    assert "33612345678" not in f"{failed.reason} {failed.title}"
    assert "***5678" in failed.reason


async def test_a_business_without_an_access_token_fails_the_message_at_once(
    outboxes: Outboxes,
) -> None:
    message = await outboxes.queue("33600000001", "hello", business_id="tokenless")
    await outboxes.sender().send_due()

    assert outboxes.gateway.attempts == {}
    assert (await outboxes.rows())[message]["status"] == "failed"
    (failed,) = (await outboxes.events_of("33600000001"))[1:]
    assert isinstance(failed, OutboundSendFailed)
    assert (failed.error_class, failed.next_attempt_at) == (ErrorClass.CRITICAL, None)
