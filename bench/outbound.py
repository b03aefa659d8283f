"""Benchmark: the outbox sender against each number's send rate, with the Cloud API simulator.

One run, one machine, side by side:

(c) the ceiling: a bare httpx loop posting messages to the simulator as fast as it
    answers (what any sender in this process could reach at most);
(b) a burst: for a high limit (200/s) and a low one (20/s), messages to many
    conversations queued in one go (OutboundMessageQueued events appended directly),
    sent by the outbox sender with its pacing: sustained sends a second, and the most
    sends the simulator saw arrive in any one-second window;
(s) a steady flow at half of each limit for a few seconds: p50/p99 from queued to
    accepted (the outbox row's queued time to the transaction that recorded Meta's answer).

Targets: sustained >= 0.95 of the limit whenever the limit is below the ceiling, the
most in one second never above the limit, p99 queued-to-accepted <= 100 ms at half the
limit. Nothing asserts timings; ``--check`` turns a missed target into exit status 1.

Meta is another machine: the simulator runs in a process of its own (``wazybot
simulator`` on a free port), so its arrival times are not those of a loop busy with the
sender, and the benchmark reads them through its control endpoints (``/_simulator/...``).
Where the benchmark may (as root), the simulator runs at a higher scheduling priority
(nice -10): another machine's clock does not wait for the CPUs the sender uses. The
sender, the ``outbox`` subscriber and the database client share this process, with
production settings and the PostgreSQL pacing. With ``--sender-processes 2`` a second
worker process runs one more sender on the same database: the number's pace is shared
through PostgreSQL, as between real workers.

By default a fresh embedded PostgreSQL with production settings (fsync on) runs in a
temporary data directory under ``.wazybot/``; with ``DATABASE_URL`` set, the benchmark
runs in a scratch database on that server and drops it afterwards.

    .venv/bin/python bench/outbound.py [--limits 200,20] [--burst-seconds S]
                                       [--sender-processes 1|2] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx

from adapters.postgres.connection import connect, create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from adapters.postgres.outbox import OutboxSubscriber, PostgresOutbox
from adapters.postgres.send_pacing import PostgresSendPacing
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from application.codec import EventCodec
from application.event_log import NewEvent
from application.gateway import SendAccepted, Sender
from application.outbox import OutboxSender
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from domain.inbound import InboundMessage, TextContent
from domain.outbound import OutboundMessage, Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id
from entrypoints.logging import configure_logging
from scratch import on_a_database

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STATE_DIR: Final = REPO_ROOT / ".wazybot"
TOKEN: Final = "EAAG-bench-outbound"  # noqa: S105 - the simulator's, not a real one
BUSINESS: Final = "bench"
CODEC: Final = EventCodec(EVENT_TYPES)
TARGET_SHARE: Final = 0.95
TARGET_P99_MS: Final = 100.0
CEILING_TASKS: Final = 8
SIMULATOR_NICENESS: Final = -10


@dataclass(frozen=True, slots=True)
class Burst:
    limit: int
    messages: int
    sustained: float
    most_in_one_second: int
    most_leaving_in_one_second: int  # by the sender's clock, as each call started


@dataclass(frozen=True, slots=True)
class Steady:
    limit: int
    offered: float
    messages: int
    p50_ms: float
    p99_ms: float
    most_in_one_second: int


class TimedGateway:
    """The Graph gateway, noting when each send leaves the sender (its side of the wire)."""

    def __init__(self, inner: GraphWhatsAppGateway) -> None:
        self.inner = inner
        self.started: dict[str, list[float]] = {}

    async def send(
        self, sender: Sender, recipient: Recipient, message: OutboundMessage
    ) -> SendAccepted:
        self.started.setdefault(sender.phone_number_id, []).append(time.time())
        return await self.inner.send(sender, recipient, message)

    async def mark_read(self, sender: Sender, wamid: str, typing_indicator: bool = True) -> None:
        await self.inner.mark_read(sender, wamid, typing_indicator)


class Tokens:
    async def access_token_of(self, business_id: str) -> str | None:
        return TOKEN


class SimulatorProcess:
    """``wazybot simulator`` running in a process of its own, read through its control
    endpoints: its clock tells when each request arrived, as Meta's would."""

    def __init__(self, base_url: str, control: httpx.AsyncClient, niceness: int) -> None:
        self.base_url = base_url
        self.niceness = niceness
        self._control = control

    async def wait_started(self, process: asyncio.subprocess.Process, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the simulator exited with status {process.returncode}")
            try:
                (await self._control.get(f"{self.base_url}/_simulator/stats")).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the simulator did not answer within {seconds:g} s"
                    ) from None
                await asyncio.sleep(0.1)

    async def reset(self) -> None:
        """Forget earlier requests: its statistics then cover the next measurement only."""
        (await self._control.post(f"{self.base_url}/_simulator/reset")).raise_for_status()

    async def arrivals(self, number: str) -> list[float]:
        """When each send from ``number`` that it accepted arrived, by its clock, in order."""
        search = {"path_contains": f"/{number}/messages"}
        answer = await self._control.get(f"{self.base_url}/_simulator/requests", params=search)
        answer.raise_for_status()
        requests = answer.json()["requests"]
        return sorted(float(r["received_at"]) for r in requests if r["wamid"] is not None)

    async def most_in_one_second(self) -> int:
        """Its own count: the most accepted sends in any one second since the last reset."""
        answer = await self._control.get(f"{self.base_url}/_simulator/stats")
        answer.raise_for_status()
        return int(answer.json()["max_sends_in_one_second"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def simulator_process() -> AsyncIterator[SimulatorProcess]:
    """``wazybot simulator`` on a free port until the block ends, logging errors only."""
    port = free_port()
    env = {**os.environ, "WHATSAPP_APP_SECRET": "bench-outbound", "WAZYBOT_LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "entrypoints.cli", "simulator", "--port", str(port),
               "--access-token", TOKEN]  # fmt: skip
    with tempfile.TemporaryDirectory() as cwd:  # no .env of a checkout is read
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=cwd, stdin=subprocess.DEVNULL
        )
        try:
            niceness = prioritize(process.pid)
            async with httpx.AsyncClient(timeout=30) as control:
                simulator = SimulatorProcess(f"http://127.0.0.1:{port}", control, niceness)
                await simulator.wait_started(process, 30)
                yield simulator
        finally:
            await stop(process)


def prioritize(pid: int) -> int:
    """Raise the simulator's scheduling priority if allowed; the niceness it runs at."""
    with suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, pid, SIMULATOR_NICENESS)
    return os.getpriority(os.PRIO_PROCESS, pid)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


