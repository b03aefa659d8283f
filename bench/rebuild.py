"""Benchmark: rebuilding each projection from the log, against reading that log raw.

A fresh embedded PostgreSQL (production settings, fsync on) gets a generated log of
realistic conversations: customers' messages, the business's replies known from
their delivery statuses (some failing), and now and then a throttled customer.
Then, alternately:

(r) the raw feed read: the whole log through ``read_feed_on`` in batches, decoding
    every event (what any rebuild has to do at the least);
(p) ``wazybot projections rebuild NAME`` for each projection: the same read, the
    projection's changes written to fresh tables, and the swap.

Each rebuild's rate is compared with the mean of the raw reads just before and just
after it, so a drift in the machine's speed weighs on both alike. The rebuilt tables
are checked against what the live projections wrote while the log was generated.

    .venv/bin/python bench/rebuild.py [--events N] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import asyncpg

from adapters.postgres.connection import connect, create_pool
from adapters.postgres.embedded import throwaway_server
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from adapters.postgres.projection_admin import (
    REBUILD_BATCH,
    PostgresProjectionAdmin,
    RebuildProgress,
)
from adapters.postgres.read_models import PROJECTIONS
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.codec import EventCodec
from application.event_log import ANY, FEED_START, AppendRequest, FeedPosition, NewEvent
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.conversation import (
    CustomerThrottled,
    MessageReceived,
    MessageStatusUpdated,
    conversation_stream,
)
from domain.event_types import EVENT_TYPES
from domain.events import DomainEvent, EventMetadata
from domain.inbound import DeliveryStatus, InboundMessage, TextContent, WhatsAppError
from entrypoints.logging import configure_logging

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STATE_DIR: Final = REPO_ROOT / ".wazybot"
TARGET_SHARE: Final = 0.5
NUMBER: Final = "1122334455667"
BUSINESSES: Final = ("acme", "globex", "initech")
APPEND_CHUNK: Final = 2000
APPENDERS: Final = 4


# --- the generated log ----------------------------------------------------------------------


def customer_turn(turn: int, customers: int, start: datetime) -> tuple[str, list[DomainEvent]]:
    """One customer message and the reply to it, told by its statuses: about 4 events."""
    business = BUSINESSES[turn % len(BUSINESSES)]
    customer = f"4915{turn % customers:09d}"
    asked = start + timedelta(seconds=turn * 7)
    message = InboundMessage(
        phone_number_id=NUMBER, customer_id=customer, wamid=f"wamid.in.{turn}", sent_at=asked,
        type="text", content=TextContent(body=f"Hello, is order {turn} on its way?"),
        customer_name=f"Customer {turn % customers}",
    )  # fmt: skip
    events: list[DomainEvent] = [MessageReceived(business_id=business, message=message)]
    reply = f"wamid.out.{turn}"
    states = ("sent", "failed") if turn % 20 == 0 else ("sent", "delivered", "read")
    for offset, state in enumerate(states, start=1):
        errors = (WhatsAppError(code=131026, title="Message undeliverable"),)
        events.append(MessageStatusUpdated(business_id=business, status=DeliveryStatus(
            phone_number_id=NUMBER, recipient_id=customer, wamid=reply, status=state,
            at=asked + timedelta(seconds=30 * offset), errors=errors if state == "failed" else (),
        )))  # fmt: skip
    if turn % 500 == 0:
        events.append(CustomerThrottled(
            business_id=business, phone_number_id=NUMBER, customer_id=customer, wamid=message.wamid,
            since=asked, until=asked + timedelta(minutes=1), limit_per_minute=20,
        ))  # fmt: skip
    return conversation_stream(NUMBER, customer), events


def requests_for(turns: range, customers: int, start: datetime) -> list[AppendRequest]:
    by_stream: dict[str, list[NewEvent]] = {}
    for turn in turns:
        stream, events = customer_turn(turn, customers, start)
        metadata = EventMetadata(correlation_id=f"wamid.in.{turn}")
        by_stream.setdefault(stream, []).extend(NewEvent(e, uuid.uuid4(), metadata) for e in events)
    return [AppendRequest(stream, tuple(events), ANY) for stream, events in by_stream.items()]


async def generate_log(store: PostgresEventStore, events: int, customers: int) -> int:
    turns = int(events / 3.9) + 1  # a turn averages a little over 3.95 events
    start = datetime.now(UTC) - timedelta(seconds=turns * 7 + 3600)
    chunks = [range(first, min(first + APPEND_CHUNK // 4, turns))
              for first in range(0, turns, APPEND_CHUNK // 4)]  # fmt: skip
    written = 0
    began = time.perf_counter()

    async def appender(mine: Sequence[range]) -> None:
        nonlocal written
        for chunk in mine:
            results = await store.append_atomic(requests_for(chunk, customers, start))
            written += sum(r.appended for r in results)
            rate = written / (time.perf_counter() - began)
            print(f"\r  generating the log: {written:,} events, {rate:,.0f}/s ",
                  end="", file=sys.stderr, flush=True)  # fmt: skip

    await asyncio.gather(*(appender(chunks[i::APPENDERS]) for i in range(APPENDERS)))
    print(file=sys.stderr)
    return written


# --- measurements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class Results:
    log_events: int = 0
    # Per projection and round: (the rebuild, the mean raw-read rate just before and after it).
    rounds: dict[str, list[tuple[Run, float]]] = field(default_factory=dict)
    raw: list[Run] = field(default_factory=list)
    identical: dict[str, bool] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)


async def raw_read(dsn: str, store: PostgresEventStore) -> Run:
    connection = await connect(dsn, application_name="bench raw read")
    try:
        position, events = FEED_START, 0
        began = time.perf_counter()
        while batch := await store.read_feed_on(connection, position, REBUILD_BATCH):
            events += len(batch)
            position = batch[-1].position
        return Run(events, time.perf_counter() - began)
    finally:
        await connection.close()


async def rebuild(admin: PostgresProjectionAdmin, name: str) -> Run:
    async def show(progress: RebuildProgress) -> None:
        rate = progress.handled / progress.elapsed if progress.elapsed else 0
        print(f"\r  rebuilding {name}: {progress.handled:,}/{progress.total:,}, {rate:,.0f}/s ",
              end="", file=sys.stderr, flush=True)  # fmt: skip

    done = await admin.rebuild(name, show)
    print(file=sys.stderr)
    return Run(done.handled, done.elapsed)


async def table_snapshot(pool: asyncpg.Pool[Any], tables: Sequence[str]) -> list[list[str]]:
    async with pool.acquire() as connection:
        snapshot = []
        for table in tables:
            rows = await connection.fetch(f"select * from {table}")
            # Identity ids count inserts, rolled-back ones included: not part of a row's meaning.
            snapshot.append(sorted(repr([v for k, v in r.items() if k != "id"]) for r in rows))
        return snapshot


async def project_live(dsn: str, store: PostgresEventStore) -> None:
    """The projections as a server runs them, following the log to its end."""
    source = PostgresSubscriptionSource(dsn, store)
    runners = [
        SubscriptionRunner(p(), source, RunnerSettings(batch_size=2000)) for p in PROJECTIONS
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    connection = await connect(dsn, application_name="bench")
    try:
        row = await connection.fetchrow(
            "select tx::text as tx, global_position from events"
            " order by tx desc, global_position desc limit 1"
        )
        assert row is not None
        head = FeedPosition(int(row["tx"]), row["global_position"])
        for runner in runners:
            await runner.wait_for_checkpoint(head)
    finally:
        await connection.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def bench(dsn: str, events: int, customers: int, rounds: int) -> Results:
    connection = await connect(dsn, application_name="bench")
    try:
        await migrate(connection, load_migrations(default_migrations_dir()))
        names = ("server_version", "fsync", "synchronous_commit")
        facts = {name: str(await connection.fetchval(f"show {name}")) for name in names}
    finally:
        await connection.close()
    pool = await create_pool(dsn, min_size=2, max_size=8, application_name="bench")
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    results = Results(facts=facts)
    try:
        results.log_events = await generate_log(store, events, customers)
        print("  projecting the log live ...", file=sys.stderr)
        await project_live(dsn, store)
        admin = PostgresProjectionAdmin(dsn, store)
        results.raw.append(await raw_read(dsn, store))
        for _ in range(rounds):
            for projection in PROJECTIONS:
                name, tables = projection.kind, projection.tables
                live = await table_snapshot(pool, tables)
                run = await rebuild(admin, name)
                same = await table_snapshot(pool, tables) == live
                results.identical[name] = results.identical.get(name, True) and same
                results.raw.append(await raw_read(dsn, store))
                around = (results.raw[-2].rate + results.raw[-1].rate) / 2
                results.rounds.setdefault(name, []).append((run, around))
    finally:
        await store.close()
        await pool.close()
    return results


# --- the report ------------------------------------------------------------------------------


def report(results: Results, args: argparse.Namespace) -> bool:
    print(f"\nWazyBot projection rebuild benchmark, {datetime.now():%Y-%m-%d %H:%M}")
    facts = results.facts
    print(
        f"fresh embedded PostgreSQL {facts.get('server_version', '?')}: fsync={facts.get('fsync')},"
        f" synchronous_commit={facts.get('synchronous_commit')}; Python"
        f" {platform.python_version()}; log of {results.log_events:,} events"
        f" ({args.customers:,} customers, {len(BUSINESSES)} businesses);"
        f" batches of {REBUILD_BATCH:,} events\n"
    )
    print("raw feed reads, events/s: " + ", ".join(f"{r.rate:,.0f}" for r in results.raw))
    header = ("projection", "events", "events/s", "raw read/s", "shares", "median", "target",
              "same rows", "result")  # fmt: skip
    print("  ".join(f"{h:>12}" for h in header))
    met = True
    for name, rounds in results.rounds.items():
        shares = [run.rate / raw for run, raw in rounds]
        share = statistics.median(shares)
        same = results.identical[name]
        complete = all(run.events == results.log_events for run, _ in rounds)
        passed = share >= TARGET_SHARE and same and complete
        met = met and passed
        cells = (
            name, f"{rounds[0][0].events:,}",
            f"{statistics.median(run.rate for run, _ in rounds):,.0f}",
            f"{statistics.median(raw for _, raw in rounds):,.0f}",
            " ".join(f"{s:.2f}" for s in shares), f"{share:.2f}", f">= {TARGET_SHARE}",
            "yes" if same else "NO", "PASS" if passed else "FAIL",
        )  # fmt: skip
        print("  ".join(f"{c:>12}" for c in cells))
    print(
        "\nshare = a rebuild's events/s over the mean of the raw reads just before and after it,"
        " one per round; the median share is checked. same rows = the swapped-in tables equal"
        " what the live projections wrote."
    )
    return met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000, help="events in the log")
    parser.add_argument("--customers", type=int, default=5_000, help="customers writing")
    parser.add_argument("--rounds", type=int, default=3, help="rebuilds of each projection")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.events < 1000 or args.customers < 1 or args.rounds < 1:
        parser.error("--events must be at least 1000, --customers and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(production=False, level="warning", stream=sys.stderr)
    print("starting a fresh embedded PostgreSQL (fsync on) ...", file=sys.stderr)
    with throwaway_server(STATE_DIR, "bench-rebuild-pgdata") as dsn:
        results = asyncio.run(bench(dsn, args.events, args.customers, args.rounds))
    met = report(results, args)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
