"""Benchmark: signed webhook ingestion against the bare signature check, on the real server.

The real ``wazybot serve`` runs as a child process on a fresh embedded PostgreSQL
(production settings, fsync on) with the benchmark endpoints enabled. This
process drives it over HTTP/1.1 keep-alive connections at a fixed concurrency,
with a minimal asyncio client that writes pre-built, pre-signed requests and
reads status, headers and body, so as little CPU as possible goes to the client
on a small shared machine. Two endpoints are compared side by side:

(a) ``POST /bench/signature-only``: reads the body, checks the signature, answers
    200 and stores nothing;
(b) ``POST /webhooks/whatsapp``: the real webhook, answered 200 only once every
    event of the delivery is durable in PostgreSQL.

Every body is a distinct, correctly signed Meta ``messages`` webhook from one of
a few hundred customers, so conversations repeat; each customer's messages are
10 seconds apart, well under the flood limit. After warm-ups of both, (a) and
(b) alternate for ``--rounds`` rounds (a1 b1 a2 b2 ...) and (b)/(a) is computed
per round pair, so a drift in the machine's speed weighs on both alike. Every
response must be 200.

Durability: right after the last 200 the server is killed with SIGKILL and
PostgreSQL is stopped in immediate mode (no shutdown checkpoint, so the restart
runs crash recovery); the database is then started again and every
acknowledged message must be there as a ``message.received`` event.

The target (b)/(a) >= 0.65 is reported; ``--check`` turns a miss into exit status 1.
Non-200 responses and lost acknowledged messages always exit 1.

    .venv/bin/python bench/ingest.py [--requests N] [--concurrency C] [--rounds R] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncpg
import uvloop

from adapters.postgres.embedded import EmbeddedPostgres
from adapters.whatsapp.signature import sign
from entrypoints.logging import configure_logging

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STATE_DIR: Final = REPO_ROOT / ".wazybot"
DATA_DIR: Final = STATE_DIR / "bench-ingest-pgdata"
SERVER_LOG: Final = STATE_DIR / "bench-ingest-server.log"
HOST: Final = "127.0.0.1"

APP_SECRET: Final = b"bench-ingest-app-secret"
PHONE_NUMBER_ID: Final = "1122334455667"
DISPLAY_NUMBER: Final = "15550001111"
ACCOUNT_ID: Final = "102290129340398"
FIRST_CUSTOMER: Final = 4915100000000
MESSAGE_SPACING: Final = 10  # seconds between two messages of one customer

BARE_PATH: Final = "/bench/signature-only"
INGEST_PATH: Final = "/webhooks/whatsapp"
TARGET_RATIO: Final = 0.65
START_TIMEOUT: Final = 60.0
PROGRESS_INTERVAL: Final = 0.5
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


# --- the requests, built and signed before anything is timed -------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    label: str
    path: str
    wamids: list[str]
    requests: list[bytes]


class Deliveries:
    """Distinct signed webhook bodies; one customer's messages are MESSAGE_SPACING apart."""

    def __init__(self, port: int, customers: int, messages_per_customer: int) -> None:
        self._port = port
        self._customers = customers
        self._token = secrets.token_hex(4)
        # Every timestamp lies in the past; the newest is a minute ago.
        self._first_second = int(time.time()) - MESSAGE_SPACING * messages_per_customer - 60
        self._sent: collections.Counter[str] = collections.Counter()

    def phase(self, label: str, path: str, count: int) -> Phase:
        """``count`` requests to ``path``; the message numbering runs on per endpoint."""
        wamids: list[str] = []
        requests: list[bytes] = []
        for _ in range(count):
            number = self._sent[path]
            self._sent[path] += 1
            wamid = f"wamid.bench-{self._token}-{label}-{number:06d}"
            body = self._body(number, wamid)
            wamids.append(wamid)
            requests.append(self._request(path, body))
        return Phase(label, path, wamids, requests)

    def _body(self, number: int, wamid: str) -> bytes:
        customer = str(FIRST_CUSTOMER + number % self._customers)
        sent_at = self._first_second + MESSAGE_SPACING * (number // self._customers)
        message = {
            "from": customer,
            "id": wamid,
            "timestamp": str(sent_at),
            "type": "text",
            "text": {"body": f"hello {number} ✓ café"},
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": DISPLAY_NUMBER,
                "phone_number_id": PHONE_NUMBER_ID,
            },
            "contacts": [
                {"profile": {"name": f"Customer {number % self._customers}"}, "wa_id": customer}
            ],
            "messages": [message],
        }
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [{"id": ACCOUNT_ID, "changes": [{"field": "messages", "value": value}]}],
        }
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

    def _request(self, path: str, body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {HOST}:{self._port}\r\n"
            "User-Agent: wazybot-bench\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: {sign(APP_SECRET, body)}\r\n"
            "Connection: keep-alive\r\n"
            "\r\n"
        )
        return head.encode("ascii") + body