def other_sender(database_url: str, simulator_url: str, rate: int, pipe: Connection) -> None:
    """A second worker process: one more sender on the same database (``spawn`` target)."""
    configure_logging(production=False, level="warning", stream=sys.stderr)
    asyncio.run(_other_sender(database_url, simulator_url, rate, pipe))


async def _other_sender(database_url: str, simulator_url: str, rate: int, pipe: Connection) -> None:
    pool = await create_pool(database_url, min_size=4, max_size=20)
    store = PostgresEventStore(pool, CODEC)
    client = create_graph_client()
    gateway = TimedGateway(GraphWhatsAppGateway(client, simulator_url, "v26.0"))
    try:
        pipe.send("ready")
        await asyncio.to_thread(pipe.recv)  # go
        pacing = PostgresSendPacing(pool, default_rate=rate)
        sender = OutboxSender(PostgresOutbox(pool, store), gateway, Tokens(), pacing=pacing)
        sender.start()
        await asyncio.to_thread(pipe.recv)  # stop
        await sender.stop()
        pipe.send(gateway.started)
    finally:
        await client.aclose()
        await store.close()
        await pool.close()


class SenderProcess:
    """``other_sender`` in a process of its own, started and stopped through a pipe."""

    def __init__(self, process: multiprocessing.process.BaseProcess, pipe: Connection) -> None:
        self._process = process
        self._pipe = pipe

    @classmethod
    async def ready(cls, database_url: str, simulator_url: str, rate: int) -> SenderProcess:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=other_sender, daemon=True,
                                  args=(database_url, simulator_url, rate, theirs))  # fmt: skip
        process.start()
        if not await asyncio.to_thread(ours.poll, 60):
            process.kill()
            raise RuntimeError("the second sender process did not start within 60 s")
        ours.recv()
        return cls(process, ours)

    def go(self) -> None:
        self._pipe.send("go")

    async def stopped(self) -> dict[str, list[float]]:
        """Stop its sender; when its sends left, by number."""
        self._pipe.send("stop")
        if not await asyncio.to_thread(self._pipe.poll, 60):
            self._process.kill()
            raise RuntimeError("the second sender process did not stop within 60 s")
        started: dict[str, list[float]] = self._pipe.recv()
        await asyncio.to_thread(self._process.join, 10)
        return started


