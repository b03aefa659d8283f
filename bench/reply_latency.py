"""Benchmark: from a customer's webhook to the assistant's reply accepted by the Cloud API.

The real ``wazybot serve`` (HTTP webhook and every worker: the subscribers, the assistant
turn worker, the outbox sender) runs in a process of its own with production settings
(``WAZYBOT_ENV=production``; ``WAZYBOT_LOG_LEVEL=warning``, as in ``bench/ingest.py``, so
per-request info logs are off), the offline assistant (no ``OPENAI_API_KEY``) and
automatic replies on. Its default business (``WHATSAPP_PHONE_NUMBER_ID`` with an access
token) sends through the Cloud API simulator (``wazybot simulator``), another process on a
free port, which posts Meta's status webhooks (sent, delivered, read) back to the server,
as Meta does, unless ``--no-statuses``.

The machine is shared: as root, the benchmark puts what it measures ahead of its other
tenants, unless ``--no-priority``. Meta's side (this process and the simulator) runs at
nice -10, as the simulator does in ``bench/outbound.py`` (another machine's clock does not
wait for the server's CPUs); the server and its PostgreSQL (when on this machine) at nice
-5. The server, the simulator and PostgreSQL's backends run in sessions of their own whose
autogroups get the same niceness: Linux shares the CPU between sessions first. Without
it, a neighbour's test suite decides how much CPU the server gets. The header prints the
niceness of each, and the CPU each used while the load ran.

This process is the load: at ``--rate`` new conversations a second for ``--seconds``,
on an absolute schedule (a late post does not push the next ones back), it posts a
signed Meta ``messages`` webhook from a NEW customer saying a greeting in French or
English. Per post it measures the acknowledgement latency (POST to its 200). The reply
latency runs from the same POST to the moment the simulator accepted the reply to that
customer (answered Meta's 200 with a wamid). The post time is this process's
``time.time()`` and the acceptance time the simulator's: both read the same machine's wall
clock (CLOCK_REALTIME), so they compare directly; the acknowledgement is timed with
``time.perf_counter()`` in this process.

The benchmark then waits for every acknowledged customer's reply, ``--reply-timeout``
seconds at most after the last post; a reply still missing then is a failure, reported
and counted, never dropped. A few ``--warmup`` conversations run first and are not counted.

Where the time goes, from the stored events (PostgreSQL's ``now()``, the start of each
event's transaction) and the simulator's log: POST, message stored (``message.received``),
turn requested (``assistant.turn_requested``, by the ``assistant-turns`` subscriber), turn
taken (the worker's clock, ``at`` of the turn's outcome), typing indicator at the simulator
(mark-read), reply queued (``assistant.turn_completed`` and ``outbound.queued``, one
transaction), reply arriving at the simulator, reply accepted.

Target: reply p99 <= acknowledgement p99 + 150 ms, both measured in the same run. Nothing
asserts timings; ``--check`` turns a missed target into exit status 1. Any post answered
other than 200 or any missing reply always exits 1.

By default a fresh embedded PostgreSQL with production settings (fsync on) runs in a
temporary data directory under ``.wazybot/``; with ``DATABASE_URL`` set, the benchmark
runs in a scratch database on that server and drops it afterwards.

    .venv/bin/python bench/reply_latency.py [--rate 20] [--seconds 60] [--warmup N]
                                            [--reply-timeout S] [--no-statuses] [--check]
                                            [--no-priority] [--synchronous-commit-off]
                                            [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import httpx

from adapters.postgres.connection import connect
from adapters.whatsapp.simulator.webhooks import Business, Customer, inbound_body, signature
from domain.conversation import conversation_stream
from entrypoints.logging import configure_logging
from scratch import on_a_database

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STATE_DIR: Final = REPO_ROOT / ".wazybot"
SERVER_LOG: Final = STATE_DIR / "bench-reply-server.log"
HOST: Final = "127.0.0.1"
APP_SECRET: Final = "bench-reply-app-secret"  # noqa: S105 - signs the benchmark's own webhooks
TOKEN: Final = "EAAG-bench-reply"  # noqa: S105 - the simulator's, not a real one
PHONE_NUMBER_ID: Final = "1065570000"
ACCOUNT_ID: Final = "1065579999"
BUSINESS: Final = Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID)
WEBHOOK_PATH: Final = "/webhooks/whatsapp"
TARGET_MARGIN_MS: Final = 150.0
# As root, the benchmark puts what it measures ahead of the machine's other tenants: Meta's
# side (the load and the simulator) first, then the server and its PostgreSQL.
META_NICENESS: Final = -10
SERVER_NICENESS: Final = -5
START_TIMEOUT: Final = 60.0
STATUS_SETTLE: Final = 3.0  # the simulator's statuses come 0.5 s apart, three per reply
GREETINGS: Final = (
    ("fr", "Bonjour"), ("en", "Hello"), ("fr", "Salut !"), ("en", "Hi there"),
    ("fr", "Bonjour, bonne journée"), ("en", "Good morning"), ("fr", "Coucou"), ("en", "Hey"),
)  # fmt: skip


# --- the two other processes ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without anything that would configure the product, plus ``extra``."""
    prefixes = ("WAZYBOT_", "DATABASE_URL", "WHATSAPP_", "OPENAI_")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**inherited, **extra}


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