# --- CPU accounting from /proc --------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_pids(data_dir: Path) -> list[int]:
    """The postmaster of ``data_dir`` and its children (backends and helpers)."""
    try:
        pid_file = EmbeddedPostgres(data_dir).data_dir / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == postmaster:
            pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = values[3] + values[4]
    total = sum(values)
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class CpuSample:
    client: float
    server: float
    postgres: dict[int, float]
    busy: float
    total: float

    @classmethod
    def take(cls, server_pid: int, data_dir: Path) -> CpuSample:
        busy, total = machine_busy_seconds()
        return cls(
            client=time.process_time(),
            server=process_cpu_seconds(server_pid),
            postgres={pid: process_cpu_seconds(pid) for pid in postgres_pids(data_dir)},
            busy=busy,
            total=total,
        )


@dataclass(frozen=True, slots=True)
class CpuUse:
    client: float
    server: float
    postgres: float
    busy_share: float  # of all the machine's CPUs
    other_share: float  # the part of it neither client, server nor PostgreSQL used

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample) -> CpuUse:
        postgres = sum(
            spent - before.postgres.get(pid, 0.0) for pid, spent in after.postgres.items()
        )
        client = after.client - before.client
        server = after.server - before.server
        busy = after.busy - before.busy
        total = after.total - before.total
        return cls(
            client=client,
            server=server,
            postgres=postgres,
            busy_share=busy / total if total > 0 else 0.0,
            other_share=max(busy - client - server - postgres, 0.0) / total if total > 0 else 0.0,
        )


# --- the client -----------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    label: str
    path: str
    requests: int
    seconds: float = 0.0
    done: int = 0
    reconnects: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[tuple[int, str]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    unexpected_bodies: int = 0
    cpu: CpuUse | None = None
    commits: int | None = None  # transactions that stored the phase's messages

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def non_200(self) -> int:
        return self.requests - self.statuses[200]

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] / 1e6


class ResponseFramingError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and keep-alive of one HTTP/1.1 response framed by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        raise ResponseFramingError(f"response without Content-Length: {head[:200]!r}")
    start += len(b"\r\ncontent-length:")
    length = int(lowered[start : lowered.index(b"\r\n", start)])
    body = await reader.readexactly(length) if length else b""
    return status, body, b"\r\nconnection: close" not in lowered


@contextlib.asynccontextmanager
async def progress(result: PhaseResult) -> AsyncIterator[None]:
    """A line on stderr shows how far the phase is every PROGRESS_INTERVAL seconds."""
    start = time.perf_counter()

    def line() -> str:
        elapsed = time.perf_counter() - start
        rate = result.done / elapsed if elapsed > 0 else 0.0
        return (
            f"  {result.label} {result.path}: {result.done:,}/{result.requests:,}, "
            f"{rate:,.0f}/s, {elapsed:.1f}s"
        )

    async def report() -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            sys.stderr.write("\r" + line().ljust(78))
            sys.stderr.flush()

    reporter = asyncio.create_task(report())
    try:
        yield
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
        sys.stderr.write("\r" + line().ljust(78) + "\n")
        sys.stderr.flush()