class Bench:
    """The store, the outbox subscriber and the simulator; the senders of each measurement."""

    def __init__(self, database_url: str, pool: asyncpg.Pool[Any], store: PostgresEventStore,
                 runner: SubscriptionRunner[Any], simulator: SimulatorProcess,
                 gateway: TimedGateway, sender_processes: int) -> None:  # fmt: skip
        self.database_url = database_url
        self.pool = pool
        self.store = store
        self.runner = runner
        self.simulator = simulator
        self.gateway = gateway
        self.sender_processes = sender_processes
        self._numbers = iter(range(1065550000, 1065560000))

    def number(self) -> str:
        """A number of its own for each measurement, so their paces never mix."""
        return str(next(self._numbers))

    @asynccontextmanager
    async def sender(self, number_rate: int) -> AsyncIterator[None]:
        """This process's sender, and one in each other sender process, started together."""
        others = [await SenderProcess.ready(self.database_url, self.simulator.base_url,
                                            number_rate)
                  for _ in range(self.sender_processes - 1)]  # fmt: skip
        pacing = PostgresSendPacing(self.pool, default_rate=number_rate)
        sender = OutboxSender(PostgresOutbox(self.pool, self.store), self.gateway, Tokens(),
                              pacing=pacing)  # fmt: skip
        for other in others:
            other.go()
        sender.start()
        try:
            yield
        finally:
            await sender.stop()
            for other in others:
                for number, moments in (await other.stopped()).items():
                    self.gateway.started.setdefault(number, []).extend(moments)

    async def queue(self, number: str, customer: str) -> None:
        """The customer writes (opening the window) and a reply is queued, in one append."""
        now = datetime.now(UTC)
        wamid = f"wamid.bench-{uuid.uuid4().hex}"
        inbound = InboundMessage(phone_number_id=number, customer_id=customer, wamid=wamid,
                                 sent_at=now, type="text",
                                 content=TextContent(body="hi"))  # fmt: skip
        message_id = str(uuid.uuid4())
        reply = OutboundMessageQueued(
            message_id=message_id, business_id=BUSINESS,
            conversation_stream=conversation_stream(number, customer), phone_number_id=number,
            recipient=Recipient(phone_number=customer), message=TextMessage(body="Thanks!"),
            requested_by="ai", queued_at=now,
        )  # fmt: skip
        await self.store.append(reply.conversation_stream, [
            NewEvent(MessageReceived(business_id=BUSINESS, message=inbound),
                     message_event_id(wamid)),
            NewEvent(reply, queued_event_id(message_id)),
        ])  # fmt: skip

    async def wait_accepted(self, number: str, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while await self._accepted(number) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {await self._accepted(number)} of {count} accepted")
            await asyncio.sleep(0.05)

    async def _accepted(self, number: str) -> int:
        return int(await self.pool.fetchval(
            "select count(*) from outbox where phone_number_id = $1 and status = 'accepted'",
            number))  # fmt: skip


def customers(count: int) -> list[str]:
    base = 33600000000 + secrets.randbelow(10**8) * 100
    return [str(base + n) for n in range(count)]


def most_in_any_second(moments: list[float]) -> int:
    times = sorted(moments)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def bench_ceiling(simulator: SimulatorProcess, seconds: float) -> float:
    """Requests a second a bare httpx loop gets from the simulator (no database, no pacing)."""
    url = f"{simulator.base_url}/v26.0/1065559999/messages"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"messaging_product": "whatsapp", "to": "33699999999", "type": "text",
            "text": {"body": "ceiling"}}  # fmt: skip
    done = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CEILING_TASKS)) as client:
        deadline = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                answer = await client.post(url, json=body, headers=headers)
                answer.raise_for_status()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(CEILING_TASKS)))
        elapsed = time.monotonic() - started
    return done / elapsed


async def bench_burst(bench: Bench, limit: int, seconds: float) -> Burst:
    """``limit * seconds`` messages to as many conversations, queued at once."""
    number = bench.number()
    count = int(limit * seconds)
    await asyncio.gather(*(bench.queue(number, c) for c in customers(count)))
    await bench.simulator.reset()
    async with bench.sender(limit):
        await bench.wait_accepted(number, count, seconds * 4 + 30)
    arrivals = await bench.simulator.arrivals(number)
    sustained = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    leaving = most_in_any_second(bench.gateway.started[number])
    return Burst(limit, count, sustained, await bench.simulator.most_in_one_second(), leaving)


async def bench_steady(bench: Bench, limit: int, seconds: float) -> Steady:
    """Messages queued one by one at half the limit; the time each took to be accepted."""
    number = bench.number()
    offered = limit / 2
    count = int(offered * seconds)
    await bench.simulator.reset()
    async with bench.sender(limit):
        start = time.monotonic()
        tasks = []
        for n, customer in enumerate(customers(count)):
            await asyncio.sleep(max(0.0, start + n / offered - time.monotonic()))
            tasks.append(asyncio.create_task(bench.queue(number, customer)))
        await asyncio.gather(*tasks)
        await bench.wait_accepted(number, count, 30)
    rows = await bench.pool.fetch(
        "select extract(epoch from updated_at - queued_at) * 1000 as ms from outbox"
        " where phone_number_id = $1", number)  # fmt: skip
    latencies = sorted(float(r["ms"]) for r in rows)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Steady(limit, offered, count, statistics.median(latencies), p99,
                  await bench.simulator.most_in_one_second())  # fmt: skip