def prioritize(pid: int, niceness: int | None) -> int | None:
    """Set a process's scheduling priority if allowed; the niceness it runs at, None when
    it is gone.

    With autogroup scheduling (Linux's default on many machines) the CPU is first shared
    between sessions, and a nice value only counts within its process's session: the
    server and the simulator get sessions of their own (as PostgreSQL's backends have),
    and the niceness of a session leader's autogroup is set too. The session this
    benchmark was started in is left alone: other processes may share it.
    """
    if niceness is None:  # left as it is
        with suppress(OSError):
            return os.getpriority(os.PRIO_PROCESS, pid)
        return None
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
        if os.getsid(pid) == pid:
            with suppress(OSError):
                Path(f"/proc/{pid}/autogroup").write_text(str(niceness))
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:  # gone, or not allowed
        with suppress(OSError):
            return os.getpriority(os.PRIO_PROCESS, pid)
        return None


@dataclass(frozen=True, slots=True)
class Niceness:
    load: int | None
    simulator: int | None
    server: int | None
    postgres: int | None  # None: not on this machine


async def wait_answering(
    process: asyncio.subprocess.Process, client: httpx.AsyncClient, url: str, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with suppress(httpx.TransportError):
            if (await client.get(url)).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url} within {START_TIMEOUT:g} s")
        await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class SimulatorRequest:
    path: str
    body: Any
    recipient: str | None
    wamid: str | None
    received_at: float
    finished_at: float | None


class SimulatorProcess:
    """``wazybot simulator`` in a process of its own, read through its control endpoints."""

    def __init__(
        self, base_url: str, control: httpx.AsyncClient, pid: int, niceness: int | None
    ) -> None:
        self.base_url = base_url
        self.pid = pid
        self.niceness = niceness
        self._control = control

    async def reset(self) -> None:
        (await self._control.post(f"{self.base_url}/_simulator/reset")).raise_for_status()

    async def accepted_sends(self) -> int:
        answer = await self._control.get(f"{self.base_url}/_simulator/stats")
        answer.raise_for_status()
        return int(answer.json()["accepted_sends"])

    async def message_requests(self) -> list[SimulatorRequest]:
        """Every call it got to the number's messages endpoint: sends and mark-reads."""
        search = {"path_contains": f"/{PHONE_NUMBER_ID}/messages"}
        answer = await self._control.get(f"{self.base_url}/_simulator/requests", params=search)
        answer.raise_for_status()
        return [
            SimulatorRequest(r["path"], r["body"], r["recipient"], r["wamid"],
                             float(r["received_at"]),
                             None if r["finished_at"] is None else float(r["finished_at"]))
            for r in answer.json()["requests"]
        ]  # fmt: skip


