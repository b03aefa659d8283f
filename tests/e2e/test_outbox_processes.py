"""The outbox across real worker processes (`wazybot serve --role worker`), real PostgreSQL
and the Cloud API simulator over real HTTP: no double send between processes, queue order
and one message in flight per conversation, a worker killed with SIGKILL mid-send costing
nothing but the documented ambiguous window, and one stopped with SIGTERM not even that.

Messages are queued by appending `outbound.queued` events to the conversation streams,
as any decision that queues one does. Every text is unique, so the simulator's request
log tells which message each request carried.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest

from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.whatsapp.simulator import CloudApiSimulator, running
from adapters.whatsapp.simulator.state import RecordedRequest
from application.codec import EventCodec
from application.event_log import AppendRequest, NewEvent
from domain.conversation import conversation_stream
from domain.event_types import EVENT_TYPES
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id
from tests.e2e.server import RunningServer, serve
from tests.support.outbound import customer_wrote
from tests.support.webhooks import PHONE_NUMBER_ID

pytestmark = pytest.mark.slow

ACCESS_TOKEN: Final = "procs-e2e-access-token"
# The test's own connections, told apart from the workers' in pg_stat_activity.
TEST_APPLICATION: Final = "wazybot-e2e-test"


@dataclass(frozen=True)
class Queued:
    message_id: str
    customer: str
    text: str


def plan(conversations: int, per_conversation: int) -> list[list[Queued]]:
    """Messages of each conversation, in queue order, each with a text of its own."""
    run = uuid.uuid4().hex[:8]
    return [
        [
            Queued(str(uuid.uuid4()), f"1555700{c:04d}", f"run {run} conv {c} msg {m}")
            for m in range(per_conversation)
        ]
        for c in range(conversations)
    ]


def queued_event(message: Queued) -> NewEvent:
    stream = conversation_stream(PHONE_NUMBER_ID, message.customer)
    event = OutboundMessageQueued(
        message_id=message.message_id, business_id="default", conversation_stream=stream,
        phone_number_id=PHONE_NUMBER_ID, recipient=Recipient(phone_number=message.customer),
        message=TextMessage(body=message.text), requested_by="system",
        queued_at=datetime.now(UTC),
    )  # fmt: skip
    return NewEvent(event, queued_event_id(message.message_id))


async def queue(store: PostgresEventStore, conversations: list[list[Queued]]) -> None:
    """Each customer writes first (the 24-hour window opens), then the replies are queued
    round by round (the nth message of every conversation in one transaction)."""
    await store.append_atomic(
        [AppendRequest(conversation_stream(PHONE_NUMBER_ID, c[0].customer),
                       [customer_wrote(PHONE_NUMBER_ID, c[0].customer)])
         for c in conversations]
    )  # fmt: skip
    for round_ in zip(*conversations, strict=True):
        await store.append_atomic(
            [AppendRequest(conversation_stream(PHONE_NUMBER_ID, m.customer), [queued_event(m)])
             for m in round_]
        )  # fmt: skip


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def own_pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(database_url, max_size=4, application_name=TEST_APPLICATION)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def event_store(pool: asyncpg.Pool[Any]) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    try:
        yield store
    finally:
        await store.close()


class Workers:
    """`wazybot serve --role worker` processes on one database, killed when the test ends."""

    def __init__(self, stack: ExitStack, env: dict[str, str], log_dir: Path) -> None:
        self._stack = stack
        self._env = env
        self._log_dir = log_dir

    async def start(self, name: str) -> RunningServer:
        log_path = self._log_dir / f"{name}.log"
        worker = self._stack.enter_context(
            serve(self._env, log_path, "--role", "worker", wait_for_health=False)
        )
        await wait_until(f"{name} started", lambda: _started(worker), timeout=60)
        return worker


async def _started(worker: RunningServer) -> bool:
    if worker.process.poll() is not None:
        raise AssertionError(f"the worker exited:\n{worker.logs()}")
    return "workers.started" in worker.logs()


def worker_env(database_url: str, graph_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "WAZYBOT_ENV": "production",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_GRAPH_URL": graph_url,
        "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.2",
        "WAZYBOT_AUTO_REPLIES": "false",  # only the messages the test queues are sent
        **extra,
    }


@pytest.fixture
async def simulator() -> AsyncIterator[CloudApiSimulator]:
    sim = CloudApiSimulator(access_tokens=[], app_secret="procs-e2e-secret")
    sim.bind_token(PHONE_NUMBER_ID, ACCESS_TOKEN)
    async with running(sim) as serving:
        yield serving


# -- what the database and the simulator saw ----------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    message_id: str
    wamid: str
    attempt: int
    ambiguous_retry: bool


async def accepted_events(pool: asyncpg.Pool[Any]) -> list[Accepted]:
    rows = await pool.fetch(
        """
        select data->>'message_id' as message_id, data->>'wamid' as wamid,
               (data->>'attempt')::int as attempt,
               coalesce((data->>'ambiguous_retry')::boolean, false) as ambiguous_retry
        from events where type = 'outbound.accepted'
        """
    )
    return [Accepted(**dict(row)) for row in rows]


async def all_accepted(pool: asyncpg.Pool[Any], total: int) -> bool:
    rows = await pool.fetch("select status, count(*) as n from outbox group by status")
    statuses = {row["status"]: row["n"] for row in rows}
    assert not statuses.get("failed"), f"messages failed: {statuses}"
    return statuses.get("accepted") == total


def sends_by_text(sim: CloudApiSimulator) -> dict[str, list[RecordedRequest]]:
    """Every send request the simulator received, by the text it carried, in arrival order."""
    sends: dict[str, list[RecordedRequest]] = defaultdict(list)
    for request in sorted(sim.requests, key=lambda r: r.received_at):
        sends[request.body["text"]["body"]].append(request)
    return sends


def arrival_order(sim: CloudApiSimulator, customer: str) -> list[RecordedRequest]:
    return sorted((r for r in sim.requests if r.recipient == customer),
                  key=lambda r: r.received_at)  # fmt: skip


def assert_one_at_a_time(requests: list[RecordedRequest]) -> None:
    """Each request of a conversation arrived only after the previous one was answered."""
    for previous, following in itertools.pairwise(requests):
        assert previous.finished_at is not None
        assert following.received_at >= previous.finished_at, (
            f"{following.body['text']['body']!r} arrived while "
            f"{previous.body['text']['body']!r} was still in flight"
        )


def without_repeats(texts: list[str]) -> list[str]:
    """A resent message follows its first attempt directly; count it once for the order."""
    return [text for i, text in enumerate(texts) if i == 0 or texts[i - 1] != text]


def accepted_count_in_log(worker: RunningServer) -> int:
    return sum('"outbox.accepted"' in line for line in worker.logs().splitlines())


# -- the tests --------------------------------------------------------------------------------

LATENCY: Final = 0.15


async def test_two_worker_processes_send_every_message_once_in_queue_order(
    database_url: str, tmp_path: Path, simulator: CloudApiSimulator
) -> None:
    assert simulator.base_url is not None
    simulator.delay(LATENCY)  # every send is answered late
    conversations = plan(conversations=30, per_conversation=10)
    messages = [m for conversation in conversations for m in conversation]
    with ExitStack() as stack:
        workers = Workers(stack, worker_env(database_url, simulator.base_url), tmp_path)
        started = await asyncio.gather(workers.start("worker-1"), workers.start("worker-2"))
        async with own_pool(database_url) as pool, event_store(pool) as store:
            await queue(store, conversations)
            await wait_until("every message accepted",
                             lambda: all_accepted(pool, len(messages)), timeout=45)  # fmt: skip
            accepted = await accepted_events(pool)

    # Accepted exactly once each, at the first attempt, never flagged as a possible duplicate.
    assert Counter(a.message_id for a in accepted) == Counter(m.message_id for m in messages)
    assert [a for a in accepted if a.attempt != 1 or a.ambiguous_retry] == []
    # The simulator received each message exactly once, and its wamid is the one recorded.
    sends = sends_by_text(simulator)
    assert sorted(sends) == sorted(m.text for m in messages)
    wamid_of = {a.message_id: a.wamid for a in accepted}
    for message in messages:
        [request] = sends[message.text]
        assert request.wamid == wamid_of[message.message_id]
    # Per conversation: queue order, one message in flight at a time.
    for conversation in conversations:
        received = arrival_order(simulator, conversation[0].customer)
        assert [r.body["text"]["body"] for r in received] == [m.text for m in conversation]
        assert_one_at_a_time(received)
    # Both processes did part of the work.
    per_worker = [accepted_count_in_log(worker) for worker in started]
    assert sum(per_worker) == len(messages)
    assert min(per_worker) > 0, per_worker


LEASE_SECONDS: Final = 6


async def test_a_worker_killed_mid_send_leaves_duplicates_only_in_the_ambiguous_window(
    database_url: str, tmp_path: Path, simulator: CloudApiSimulator
) -> None:
    assert simulator.base_url is not None
    conversations = plan(conversations=12, per_conversation=5)
    messages = [m for conversation in conversations for m in conversation]
    by_text = {m.text: m for m in messages}
    # The first send of four conversations reaches Meta, whose answer never comes back; that
    # of two more is held before Meta takes it. The rest answer after a short delay.
    taken_then_held = {c[0].customer for c in conversations[:4]}
    held_untaken = {c[0].customer for c in conversations[4:6]}
    for customer in taken_then_held:
        simulator.hold(recipient=customer, count=1, accept=True)
    for customer in held_untaken:
        simulator.hold(recipient=customer, count=1, accept=False)
    simulator.delay(0.05)
    env = worker_env(database_url, simulator.base_url,
                     WAZYBOT_SEND_LEASE_SECONDS=str(LEASE_SECONDS))  # fmt: skip

    with ExitStack() as stack:
        workers = Workers(stack, env, tmp_path)
        doomed = await workers.start("worker-killed")
        async with own_pool(database_url) as pool, event_store(pool) as store:
            await queue(store, conversations)
            await wait_until("six sends held", lambda: _held(simulator, 6), timeout=30)
            os.kill(doomed.process.pid, signal.SIGKILL)
            assert doomed.process.wait(timeout=10) == -signal.SIGKILL
            # Its commits are done (or undone) once its connections are gone; the simulator
            # sees its held requests end as the connections close.
            await wait_until("the killed worker's connections closed",
                             lambda: _no_worker_connections(pool), timeout=20)  # fmt: skip
            await wait_until("held requests ended", lambda: _none_pending(simulator), timeout=20)
            in_flight_at_kill = {
                str(row["message_id"])
                for row in await pool.fetch(
                    "select message_id from outbox where status = 'in_flight'"
                )
            }
            simulator.clear_faults()  # Meta answers normally again
            await workers.start("worker-restarted")
            await wait_until("every message accepted",
                             lambda: all_accepted(pool, len(messages)), timeout=45)  # fmt: skip
            accepted = await accepted_events(pool)

    first_of = {c[0].customer: c[0] for c in conversations}
    held = {first_of[customer].message_id for customer in taken_then_held | held_untaken}
    assert held <= in_flight_at_kill
    # Every message is accepted once; the flag names exactly those in flight at the kill.
    assert Counter(a.message_id for a in accepted) == Counter(m.message_id for m in messages)
    flagged = {a.message_id for a in accepted if a.ambiguous_retry}
    assert flagged == in_flight_at_kill
    # Duplicates, counted from what the simulator took: only messages in flight at the kill,
    # and surely those that Meta had taken before the answer was lost.
    taken: dict[str, list[str]] = defaultdict(list)  # message id -> wamids, in arrival order
    for text, requests in sends_by_text(simulator).items():
        taken[by_text[text].message_id] += [r.wamid for r in requests if r.wamid is not None]
    assert set(taken) == {m.message_id for m in messages}
    duplicates = {message_id for message_id, wamids in taken.items() if len(wamids) > 1}
    assert max(len(wamids) for wamids in taken.values()) == 2
    assert duplicates <= in_flight_at_kill
    assert {first_of[customer].message_id for customer in taken_then_held} <= duplicates
    assert not duplicates & {first_of[customer].message_id for customer in held_untaken}
    # The wamid recorded is that of the last send Meta took: the one whose answer arrived.
    assert {a.message_id: a.wamid for a in accepted} == {
        message_id: wamids[-1] for message_id, wamids in taken.items()
    }
    # Queue order held per conversation through the kill (a resend follows its first try).
    for conversation in conversations:
        received = arrival_order(simulator, conversation[0].customer)
        texts = [r.body["text"]["body"] for r in received]
        assert without_repeats(texts) == [m.text for m in conversation]
        assert_one_at_a_time(received)


async def _held(sim: CloudApiSimulator, expected: int) -> bool:
    held = [r for r in sim.requests if "held" in r.outcome and r.finished_at is None]
    return len(held) >= expected


async def _none_pending(sim: CloudApiSimulator) -> bool:
    return all(r.finished_at is not None for r in sim.requests)


async def _no_worker_connections(pool: asyncpg.Pool[Any]) -> bool:
    others = await pool.fetchval(
        "select count(*) from pg_stat_activity where datname = current_database()"
        " and backend_type = 'client backend' and application_name <> $1",
        TEST_APPLICATION,
    )
    return int(others) == 0


async def test_a_worker_stopped_with_sigterm_finishes_its_sends_before_it_exits(
    database_url: str, tmp_path: Path, simulator: CloudApiSimulator
) -> None:
    assert simulator.base_url is not None
    simulator.delay(2.0)  # sends still out when the worker is told to stop
    conversations = plan(conversations=4, per_conversation=2)
    messages = [m for conversation in conversations for m in conversation]
    env = worker_env(database_url, simulator.base_url,
                     WAZYBOT_SEND_LEASE_SECONDS=str(LEASE_SECONDS))  # fmt: skip

    with ExitStack() as stack:
        workers = Workers(stack, env, tmp_path)
        stopping = await workers.start("worker-stopped")
        async with own_pool(database_url) as pool, event_store(pool) as store:
            await queue(store, conversations)
            await wait_until("four sends out", lambda: _pending(simulator, 4), timeout=30)
            stopping.process.send_signal(signal.SIGTERM)
            await wait_until("the worker exited", lambda: _exited(stopping), timeout=30)
            assert stopping.process.returncode == 0, stopping.logs()
            statuses = await pool.fetch("select status from outbox where status = 'in_flight'")
            assert statuses == [], "a graceful stop left sends in flight"
            simulator.clear_faults()
            await workers.start("worker-next")
            await wait_until("every message accepted",
                             lambda: all_accepted(pool, len(messages)), timeout=45)  # fmt: skip
            accepted = await accepted_events(pool)

    assert [a for a in accepted if a.ambiguous_retry] == []
    sends = sends_by_text(simulator)
    assert sorted(sends) == sorted(m.text for m in messages)
    assert all(len(requests) == 1 for requests in sends.values())


async def _pending(sim: CloudApiSimulator, expected: int) -> bool:
    return sum(r.finished_at is None for r in sim.requests) >= expected


async def _exited(worker: RunningServer) -> bool:
    return worker.process.poll() is not None