@dataclass(frozen=True, slots=True)
class Results:
    simulator_niceness: int
    ceiling: float
    bursts: list[Burst]
    steadies: list[Steady]


async def bench(url: str, args: argparse.Namespace) -> Results:
    connection = await connect(url, application_name="wazybot-bench")
    try:
        await migrate(connection, load_migrations(default_migrations_dir()))
    finally:
        await connection.close()
    pool = await create_pool(url, min_size=4, max_size=20)
    store = PostgresEventStore(pool, CODEC)
    runner = SubscriptionRunner(OutboxSubscriber(), PostgresSubscriptionSource(url, store),
                                RunnerSettings())  # fmt: skip
    following = asyncio.create_task(runner.run())
    client = create_graph_client()
    try:
        async with simulator_process() as simulator:
            ceiling = await bench_ceiling(simulator, args.ceiling_seconds)
            gateway = TimedGateway(GraphWhatsAppGateway(client, simulator.base_url, "v26.0"))
            work = Bench(url, pool, store, runner, simulator, gateway, args.sender_processes)
            bursts, steadies = [], []
            for limit in args.limits:
                print(f"burst at {limit}/s ...", file=sys.stderr)
                bursts.append(await bench_burst(work, limit, args.burst_seconds))
                print(f"steady at {limit / 2:g}/s ...", file=sys.stderr)
                steadies.append(await bench_steady(work, limit, args.steady_seconds))
            return Results(simulator.niceness, ceiling, bursts, steadies)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await client.aclose()
        await store.close()
        await pool.close()


def mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def report(results: Results, args: argparse.Namespace, where: str) -> bool:
    """Print the table; return whether every target was met."""
    print()
    print(f"WazyBot outbound benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {where}")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; the Cloud API simulator in a "
          f"process of its own (nice {results.simulator_niceness}), over HTTP; sender "
          f"processes: {args.sender_processes}")  # fmt: skip
    print()
    print(f"ceiling: bare httpx loop to the simulator ({CEILING_TASKS} tasks): "
          f"{results.ceiling:,.0f} sends/s")  # fmt: skip
    print()
    met = True
    print(f"{'limit':>6} {'messages':>9} {'sustained/s':>12} {'share':>7} {'max in 1 s':>11}"
          f" {'leaving':>10}   target: share >= 0.95 below ceiling, max <= limit")  # fmt: skip
    for burst in results.bursts:
        share = burst.sustained / burst.limit
        reachable = burst.limit < results.ceiling
        ok = burst.most_in_one_second <= burst.limit and (share >= TARGET_SHARE or not reachable)
        met = met and ok
        print(f"{burst.limit:>6} {burst.messages:>9} {burst.sustained:>12.1f} {share:>7.3f} "
              f"{burst.most_in_one_second:>11} {burst.most_leaving_in_one_second:>10}"
              f"   {mark(ok)}")  # fmt: skip
    print()
    print(f"{'limit':>6} {'offered/s':>10} {'messages':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max in 1 s':>11}   target: p99 <= {TARGET_P99_MS:g} ms")  # fmt: skip
    for steady in results.steadies:
        ok = steady.p99_ms <= TARGET_P99_MS and steady.most_in_one_second <= steady.limit
        met = met and ok
        print(f"{steady.limit:>6} {steady.offered:>10g} {steady.messages:>9} "
              f"{steady.p50_ms:>8.1f} {steady.p99_ms:>8.1f} {steady.most_in_one_second:>11}"
              f"   {mark(ok)}")  # fmt: skip
    return met


def limits(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(not 1 <= v <= 1000 for v in values):
        raise argparse.ArgumentTypeError("limits are messages a second from 1 to 1000")
    return values


def seconds(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError("from 1 to 600 seconds")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--limits",
        type=limits,
        default=[200, 20],
        help="per-number rates to measure, comma-separated (default 200,20)",
    )
    parser.add_argument(
        "--burst-seconds",
        type=seconds,
        default=6.0,
        help="messages queued in one go: this many seconds at the limit",
    )
    parser.add_argument(
        "--steady-seconds",
        type=seconds,
        default=6.0,
        help="how long messages are queued at half the limit",
    )
    parser.add_argument(
        "--ceiling-seconds", type=seconds, default=3.0, help="how long the bare httpx loop runs"
    )
    parser.add_argument(
        "--sender-processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="worker processes sending, sharing each number's pace (default 1)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(production=False, level="warning", stream=sys.stderr)
    results, where = on_a_database(lambda url: bench(url, args), STATE_DIR)
    met = report(results, args, where)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