@asynccontextmanager
async def simulator_process(
    port: int, webhook_url: str | None, niceness: int | None
) -> AsyncIterator[SimulatorProcess]:
    env = child_env({"WHATSAPP_APP_SECRET": APP_SECRET, "WAZYBOT_LOG_LEVEL": "error"})
    command = [sys.executable, "-m", "entrypoints.cli", "simulator", "--port", str(port),
               "--access-token", TOKEN, "--phone-number-id", PHONE_NUMBER_ID,
               "--waba-id", ACCOUNT_ID]  # fmt: skip
    if webhook_url is not None:
        command += ["--webhook-url", webhook_url]
    with tempfile.TemporaryDirectory() as cwd:  # no .env of a checkout is read
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            reached = prioritize(process.pid, niceness)
            async with httpx.AsyncClient(timeout=30) as control:
                base_url = f"http://{HOST}:{port}"
                await wait_answering(process, control, f"{base_url}/_simulator/stats",
                                     "the simulator")  # fmt: skip
                yield SimulatorProcess(base_url, control, process.pid, reached)
        finally:
            await stop(process)


def server_env(database_url: str, graph_url: str, extra: dict[str, str]) -> dict[str, str]:
    secret_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return child_env({**extra,
        "DATABASE_URL": database_url,
        "WAZYBOT_ENV": "production",
        "WAZYBOT_LOG_LEVEL": "warning",
        "WAZYBOT_SECRET_KEY": secret_key,  # the access token is stored encrypted
        "WAZYBOT_AUTO_REPLIES": "true",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-reply-verify",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_BUSINESS_ACCOUNT_ID": ACCOUNT_ID,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_GRAPH_URL": graph_url,
    } | extra)  # fmt: skip


@asynccontextmanager
async def server_process(
    port: int, database_url: str, graph_url: str, extra: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``wazybot serve`` on ``port`` until the block ends, its log in SERVER_LOG."""
    STATE_DIR.mkdir(mode=0o755, exist_ok=True)
    command = [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port)]
    # Opened once, before anything is timed.
    with tempfile.TemporaryDirectory() as cwd, open(SERVER_LOG, "wb") as log_file:  # noqa: ASYNC230
        process = await asyncio.create_subprocess_exec(
            *command, env=server_env(database_url, graph_url, extra), cwd=cwd,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await wait_answering(process, client, f"http://{HOST}:{port}/ready", "the server")
            yield process
        finally:
            await stop(process)


# --- CPU accounting from /proc --------------------------------------------------------------

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def postgres_pids(postmaster: int | None) -> list[int]:
    """The postmaster and its children (backends and helpers); none for a remote server."""
    if postmaster is None:
        return []
    children = [int(e.name) for e in Path("/proc").iterdir()
                if e.name.isdigit() and parent_of(int(e.name)) == postmaster]  # fmt: skip
    return [postmaster, *children]


async def find_postmaster(database_url: str) -> int | None:
    """The server's postmaster when it runs on this machine (a backend's parent, read while
    the backend lives)."""
    connection = await connect(database_url, application_name="wazybot-bench")
    try:
        backend = int(await connection.fetchval("select pg_backend_pid()"))
        return parent_of(backend) if is_postgres(backend) else None
    finally:
        await connection.close()


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class CpuSample:
    at: float
    load: float
    server: float
    simulator: float
    postgres: dict[int, float]
    busy: float
    total: float

    @classmethod
    def take(cls, server: int, simulator: int, postmaster: int | None) -> CpuSample:
        busy, total = machine_seconds()
        postgres = {pid: process_cpu_seconds(pid) for pid in postgres_pids(postmaster)}
        return cls(time.monotonic(), time.process_time(), process_cpu_seconds(server),
                   process_cpu_seconds(simulator), postgres, busy, total)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CpuUse:
    """Shares of one CPU over a measurement; ``machine`` of all the machine's CPUs."""

    load: float
    server: float
    simulator: float
    postgres: float
    other: float
    machine: float

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample) -> CpuUse:
        elapsed = max(after.at - before.at, 1e-9)
        postgres = sum(t - before.postgres.get(pid, 0.0) for pid, t in after.postgres.items())
        load = after.load - before.load
        server = after.server - before.server
        simulator = after.simulator - before.simulator
        busy, total = after.busy - before.busy, max(after.total - before.total, 1e-9)
        other = max(busy - load - server - simulator - postgres, 0.0)
        return cls(load / elapsed, server / elapsed, simulator / elapsed, postgres / elapsed,
                   other / elapsed, busy / total)  # fmt: skip


# --- the load -------------------------------------------------------------------------------


@dataclass(slots=True)
class Post:
    """One new conversation: the customer's greeting and what its webhook POST got."""

    customer: str
    wamid: str
    language: str
    scheduled: float  # seconds after the start of the schedule
    posted_at: float = 0.0  # time.time() as the request left
    late: float = 0.0  # seconds after its place in the schedule
    ack_ms: float | None = None
    status: int | None = None
    error: str | None = None