async def run_phase(
    phase: Phase, port: int, concurrency: int, server_pid: int, data_dir: Path
) -> PhaseResult:
    """Send every request of the phase over ``concurrency`` keep-alive connections."""
    result = PhaseResult(phase.label, phase.path, len(phase.requests))
    result.latencies_ns = [0] * len(phase.requests)
    connections = [await asyncio.open_connection(HOST, port) for _ in range(concurrency)]
    next_index = 0
    ingest = phase.path == INGEST_PATH

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal next_index
        requests = phase.requests
        total = len(requests)
        while next_index < total:
            index = next_index
            next_index += 1
            started = time.perf_counter_ns()
            try:
                writer.write(requests[index])
                status, body, keep_alive = await read_response(reader)
            except (
                OSError,
                asyncio.IncompleteReadError,
                ResponseFramingError,
                ValueError,
            ) as error:
                status, body, keep_alive = 0, f"{type(error).__name__}: {error}".encode(), False
            result.latencies_ns[index] = time.perf_counter_ns() - started
            result.statuses[status] += 1
            result.done += 1
            if not keep_alive:
                result.reconnects += 1
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
            if status != 200:
                if len(result.failures) < 10:
                    result.failures.append((status, body[:500].decode(errors="replace")))
            elif ingest:
                result.acknowledged.append(phase.wamids[index])
                if b'"duplicates":0' not in body:
                    result.unexpected_bodies += 1
        writer.close()

    async with progress(result):
        before = CpuSample.take(server_pid, data_dir)
        started = time.perf_counter()
        await asyncio.gather(*(worker(reader, writer) for reader, writer in connections))
        result.seconds = time.perf_counter() - started
        result.cpu = CpuUse.between(before, CpuSample.take(server_pid, data_dir))
    return result


# --- the server under test ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WAZYBOT_", "DATABASE_URL", "WHATSAPP_"))
    }
    return {
        **inherited,
        "WAZYBOT_ENV": "production",
        "WAZYBOT_LOG_LEVEL": "warning",
        "WAZYBOT_DATA_DIR": str(data_dir.relative_to(REPO_ROOT)),
        "WAZYBOT_BENCHMARK_ENDPOINTS": "1",
        "WHATSAPP_APP_SECRET": APP_SECRET.decode(),
        "WHATSAPP_VERIFY_TOKEN": "x",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
    }


def http_status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def wait_for(process: subprocess.Popen[bytes], port: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        if http_status(port, path) == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"GET {path} did not answer 200 within {timeout:.0f} s")


def remove_data_dir(data_dir: Path) -> None:
    EmbeddedPostgres(data_dir).remove()


def crash_postgres(data_dir: Path) -> None:
    """``pg_ctl stop -m immediate``: no shutdown checkpoint, the next start recovers from WAL."""
    EmbeddedPostgres(data_dir).crash()


