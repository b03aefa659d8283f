"""Sending at each number's rate, through real PostgreSQL and real HTTP (the simulator).

Two senders on two pools stand for two worker processes; the simulator's request times
are what Meta would see.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from adapters.postgres.outbox import OutboxSubscriber, PostgresOutbox
from adapters.postgres.send_pacing import PostgresSendPacing
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from adapters.whatsapp.simulator import CloudApiSimulator, running
from adapters.whatsapp.simulator.state import RecordedRequest
from application.codec import EventCodec
from application.event_log import FeedPosition, NewEvent
from application.outbox import ClaimedMessage, OutboxSender, SenderSettings
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.conversation import MessageReceived, conversation_stream
from domain.event_types import EVENT_TYPES
from domain.outbound import OutboundMessage, TemplateMessage
from domain.outbox import OutboundSendFailed, RetryPolicy
from domain.send_pacing import PacingPolicy
from domain.service_window import WINDOW_CLOSED_REASON
from domain.whatsapp_errors import ErrorClass
from tests.support.outbound import customer_wrote, queued

CODEC = EventCodec(EVENT_TYPES)
NUMBER = "1065550100"
TOKEN = "EAAG-pacing-token"
NO_WAIT = RetryPolicy(first_delay=timedelta(0), max_attempts=5)
FAST = SenderSettings(poll_seconds=0.05, retry=NO_WAIT)
HEADROOM = PacingPolicy().headroom


class Tokens:
    async def access_token_of(self, business_id: str) -> str | None:
        return TOKEN if business_id == "acme" else None


class Rig:
    """The outbox subscriber running, the simulator serving, senders made on demand."""

    def __init__(self, database_url: str, pool: asyncpg.Pool[Any], store: PostgresEventStore,
                 runner: SubscriptionRunner[Any], sim: CloudApiSimulator,
                 gateway: GraphWhatsAppGateway) -> None:  # fmt: skip
        self.database_url = database_url
        self.pool = pool
        self.store = store
        self.runner = runner
        self.sim = sim
        self.gateway = gateway

    async def queue(self, customer: str, message: OutboundMessage | str = "hello", *,
                    wrote_at: datetime | None = None) -> str:  # fmt: skip
        """Queue a message to ``customer``, who last wrote at ``wrote_at`` (default: now)."""
        reply = queued(NUMBER, customer, message)
        stream = conversation_stream(NUMBER, customer)
        result = await self.store.append(stream, [customer_wrote(NUMBER, customer, wrote_at),
                                                  reply])  # fmt: skip
        assert result.last_position is not None
        await asyncio.wait_for(self.runner.wait_for_checkpoint(result.last_position), 15)
        return str(reply.event.message_id)  # type: ignore[attr-defined]

    async def settled(self) -> None:
        """The outbox subscriber has applied every event so far: its transaction, which
        locks the rows it updates, no longer makes a claim skip them (SKIP LOCKED)."""
        row = await self.pool.fetchrow(
            "select tx::text as tx, global_position from events order by tx desc,"
            " global_position desc limit 1"
        )
        assert row is not None
        head = FeedPosition(int(row["tx"]), row["global_position"])
        await asyncio.wait_for(self.runner.wait_for_checkpoint(head), 15)

    def sender(self, pool: asyncpg.Pool[Any] | None = None, *, rate: int = 20,
               policy: PacingPolicy | None = None,
               settings: SenderSettings = FAST) -> OutboxSender:  # fmt: skip
        pool = pool or self.pool
        pacing = PostgresSendPacing(pool, default_rate=rate, policy=policy)
        return OutboxSender(PostgresOutbox(pool, self.store), self.gateway, Tokens(), settings,
                            pacing=pacing, rand=lambda: 0.0)  # fmt: skip

    def sends(self, customer: str | None = None) -> list[RecordedRequest]:
        """Every message request the simulator received (answered or not), in arrival order."""
        return [r for r in self.sim.requests if r.path.endswith("/messages")
                and (customer is None or r.recipient == customer)]  # fmt: skip

    async def statuses(self) -> dict[str, str]:
        rows = await self.pool.fetch("select message_id, status from outbox")
        return {str(r["message_id"]): r["status"] for r in rows}

    async def events_of(self, customer: str) -> list[Any]:
        records = await self.store.read_stream(conversation_stream(NUMBER, customer))
        return [r.event for r in records if not isinstance(r.event, MessageReceived)]

    async def pace(self) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "select rate_factor, slowed_at from send_pacing where phone_number_id = $1", NUMBER
        )


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Wait for ``check`` to hold, polling, at most ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


def most_in_one_second(requests: list[RecordedRequest]) -> int:
    times = sorted(r.received_at for r in requests)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def mean_gap(requests: list[RecordedRequest]) -> float:
    times = [r.received_at for r in requests]
    return statistics.mean(b - a for a, b in itertools.pairwise(times))


@pytest.fixture
async def rig(database_url: str, pool: asyncpg.Pool[Any]) -> AsyncIterator[Rig]:
    store = PostgresEventStore(pool, CODEC)
    runner = SubscriptionRunner(OutboxSubscriber(), PostgresSubscriptionSource(database_url, store),
                                RunnerSettings(poll_interval=0.05))  # fmt: skip
    simulator = CloudApiSimulator(access_tokens=[], app_secret="pacing-secret")
    simulator.bind_token(NUMBER, TOKEN)
    simulator.add_template("welcome_back", "en_US", [{"type": "BODY", "text": "Welcome back!"}])
    client = create_graph_client(connect_timeout=2.0, read_timeout=5.0)
    task = asyncio.create_task(runner.run())
    try:
        async with running(simulator) as sim:
            assert sim.base_url is not None
            gateway = GraphWhatsAppGateway(client, sim.base_url, "v26.0")
            yield Rig(database_url, pool, store, runner, sim, gateway)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
        await store.close()


async def test_two_processes_sharing_a_number_never_exceed_its_rate(rig: Rig) -> None:
    customers = [f"3361000{n:04d}" for n in range(70)]
    for customer in customers:
        await rig.queue(customer)
    other_pool = await create_pool(rig.database_url, min_size=1, max_size=8)
    first, second = rig.sender(rate=20), rig.sender(other_pool, rate=20)
    try:
        first.start()
        second.start()

        async def all_accepted() -> bool:
            return list((await rig.statuses()).values()) == ["accepted"] * 70

        await eventually(all_accepted, 30, "70 messages accepted at 20/s")
    finally:
        await first.stop()
        await second.stop()
        await other_pool.close()

    sends = rig.sends()
    assert sorted(r.recipient for r in sends) == customers  # each once
    assert most_in_one_second(sends) <= 20
    sustained = (len(sends) - 1) / (sends[-1].received_at - sends[0].received_at)
    assert 0.8 * 20 <= sustained <= 20  # paced near the rate, not far below it


async def test_the_business_send_rate_overrides_the_default(rig: Rig) -> None:
    await rig.pool.execute(
        "insert into businesses (id, name, send_rate) values ('acme', 'Acme', 5)"
    )
    pacing = PostgresSendPacing(rig.pool, default_rate=80)

    delays = await pacing.reserve(NUMBER, "acme", 3)
    other = await PostgresSendPacing(rig.pool, default_rate=80).reserve("999", "nobody", 3)

    assert delays[2] - delays[1] == pytest.approx(1 / (5 * HEADROOM), rel=1e-3)
    assert other[2] - other[1] == pytest.approx(1 / (80 * HEADROOM), rel=1e-3)


async def test_slots_count_from_when_the_database_read_the_time_not_from_its_answer(
    rig: Rig,
) -> None:
    # The process's clock says the reservation took half a second to come back (a slow
    # commit): the slots are that much nearer than they were when the database read its time.
    readings = iter([100.0, 100.5])
    pacing = PostgresSendPacing(rig.pool, default_rate=10, monotonic=lambda: next(readings))

    delays = await pacing.reserve("1065550199", "nobody", 3)

    spacing = 1 / (10 * HEADROOM)
    assert delays[0] == pytest.approx(-0.5, abs=0.05)  # due already: sent at once
    assert delays[2] - delays[0] == pytest.approx(2 * spacing, rel=1e-3)


async def test_a_throughput_error_slows_the_number_down_then_it_recovers(rig: Rig) -> None:
    sender = rig.sender(rate=20, policy=PacingPolicy(quiet_period=timedelta(minutes=5)))
    rig.sim.throttle(1)  # the next request gets 130429
    throttled = await rig.queue("33620000000")
    await sender.send_due()  # throttled: the number slows down, the message is retried
    await rig.settled()
    await sender.send_due()

    assert (await rig.statuses())[throttled] == "accepted"
    failed = (await rig.events_of("33620000000"))[1]
    assert isinstance(failed, OutboundSendFailed)
    assert (failed.code, failed.error_class) == (130429, ErrorClass.THROUGHPUT)
    pace = await rig.pace()
    assert pace is not None
    assert pace["rate_factor"] == 0.5

    slowed = [f"3362100{n:04d}" for n in range(6)]
    for customer in slowed:
        await rig.queue(customer)
    await sender.send_due()
    assert mean_gap(rig.sends()[-6:]) >= 0.95 / (20 * HEADROOM * 0.5)  # about 103 ms apart

    # The quiet period passes (moved back in the shared row rather than waited for).
    await rig.pool.execute("update send_pacing set slowed_at = slowed_at - interval '1 hour'")
    for n in range(6):
        await rig.queue(f"3362200{n:04d}")
    await sender.send_due()
    assert 0.95 / (20 * HEADROOM) <= mean_gap(rig.sends()[-6:]) < 0.8 / (20 * HEADROOM * 0.5)


async def test_a_pair_rate_error_delays_only_that_conversation(rig: Rig) -> None:
    busy, others = "33630000000", [f"3363100{n:04d}" for n in range(4)]
    rig.sim.fail(131056, recipient=busy, count=1)
    first = await rig.queue(busy, "first")
    second = await rig.queue(busy, "second")
    for customer in others:
        await rig.queue(customer)
    sender = rig.sender(rate=50)

    await sender.send_due()
    await rig.settled()
    await sender.send_due()  # the busy customer's messages wait; nothing of theirs is due
    late = await rig.queue("33632000000")  # others keep flowing
    await sender.send_due()

    statuses = await rig.statuses()
    assert (statuses[first], statuses[second]) == ("retrying", "queued")
    assert [s for m, s in statuses.items() if m not in (first, second)] == ["accepted"] * 5
    assert statuses[late] == "accepted"
    failed = (await rig.events_of(busy))[2]
    assert isinstance(failed, OutboundSendFailed)
    assert failed.code == 131056
    assert failed.next_attempt_at is not None
    assert failed.at is not None
    assert failed.next_attempt_at - failed.at == timedelta(seconds=6)
    pace = await rig.pace()
    assert pace is not None
    assert pace["slowed_at"] is None

    await rig.pool.execute("update outbox set next_attempt_at = now() where message_id = $1",
                           uuid.UUID(first))  # fmt: skip
    await sender.send_due()
    await rig.settled()
    await sender.send_due()
    assert [r.body["text"]["body"] for r in rig.sends(busy)] == ["first", "first", "second"]
    assert (await rig.statuses())[second] == "accepted"


async def test_a_message_whose_window_closed_fails_without_calling_meta(rig: Rig) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    late = await rig.queue("33640000000", "are you still there?", wrote_at=long_ago)
    template = TemplateMessage(name="welcome_back", language="en_US")
    allowed = await rig.queue("33640000000", template, wrote_at=long_ago)
    sender = rig.sender(rate=20)

    await sender.send_due()
    await rig.settled()
    await sender.send_due()

    statuses = await rig.statuses()
    assert (statuses[late], statuses[allowed]) == ("failed", "accepted")
    failed = (await rig.events_of("33640000000"))[2]
    assert isinstance(failed, OutboundSendFailed)
    assert (failed.reason, failed.retryable, failed.code) == (WINDOW_CLOSED_REASON, False, None)
    assert [r.body["type"] for r in rig.sends()] == ["template"]  # the text never left


async def test_the_migration_backfills_the_last_inbound_time_of_each_conversation(
    empty_database_url: str,
) -> None:
    migrations = load_migrations(default_migrations_dir())
    connection: asyncpg.Connection[Any] = await asyncpg.connect(empty_database_url)
    try:
        await migrate(connection, [m for m in migrations if m.version < 10])
        stream = conversation_stream(NUMBER, "33650000000")
        at = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        for minutes in (0, 5, 2):  # the latest timestamp counts, whatever the order
            event = customer_wrote(NUMBER, "33650000000", at + timedelta(minutes=minutes))
            await _insert(connection, stream, event)
        await migrate(connection, migrations)

        rows = await connection.fetch("select * from conversation_windows")
    finally:
        await connection.close()
    assert [(r["conversation_stream"], r["last_inbound_at"]) for r in rows] == [
        (stream, at + timedelta(minutes=5))
    ]


async def _insert(connection: asyncpg.Connection[Any], stream: str, new: NewEvent) -> None:
    await connection.execute(
        "insert into events (stream_id, version, event_id, type, data) values ($1,"
        " (select count(*) + 1 from events where stream_id = $1), $2, $3, $4::jsonb)",
        stream, new.event_id, CODEC.type_name(new.event), CODEC.encode(new.event).decode(),
    )  # fmt: skip


class ClaimWatchingOutbox(PostgresOutbox):
    """Tells when a claim found nothing: the sender then waits for a wake-up or its poll."""

    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        super().__init__(pool, store)
        self.found_nothing = asyncio.Event()

    async def claim_due(self, limit: int, lease_seconds: float) -> list[ClaimedMessage]:
        claimed = await super().claim_due(limit, lease_seconds)
        if not claimed:
            self.found_nothing.set()
        return claimed


async def test_a_running_sender_hears_of_a_queued_message_at_once(rig: Rig) -> None:
    sleepy = SenderSettings(poll_seconds=60, retry=NO_WAIT)  # its poll would wait a minute
    outbox = ClaimWatchingOutbox(rig.pool, rig.store)
    sender = OutboxSender(outbox, rig.gateway, Tokens(), sleepy,
                          pacing=PostgresSendPacing(rig.pool, default_rate=20))  # fmt: skip
    sender.start()
    try:
        await asyncio.wait_for(outbox.found_nothing.wait(), 5)
        message = await rig.queue("33660000000")

        async def accepted() -> bool:
            return (await rig.statuses())[message] == "accepted"

        await eventually(accepted, 5, "the message accepted without waiting for the poll")
    finally:
        await sender.stop()