class Load:
    """New customers posting signed webhooks to the server."""

    def __init__(self, client: httpx.AsyncClient, webhook_url: str) -> None:
        self._client = client
        self._url = webhook_url
        self._token = secrets.token_hex(4)
        self._base = 33700000000 + secrets.randbelow(10**6) * 10_000
        self._count = 0

    def conversations(self, count: int, rate: float) -> list[Post]:
        posts = []
        for n in range(count):
            number = self._count
            self._count += 1
            language, _ = GREETINGS[number % len(GREETINGS)]
            posts.append(Post(customer=str(self._base + number),
                              wamid=f"wamid.bench-reply-{self._token}-{number:06d}",
                              language=language, scheduled=n / rate))  # fmt: skip
        return posts

    async def run(self, posts: Sequence[Post]) -> None:
        """Each post at its place in the schedule, without waiting for earlier answers."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for post in posts:
            await asyncio.sleep(max(0.0, start + post.scheduled - loop.time()))
            post.late = loop.time() - start - post.scheduled
            tasks.append(asyncio.create_task(self._post(post)))
        await asyncio.gather(*tasks)

    async def _post(self, post: Post) -> None:
        _, text = GREETINGS[int(post.wamid.rsplit("-", 1)[1]) % len(GREETINGS)]
        customer = Customer(phone=post.customer, name=f"Customer {post.customer[-4:]}")
        message = {"type": "text", "text": {"body": text}}
        at = int(time.time())
        body = json.dumps(inbound_body(BUSINESS, customer, message, wamid=post.wamid, at=at),
                          ensure_ascii=False, separators=(",", ":")).encode()  # fmt: skip
        headers = {"X-Hub-Signature-256": signature(APP_SECRET.encode(), body),
                   "Content-Type": "application/json"}  # fmt: skip
        post.posted_at = time.time()
        started = time.perf_counter()
        try:
            answer = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            post.error = f"{type(error).__name__}: {error}"
            return
        post.ack_ms = (time.perf_counter() - started) * 1000
        post.status = answer.status_code
        if answer.status_code != 200:
            post.error = answer.text[:300]


async def wait_for_replies(
    simulator: SimulatorProcess, expected: int, timeout: float
) -> list[SimulatorRequest]:
    """Poll the simulator's count until ``expected`` sends were accepted, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if await simulator.accepted_sends() >= expected or time.monotonic() > deadline:
            return await simulator.message_requests()
        await asyncio.sleep(0.25)


# --- what each conversation went through ------------------------------------------------------


@dataclass(slots=True)
class Journey:
    """One measured conversation's moments, as wall-clock seconds (None when not seen)."""

    post: Post
    stored: float | None = None
    requested: float | None = None
    taken: float | None = None
    typing: float | None = None
    queued: float | None = None
    arrived: float | None = None
    accepted: float | None = None
    replies: int = 0
    outcome: str | None = None

    @property
    def reply_ms(self) -> float | None:
        if self.accepted is None:
            return None
        return (self.accepted - self.post.posted_at) * 1000


MOMENTS: Final = (
    ("stored", "message stored (message.received)"),
    ("requested", "turn requested (assistant-turns subscriber)"),
    ("taken", "turn taken by the worker"),
    ("typing", "typing indicator at the simulator"),
    ("queued", "reply queued (turn outcome committed)"),
    ("arrived", "reply arriving at the simulator"),
    ("accepted", "reply accepted by the simulator"),
)

EVENTS_SQL: Final = """
select stream_id, type, extract(epoch from recorded_at)::float8 as at, data->>'at' as turn_at
from events
where stream_id = any($1::text[])
  and type in ('message.received', 'assistant.turn_requested', 'assistant.turn_completed',
               'assistant.turn_failed', 'assistant.turn_skipped')
"""