@contextlib.contextmanager
def running_server(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The real server as a child; killed on the way out if it still runs."""
    with open(SERVER_LOG, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port)],
            cwd=REPO_ROOT, env=server_env(data_dir), stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def log_summary(path: Path) -> tuple[collections.Counter[str], list[str]]:
    """Counts of warning and error lines of the server log by event, and a few of them."""
    counts: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            level = str(entry.get("level", "?"))
            counts[f"{level} {entry.get('event', '?')}"] += 1
        elif line.strip():
            counts["unstructured"] += 1
        else:
            continue
        if len(samples) < 5:
            samples.append(line[:300])
    return counts, samples


# --- durability -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    acknowledged: int
    stored: int
    all_received: int
    facts: dict[str, str]


STORED_SQL: Final = """
select count(*) as stored, count(distinct tx) as commits from events
where type = 'message.received' and data->'message'->>'wamid' = any($1::text[])
"""


async def count_stored(dsn: str, phases: Sequence[PhaseResult]) -> Stored:
    """Count the acknowledged messages in the database; note each phase's commits."""
    connection = await asyncpg.connect(dsn)
    try:
        acknowledged = [wamid for phase in phases for wamid in phase.acknowledged]
        stored = await connection.fetchrow(STORED_SQL, acknowledged)
        assert stored is not None
        for phase in phases:
            if phase.path == INGEST_PATH:
                row = await connection.fetchrow(STORED_SQL, phase.acknowledged)
                assert row is not None
                phase.commits = int(row["commits"])
        everything = await connection.fetchval(
            "select count(*) from events where type = 'message.received'"
        )
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        facts = {name: str(await connection.fetchval(f"show {name}")) for name in names}
    finally:
        await connection.close()
    return Stored(len(acknowledged), int(stored["stored"]), int(everything), facts)


# --- the run --------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    bare: list[PhaseResult] = field(default_factory=list)
    ingest: list[PhaseResult] = field(default_factory=list)
    warmups: list[PhaseResult] = field(default_factory=list)
    stored: Stored | None = None
    log_counts: collections.Counter[str] = field(default_factory=collections.Counter)
    log_samples: list[str] = field(default_factory=list)

    def every_phase(self) -> list[PhaseResult]:
        return [*self.warmups, *self.bare, *self.ingest]


def bench(args: argparse.Namespace) -> Results:
    port = free_port()
    results = Results()
    ingest_messages = args.warmup + args.rounds * args.requests
    deliveries = Deliveries(port, args.customers, -(-ingest_messages // args.customers))
    phases = [
        deliveries.phase("warmup-a", BARE_PATH, args.warmup),
        deliveries.phase("warmup-b", INGEST_PATH, args.warmup),
    ]
    for number in range(1, args.rounds + 1):
        phases.append(deliveries.phase(f"a{number}", BARE_PATH, args.requests))
        phases.append(deliveries.phase(f"b{number}", INGEST_PATH, args.requests))

    remove_data_dir(DATA_DIR)
    STATE_DIR.mkdir(mode=0o755, exist_ok=True)  # the database user must be able to enter it
    try:
        with running_server(DATA_DIR, port) as server:
            print(f"starting the server on port {port}, log in {SERVER_LOG} ...", file=sys.stderr)
            wait_for(server, port, "/health", START_TIMEOUT)
            wait_for(server, port, "/ready", START_TIMEOUT)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                for phase in phases:
                    result = runner.run(
                        run_phase(phase, port, args.concurrency, server.pid, DATA_DIR)
                    )
                    if phase.label.startswith("warmup"):
                        results.warmups.append(result)
                    elif phase.path == BARE_PATH:
                        results.bare.append(result)
                    else:
                        results.ingest.append(result)
                # Right after the last 200: no graceful shutdown, no flush, no goodbye.
                server.send_signal(signal.SIGKILL)
                server.wait()
        crash_postgres(DATA_DIR)
        results.log_counts, results.log_samples = log_summary(SERVER_LOG)
        database = EmbeddedPostgres(DATA_DIR)
        dsn = database.start()
        try:
            results.stored = asyncio.run(count_stored(dsn, results.every_phase()))
        finally:
            database.stop()
    finally:
        with contextlib.suppress(Exception):
            crash_postgres(DATA_DIR)
        if not args.keep_data:
            remove_data_dir(DATA_DIR)
    return results


# --- the report -----------------------------------------------------------------------------


def mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def row(name: str, cells: Sequence[str], target: str = "", result: str = "") -> None:
    print(f"{name:<34}" + "".join(f"{cell:>10}" for cell in cells) + f"   {target:<9}{result}")


def per_request_ms(seconds: float, requests: int) -> str:
    return f"{seconds * 1000 / requests:.2f}"


def report(results: Results, args: argparse.Namespace) -> bool:
    """Print the table; return whether the ratio target was met."""
    assert results.stored is not None
    stored = results.stored
    facts = stored.facts
    rounds = [f"round {n}" for n in range(1, args.rounds + 1)]
    pair_ratios = [b.rate / a.rate for a, b in zip(results.bare, results.ingest, strict=True)]
    ratio = statistics.median(pair_ratios)
    ratio_ok = ratio >= TARGET_RATIO

    print()
    print(f"WazyBot webhook ingestion benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"real server (`wazybot serve`, WAZYBOT_ENV=production, WAZYBOT_LOG_LEVEL=warning: "
        f"the per-request info logs are off), fresh embedded PostgreSQL "
        f"{facts['server_version']}: fsync={facts['fsync']}, "
        f"synchronous_commit={facts['synchronous_commit']}, "
        f"wal_sync_method={facts['wal_sync_method']}"
    )
    print(
        f"{os.cpu_count()} CPUs shared by client, server and database, "
        f"Python {platform.python_version()}; {args.requests:,} requests per phase after "
        f"{args.warmup:,} warm-up requests per endpoint, {args.concurrency} keep-alive "
        f"connections, {args.customers} customers; phases in the order "
        + " ".join(f"a{n} b{n}" for n in range(1, args.rounds + 1))
    )
    print()
    row("measure", [*rounds, "median", "best"], "target", "result")
    row("-" * 34, ["-" * 8] * (args.rounds + 2), "-" * 8, "------")
    for name, phases in (
        ("(a) signature only", results.bare),
        ("(b) webhook ingest", results.ingest),
    ):
        rates = [p.rate for p in phases]
        p50 = [p.latency_ms(0.50) for p in phases]
        p99 = [p.latency_ms(0.99) for p in phases]
        row(
            f"{name}, requests/s",
            [f"{r:,.0f}" for r in rates]
            + [f"{statistics.median(rates):,.0f}", f"{max(rates):,.0f}"],
        )
        row(
            "    p50 latency, ms",
            [f"{v:.1f}" for v in p50] + [f"{statistics.median(p50):.1f}", f"{min(p50):.1f}"],
        )
        row(
            "    p99 latency, ms",
            [f"{v:.1f}" for v in p99] + [f"{statistics.median(p99):.1f}", f"{min(p99):.1f}"],
        )
        row(
            "    server CPU per request, ms",
            [per_request_ms(p.cpu.server, p.requests) if p.cpu else "?" for p in phases],
        )
        row(
            "    server CPU busy, % of one CPU",
            [f"{p.cpu.server / p.seconds * 100:.0f}" if p.cpu else "?" for p in phases],
        )
        row(
            "    PostgreSQL CPU per request, ms",
            [per_request_ms(p.cpu.postgres, p.requests) if p.cpu else "?" for p in phases],
        )
        row(
            "    client CPU per request, ms",
            [per_request_ms(p.cpu.client, p.requests) if p.cpu else "?" for p in phases],
        )
        row(
            "    machine CPU busy, %",
            [f"{p.cpu.busy_share * 100:.0f}" if p.cpu else "?" for p in phases],
        )
        row(
            "    of which other processes, %",
            [f"{p.cpu.other_share * 100:.0f}" if p.cpu else "?" for p in phases],
        )
        if phases and phases[0].commits is not None:
            row("    commits (transactions)", [f"{p.commits:,}" for p in phases])
            row(
                "    messages per commit",
                [f"{p.requests / max(p.commits or 0, 1):.1f}" for p in phases],
            )
    row(
        "(b)/(a) requests/s",
        [f"{r:.2f}" for r in pair_ratios] + [f"{ratio:.2f}", f"{max(pair_ratios):.2f}"],
        f">= {TARGET_RATIO}",
        mark(ratio_ok),
    )
    print()
    print(
        "(b)/(a) per round pairs a1 with b1 and so on; the median of those pairs is checked. "
        "Latency is from writing a request to reading its whole response."
    )

    non_200 = sum(p.non_200 for p in results.every_phase())
    print(f"responses other than 200: {non_200}  {mark(non_200 == 0)}")
    for phase in results.every_phase():
        if phase.non_200:
            print(f"  {phase.label} {phase.path}: {dict(phase.statuses)}")
            for status, body in phase.failures:
                print(f"    {status}: {body}")
    reconnects = sum(p.reconnects for p in results.every_phase())
    if reconnects:
        print(f"note: {reconnects} connections had to be opened again (closed by the server)")
    unexpected = sum(p.unexpected_bodies for p in results.ingest + results.warmups)
    if unexpected:
        print(f"note: {unexpected} ingest acknowledgements reported duplicates")
    durable = stored.stored == stored.acknowledged
    print(
        f"durability (server killed with SIGKILL right after the last 200, PostgreSQL stopped "
        f"in immediate mode, then restarted): acknowledged {stored.acknowledged:,}, "
        f"stored {stored.stored:,}  {mark(durable)}"
    )
    if stored.all_received != stored.stored:
        print(f"  note: the table holds {stored.all_received:,} message.received events in all")
    if results.log_counts:
        print(f"server log warnings and errors ({SERVER_LOG}):")
        for event, count in results.log_counts.most_common():
            print(f"  {count:>6}  {event}")
        for sample in results.log_samples:
            print(f"  e.g. {sample}")
    else:
        print("server log: no warnings or errors")
    return ratio_ok


# --- entry point ----------------------------------------------------------------------------


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=positive, default=6_000, help="requests per phase")
    parser.add_argument("--concurrency", type=positive, default=32, help="keep-alive connections")
    parser.add_argument("--warmup", type=positive, default=500, help="uncounted requests first")
    parser.add_argument("--rounds", type=positive, default=2, help="rounds of (a) then (b)")
    parser.add_argument("--customers", type=positive, default=500, help="distinct customers")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument(
        "--keep-data", action="store_true", help=f"keep {DATA_DIR.relative_to(REPO_ROOT)} after"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(production=False, level="warning", stream=sys.stderr)
    try:
        results = bench(args)
    except RuntimeError as error:
        print(f"bench/ingest.py: {error}; server log {SERVER_LOG}:", file=sys.stderr)
        print(SERVER_LOG.read_text(errors="replace")[-4000:], file=sys.stderr)
        return 1
    met = report(results, args)
    assert results.stored is not None
    broken = (
        any(p.non_200 for p in results.every_phase())
        or results.stored.stored != results.stored.acknowledged
    )
    if broken:
        return 1
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
