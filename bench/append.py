"""Benchmark: event store appends against raw asyncpg inserts, and replay of the feed.

Everything is measured in one run on one database, side by side, so the ratios
compare like with like on a shared, noisy machine:

(a) raw asyncpg: single-row INSERTs into ``events``, each its own transaction;
(b) ``PostgresEventStore.append``, one event per call (group commit);
(c) replay of the whole global feed through ``read_feed``, decoding every event.

(a) and (b) run twice in the order a, b, b, a and the mean is reported, so a
drift in the machine's speed weighs on both alike. Nothing asserts timings; the
targets are reported, and ``--check`` turns a missed target into exit status 1.

By default a fresh embedded PostgreSQL with production settings (fsync on) runs
in a temporary data directory under ``.wazybot/``; with ``DATABASE_URL`` set, the
benchmark runs in a scratch database on that server and drops it afterwards.

    .venv/bin/python bench/append.py [--events N] [--concurrency C] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import string
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg
import msgspec

from adapters.postgres.connection import connect, create_pool
from adapters.postgres.embedded import throwaway_server
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from application.codec import EventCodec
from application.event_log import FEED_START, NewEvent
from domain.events import DomainEvent
from entrypoints.logging import configure_logging
from scratch import scratch_database

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STATE_DIR: Final = REPO_ROOT / ".wazybot"
TYPE_NAME: Final = "bench.event"
EVENT_BYTES: Final = 500
REPLAY_BATCH: Final = 1000
PROGRESS_INTERVAL: Final = 0.5
TARGET_RATIO: Final = 1.5
TARGET_REPLAY_RATE: Final = 20_000.0
RAW_INSERT_SQL: Final = (
    "insert into events (stream_id, version, event_id, type, data) values ($1, $2, $3, $4, $5)"
)


class BenchEvent(DomainEvent, frozen=True, kw_only=True, tag="bench.event"):
    body: str


def make_body() -> str:
    """A fixed body that makes the stored JSON exactly EVENT_BYTES long."""
    overhead = len(msgspec.json.encode({"type": TYPE_NAME, "body": ""}))
    alphabet = string.ascii_letters + string.digits + " "
    rng = random.Random(20261124)
    return "".join(rng.choice(alphabet) for _ in range(EVENT_BYTES - overhead))


BODY: Final = make_body()


@dataclass(slots=True)
class Counter:
    done: int = 0


@dataclass(frozen=True, slots=True)
class Run:
    events: int
    seconds: float
    commits: int | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass(slots=True)
class Results:
    raw: list[Run] = field(default_factory=list)
    store: list[Run] = field(default_factory=list)
    replay: Run | None = None
    out_of_order: int = 0
    stored_rows: int = 0


# --- progress on stderr --------------------------------------------------------------------


@asynccontextmanager
async def progress(label: str, total: int | None) -> AsyncIterator[Counter]:
    """Yield a counter; a line on stderr shows it every PROGRESS_INTERVAL seconds."""
    counter = Counter()
    start = time.perf_counter()

    def line() -> str:
        elapsed = time.perf_counter() - start
        rate = counter.done / elapsed if elapsed > 0 else 0.0
        of_total = f"/{total:,}" if total is not None else ""
        return f"  {label}: {counter.done:,}{of_total} events, {rate:,.0f}/s, {elapsed:.1f}s"

    async def report() -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            sys.stderr.write("\r" + line().ljust(78))
            sys.stderr.flush()

    reporter = asyncio.create_task(report())
    try:
        yield counter
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
        sys.stderr.write("\r" + line().ljust(78) + "\n")
        sys.stderr.flush()


# --- the measured phases -------------------------------------------------------------------


async def run_concurrently(
    label: str, events: int, concurrency: int, append_one: Callable[[int, int], Awaitable[None]]
) -> float:
    """Spread `events` appends over `concurrency` tasks; return the wall-clock seconds.

    Each task owns one stream and calls ``append_one(task, version)`` with versions 1, 2, ...
    Tasks take the next event from a shared count, so none idles while others still work.
    """
    remaining = events

    async with progress(label, events) as counter:

        async def worker(task: int) -> None:
            nonlocal remaining
            version = 0
            while remaining > 0:
                remaining -= 1
                version += 1
                await append_one(task, version)
                counter.done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(task) for task in range(concurrency)))
        return time.perf_counter() - start


async def bench_raw(pool: asyncpg.Pool[Any], run: str, events: int, concurrency: int) -> Run:
    async def append_one(task: int, version: int) -> None:
        data = msgspec.json.encode({"type": TYPE_NAME, "body": BODY})
        await pool.execute(
            RAW_INSERT_SQL, f"raw-{run}-{task}", version, uuid.uuid4(), TYPE_NAME, data
        )

    seconds = await run_concurrently(f"(a) raw {run}", events, concurrency, append_one)
    return Run(events, seconds)


async def bench_store(store: PostgresEventStore, run: str, events: int, concurrency: int) -> Run:
    async def append_one(task: int, version: int) -> None:
        new = NewEvent(event=BenchEvent(body=BODY), event_id=uuid.uuid4())
        await store.append(f"store-{run}-{task}", [new])

    commits_before = store.commits
    seconds = await run_concurrently(f"(b) store {run}", events, concurrency, append_one)
    return Run(events, seconds, commits=store.commits - commits_before)


async def bench_replay(store: PostgresEventStore) -> tuple[Run, int]:
    """Read the whole feed; return the run and how many events came out of feed order."""
    events = 0
    out_of_order = 0
    position = FEED_START
    async with progress("(c) replay", None) as counter:
        start = time.perf_counter()
        while batch := await store.read_feed(position, REPLAY_BATCH):
            events += len(batch)
            counter.done = events
            for recorded in batch:
                out_of_order += recorded.position <= position
                position = recorded.position
        seconds = time.perf_counter() - start
    return Run(events, seconds), out_of_order


async def bench(url: str, events: int, concurrency: int, warmup: int) -> Results:
    connection = await connect(url, application_name="wazybot-bench")
    try:
        await migrate(connection, load_migrations(default_migrations_dir()))
    finally:
        await connection.close()

    results = Results()
    pool = await create_pool(
        url, min_size=concurrency, max_size=concurrency, application_name="wazybot-bench"
    )
    store = PostgresEventStore(pool, EventCodec([BenchEvent]))
    try:
        await bench_raw(pool, "warmup", warmup, concurrency)
        await bench_store(store, "warmup", warmup, concurrency)
        # a, b, b, a: a steady drift of the machine's speed weighs on both means alike.
        results.raw.append(await bench_raw(pool, "1", events, concurrency))
        results.store.append(await bench_store(store, "1", events, concurrency))
        results.store.append(await bench_store(store, "2", events, concurrency))
        results.raw.append(await bench_raw(pool, "2", events, concurrency))
        results.replay, results.out_of_order = await bench_replay(store)
        results.stored_rows = await pool.fetchval("select count(*) from events")
    finally:
        await store.close()
        await pool.close()
    return results


# --- where the database comes from ---------------------------------------------------------


async def server_facts(url: str) -> dict[str, str]:
    connection = await connect(url, application_name="wazybot-bench")
    try:
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        return {name: str(await connection.fetchval(f"show {name}")) for name in names}
    finally:
        await connection.close()


async def bench_external(
    server_url: str, args: argparse.Namespace
) -> tuple[Results, dict[str, str]]:
    async with scratch_database(server_url) as url:
        facts = await server_facts(url)
        return await bench(url, args.events, args.concurrency, args.warmup), facts


async def bench_embedded(url: str, args: argparse.Namespace) -> tuple[Results, dict[str, str]]:
    facts = await server_facts(url)
    return await bench(url, args.events, args.concurrency, args.warmup), facts


# --- the report ----------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def row(name: str, cells: Sequence[str], target: str = "", result: str = "") -> None:
    print(f"{name:<36}" + "".join(f"{cell:>11}" for cell in cells) + f"   {target:<10}{result}")


def report(results: Results, facts: dict[str, str], args: argparse.Namespace, where: str) -> bool:
    """Print the table; return whether every target was met."""
    assert results.replay is not None
    replay = results.replay
    raw_rate = mean([run.rate for run in results.raw])
    store_rate = mean([run.rate for run in results.store])
    ratio = store_rate / raw_rate
    pair_ratios = [b.rate / a.rate for a, b in zip(results.raw, results.store, strict=True)]
    commits = [run.commits or 0 for run in results.store]
    per_commit = [run.events / max(run.commits or 0, 1) for run in results.store]
    complete = replay.events == results.stored_rows and not results.out_of_order
    ratio_ok = ratio >= TARGET_RATIO
    replay_ok = replay.rate >= TARGET_REPLAY_RATE and complete

    print()
    print(f"WazyBot append benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {where}")
    print(
        f"PostgreSQL {facts['server_version']}: fsync={facts['fsync']}, "
        f"synchronous_commit={facts['synchronous_commit']}, "
        f"wal_sync_method={facts['wal_sync_method']}"
    )
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.events:,} events per run, {args.concurrency} concurrent tasks, "
        f"{EVENT_BYTES}-byte events; runs in the order a1 b1 b2 a2"
    )
    print()
    row("measure", ["run 1", "run 2", "mean"], "target", "result")
    row("-" * 36, ["-" * 9] * 3, "-" * 9, "------")
    row("(a) raw INSERT, events/s", [f"{r.rate:,.0f}" for r in results.raw] + [f"{raw_rate:,.0f}"])
    row(
        "(b) event store append, events/s",
        [f"{r.rate:,.0f}" for r in results.store] + [f"{store_rate:,.0f}"],
    )
    row("    commits (transactions)", [f"{c:,}" for c in commits] + [f"{mean(commits):,.0f}"])
    row("    events per commit", [f"{e:,.1f}" for e in per_commit] + [f"{mean(per_commit):,.1f}"])
    row(
        "(b)/(a)",
        [f"{r:.2f}" for r in pair_ratios] + [f"{ratio:.2f}"],
        f">= {TARGET_RATIO}",
        mark(ratio_ok),
    )
    row(
        f"(c) replay {replay.events:,} events, ev/s",
        ["", "", f"{replay.rate:,.0f}"],
        f">= {TARGET_REPLAY_RATE:,.0f}",
        mark(replay_ok),
    )
    print()
    print("(b)/(a) per run pairs a1 with b1 and a2 with b2; the mean row divides the means.")
    if replay.events != results.stored_rows:
        print(
            f"FAIL: replay read {replay.events:,} events, the table holds {results.stored_rows:,}"
        )
    if results.out_of_order:
        print(f"FAIL: {results.out_of_order:,} events came out of feed order during replay")
    return ratio_ok and replay_ok


# --- entry point ---------------------------------------------------------------------------


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=positive, default=20_000, help="events per run")
    parser.add_argument("--concurrency", type=positive, default=16, help="concurrent tasks")
    parser.add_argument("--warmup", type=positive, default=500, help="uncounted events first")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(production=False, level="warning", stream=sys.stderr)
    server_url = os.environ.get("DATABASE_URL")
    if server_url:
        host = urlsplit(server_url).hostname or "local socket"
        results, facts = asyncio.run(bench_external(server_url, args))
        where = f"DATABASE_URL server on {host}, scratch database"
    else:
        print("starting a fresh embedded PostgreSQL (fsync on) ...", file=sys.stderr)
        with throwaway_server(STATE_DIR, "bench-pgdata") as url:
            results, facts = asyncio.run(bench_embedded(url, args))
        where = "fresh embedded server"
    met = report(results, facts, args, where)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