async def journeys(
    database_url: str, posts: Sequence[Post], requests: Sequence[SimulatorRequest]
) -> list[Journey]:
    by_customer = {post.customer: Journey(post) for post in posts}
    by_stream = {conversation_stream(PHONE_NUMBER_ID, c): j for c, j in by_customer.items()}
    by_wamid = {post.wamid: by_customer[post.customer] for post in posts}
    connection = await connect(database_url, application_name="wazybot-bench")
    try:
        rows = await connection.fetch(EVENTS_SQL, list(by_stream))
    finally:
        await connection.close()
    for row in rows:
        journey = by_stream[row["stream_id"]]
        kind = row["type"]
        if kind == "message.received":
            journey.stored = row["at"]
        elif kind == "assistant.turn_requested":
            journey.requested = row["at"]
        else:
            journey.queued = row["at"]
            journey.taken = datetime.fromisoformat(row["turn_at"]).timestamp()
            journey.outcome = kind.removeprefix("assistant.turn_")
    for request in requests:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("status") == "read" and (typed := by_wamid.get(body.get("message_id", ""))):
            typed.typing = min(typed.typing or request.received_at, request.received_at)
        elif request.wamid is not None and (replied := by_customer.get(request.recipient or "")):
            replied.replies += 1
            if replied.accepted is None or (request.finished_at or 0) < replied.accepted:
                replied.arrived = request.received_at
                replied.accepted = request.finished_at or request.received_at
    return list(by_customer.values())


# --- the run --------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    posts: list[Post]
    journeys: list[Journey]
    niceness: Niceness
    cpu: CpuUse
    commits: int  # transactions committed in the database from the first post to the end
    facts: dict[str, str] = field(default_factory=dict)
    log_counts: collections.Counter[str] = field(default_factory=collections.Counter)


async def postgres_facts(database_url: str) -> dict[str, str]:
    connection = await connect(database_url, application_name="wazybot-bench")
    try:
        names = ("server_version", "fsync", "synchronous_commit")
        return {name: str(await connection.fetchval(f"show {name}")) for name in names}
    finally:
        await connection.close()


async def commits(database_url: str) -> int:
    """Transactions committed in the benchmark's database so far (PostgreSQL's statistics,
    which each backend reports within a second or so)."""
    connection = await connect(database_url, application_name="wazybot-bench")
    try:
        total = await connection.fetchval(
            "select xact_commit from pg_stat_database where datname = current_database()"
        )
        return int(total)
    finally:
        await connection.close()


async def without_flush_waits(database_url: str) -> None:
    """Diagnostic only: commits on the benchmark's database no longer wait for their WAL
    flush (``synchronous_commit = off`` for every later connection), to show what those
    waits cost the reply; not a setting the product offers."""
    connection = await connect(database_url, application_name="wazybot-bench")
    try:
        name = await connection.fetchval("select current_database()")
        await connection.execute(f'alter database "{name}" set synchronous_commit = off')
    finally:
        await connection.close()


async def bench(database_url: str, args: argparse.Namespace) -> Results:
    if args.synchronous_commit_off:
        await without_flush_waits(database_url)
    server_port, simulator_port = free_port(), free_port()
    server_url = f"http://{HOST}:{server_port}"
    statuses_to = None if args.no_statuses else server_url + WEBHOOK_PATH
    postmaster = await find_postmaster(database_url)
    meta, ours = (META_NICENESS, SERVER_NICENESS) if not args.no_priority else (None, None)
    async with simulator_process(simulator_port, statuses_to, meta) as simulator:
        print(f"starting the server, log in {SERVER_LOG} ...", file=sys.stderr)
        graph_url = simulator.base_url
        async with server_process(server_port, database_url, graph_url, args.set) as server:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                load = Load(client, server_url + WEBHOOK_PATH)
                if args.warmup:
                    print(f"warm-up: {args.warmup} conversations ...", file=sys.stderr)
                    await load.run(load.conversations(args.warmup, args.rate))
                    await wait_for_replies(simulator, args.warmup, args.reply_timeout)
                    await simulator.reset()
                # Each backend is a session of its own; the server's connections are open.
                backends = [prioritize(pid, ours) for pid in postgres_pids(postmaster)]
                niceness = Niceness(
                    load=prioritize(os.getpid(), meta),
                    simulator=simulator.niceness,
                    server=prioritize(server.pid, ours),
                    postgres=max((n for n in backends if n is not None), default=None),
                )
                count = int(args.rate * args.seconds)
                print(f"{count} conversations at {args.rate:g}/s ...", file=sys.stderr)
                posts = load.conversations(count, args.rate)
                committed = await commits(database_url)
                before = CpuSample.take(server.pid, simulator.pid, postmaster)
                await load.run(posts)
                cpu = CpuUse.between(before, CpuSample.take(server.pid, simulator.pid, postmaster))
                acknowledged = sum(1 for post in posts if post.status == 200)
                print("waiting for the replies ...", file=sys.stderr)
                requests = await wait_for_replies(simulator, acknowledged, args.reply_timeout)
                await asyncio.sleep(STATUS_SETTLE)  # the last statuses, and their statistics
                committed = await commits(database_url) - committed
        facts = await postgres_facts(database_url)
        measured = await journeys(database_url, posts, requests)
    return Results(posts, measured, niceness, cpu, committed, facts, log_summary(SERVER_LOG))


def log_summary(path: Path) -> collections.Counter[str]:
    """The server's warning and error lines (its level is warning) by level and event."""
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            counts[f"{entry.get('level', '?')} {entry.get('event', '?')}"] += 1
        elif line.strip():
            counts["unstructured"] += 1
    return counts


# --- the report -----------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def mark(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(results: Results, args: argparse.Namespace, where: str) -> tuple[bool, bool]:
    """Print the results; (target met, nothing failed)."""
    posts, measured = results.posts, results.journeys
    acked = [p for p in posts if p.status == 200]
    replied = [j for j in measured if j.post.status == 200 and j.reply_ms is not None]
    missing = [j for j in measured if j.post.status == 200 and j.reply_ms is None]
    facts = results.facts
    print()
    print(f"WazyBot reply latency benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {where}")
    print(f"{os.cpu_count()} CPUs shared by load, server, simulator and database, Python "
          f"{platform.python_version()}, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; PostgreSQL "
          f"{facts.get('server_version', '?')}, fsync={facts.get('fsync', '?')}, "
          f"synchronous_commit={facts.get('synchronous_commit', '?')}")  # fmt: skip
    print(f"`wazybot serve` (production settings, log level warning, offline assistant), the "
          f"Cloud API simulator in a process of its own, status webhooks "
          f"{'off' if args.no_statuses else 'on'}; {len(posts)} new conversations at "
          f"{args.rate:g}/s for {args.seconds:g} s after {args.warmup} warm-up ones")  # fmt: skip
    nice = results.niceness
    print(f"niceness (process and session): load {nice.load}, simulator {nice.simulator}, "
          f"server {nice.server}, PostgreSQL backends {nice.postgres} (at most); "
          f"other sessions of the machine: 0 unless set otherwise")  # fmt: skip
    cpu = results.cpu
    print(f"CPU while posting, in shares of one CPU: load {cpu.load:.2f}, server "
          f"{cpu.server:.2f}, simulator {cpu.simulator:.2f}, PostgreSQL {cpu.postgres:.2f}, "
          f"other processes {cpu.other:.2f}; the machine {cpu.machine:.0%} busy")  # fmt: skip
    print(
        f"PostgreSQL transactions committed per conversation: "
        f"{results.commits / max(len(posts), 1):.1f} (everything the run did, polls included)"
    )
    if args.synchronous_commit_off:
        print("diagnostic: synchronous_commit=off on the benchmark's database (no flush waits)")
    if args.set:
        print("server settings changed: " + ", ".join(f"{k}={v}" for k, v in args.set.items()))
    print()
    late = max((p.late for p in posts), default=0.0)
    print(f"posted: {len(posts)}, answered 200: {len(acked)} (latest post {late * 1000:.1f} ms "
          f"after its place in the schedule)")  # fmt: skip
    print(f"replies received: {len(replied)}, missing: {len(missing)}")
    acks = [p.ack_ms for p in acked if p.ack_ms is not None]
    replies = [j.reply_ms for j in replied if j.reply_ms is not None]
    met = False
    if acks and replies:
        ack_p99, reply_p99 = quantile(acks, 0.99), quantile(replies, 0.99)
        print()
        print(f"{'':<40}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        print(f"{'webhook acknowledgement (POST -> 200)':<40}{quantile(acks, 0.5):>10.1f}"
              f"{ack_p99:>10.1f}{max(acks):>10.1f}")  # fmt: skip
        print(f"{'reply (POST -> accepted by simulator)':<40}{quantile(replies, 0.5):>10.1f}"
              f"{reply_p99:>10.1f}{max(replies):>10.1f}")  # fmt: skip
        met = reply_p99 <= ack_p99 + TARGET_MARGIN_MS and not missing
        print()
        print(f"target: reply p99 <= ack p99 + {TARGET_MARGIN_MS:g} ms: {reply_p99:.1f} <= "
              f"{ack_p99 + TARGET_MARGIN_MS:.1f}  {mark(met)}")  # fmt: skip
        print_breakdown(replied)
    failed = len(acked) < len(posts) or bool(missing)
    for post in [p for p in posts if p.status != 200][:5]:
        print(f"  post {post.wamid}: status {post.status}, {post.error}")
    for journey in missing[:5]:
        print(f"  no reply to {journey.post.wamid}: stored={journey.stored is not None} "
              f"requested={journey.requested is not None} outcome={journey.outcome} "
              f"typing={journey.typing is not None}")  # fmt: skip
    doubles = sum(1 for j in measured if j.replies > 1)
    if doubles:
        print(f"note: {doubles} customers got more than one accepted send")
    outcomes = collections.Counter(j.outcome for j in replied)
    if set(outcomes) != {"completed"}:
        print(f"note: turn outcomes {dict(outcomes)}")
    if results.log_counts:
        shown = ", ".join(f"{k}: {n}" for k, n in results.log_counts.most_common(8))
        print(f"server log (warnings and errors): {shown}")
    return met, not failed


def print_breakdown(replied: Sequence[Journey]) -> None:
    """Each moment's time after the POST, and the step from the moment before it."""
    print()
    print("where the time goes (ms; wall clock of this machine; steps are per conversation):")
    print(f"{'':<46}{'after POST':>22}{'step from previous':>24}")
    print(f"{'moment':<46}{'p50':>11}{'p99':>11}{'p50':>12}{'p99':>12}")
    previous = "posted_at"
    for name, label in MOMENTS:
        since_post, steps = [], []
        for journey in replied:
            moment = getattr(journey, name)
            before = (journey.post.posted_at if previous == "posted_at"
                      else getattr(journey, previous))  # fmt: skip
            if moment is None or before is None:
                continue
            since_post.append((moment - journey.post.posted_at) * 1000)
            steps.append((moment - before) * 1000)
        if since_post:
            print(f"{label:<46}{quantile(since_post, 0.5):>11.1f}"
                  f"{quantile(since_post, 0.99):>11.1f}{quantile(steps, 0.5):>12.1f}"
                  f"{quantile(steps, 0.99):>12.1f}")  # fmt: skip
        previous = name


def rate(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= 500:
        raise argparse.ArgumentTypeError("from 0.5 to 500 conversations a second")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError("from 1 to 600 seconds")
    return value


def setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.startswith(("WAZYBOT_", "WHATSAPP_")):
        raise argparse.ArgumentTypeError("give NAME=VALUE, a WAZYBOT_ or WHATSAPP_ setting")
    return name, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rate", type=rate, default=20.0, help="new conversations a second (default 20)"
    )
    parser.add_argument(
        "--seconds", type=seconds, default=60.0, help="how long conversations start (default 60)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="conversations before the measured ones, not counted (default 20)",
    )
    parser.add_argument(
        "--reply-timeout",
        type=seconds,
        default=60.0,
        help="seconds after the last post before a reply counts as missing",
    )
    parser.add_argument(
        "--no-statuses", action="store_true", help="the simulator posts no status webhooks back"
    )
    parser.add_argument(
        "--set",
        type=setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for a diagnostic run, e.g. WAZYBOT_SUBSCRIBER_POLL_SECONDS=0.1",
    )
    parser.add_argument(
        "--no-priority",
        action="store_true",
        help="leave every process's priority as it is (on a shared machine the neighbours"
        " then decide how much CPU the server gets)",
    )
    parser.add_argument(
        "--synchronous-commit-off",
        action="store_true",
        help="diagnostic: the server's commits do not wait for their WAL flush",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    args.set = dict(args.set)
    return args  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(production=False, level="warning", stream=sys.stderr)
    results, where = on_a_database(lambda url: bench(url, args), STATE_DIR)
    met, complete = report(results, args, where)
    return 1 if not complete or (args.check and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
