"""Ingest webhook bodies into a real event store and run the real projections over them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from adapters.memory.businesses import InMemoryBusinessDirectory
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.read_models import PROJECTIONS, PostgresProjection
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from adapters.whatsapp.webhook import parse_webhook
from application.businesses import Business
from application.codec import EventCodec
from application.event_log import FeedPosition
from application.subscriptions import RunnerSettings, SubscriptionRunner
from application.webhook_ingest import WebhookIngestor
from domain.event_types import EVENT_TYPES
from tests.support.webhooks import ACCOUNT_ID, PHONE_NUMBER_ID, encode

CODEC = EventCodec(EVENT_TYPES)
ACME = Business(id="acme", name="Acme", phone_number_ids=(PHONE_NUMBER_ID,), account_id=ACCOUNT_ID)
OTHER_NUMBER = "2233445566778"
GLOBEX = Business(id="globex", name="Globex", phone_number_ids=(OTHER_NUMBER,))
FAST = RunnerSettings(poll_interval=0.05, retry_delay=0.01, batch_size=500)


async def feed_head(pool: asyncpg.Pool[Any]) -> FeedPosition | None:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "select tx::text as tx, global_position from events"
            " order by tx desc, global_position desc limit 1"
        )
    return None if row is None else FeedPosition(int(row["tx"]), row["global_position"])


@dataclass
class Projected:
    """The webhook's write path plus live projections, all against one real database."""

    pool: asyncpg.Pool[Any]
    store: PostgresEventStore
    ingestor: WebhookIngestor
    runners: list[SubscriptionRunner[Any]] = field(default_factory=list)

    async def deliver(self, *bodies: dict[str, Any]) -> None:
        for n, body in enumerate(bodies):
            updates = parse_webhook(encode(body), datetime.now(UTC))
            await self.ingestor.ingest(updates, f"delivery-{n}")

    async def caught_up(self) -> None:
        head = await feed_head(self.pool)
        if head is None:
            return
        async with asyncio.timeout(20):
            for runner in self.runners:
                await runner.wait_for_checkpoint(head)

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(sql, *args)]


@contextlib.asynccontextmanager
async def projected(
    pool: asyncpg.Pool[Any],
    database_url: str,
    projections: Sequence[PostgresProjection] | None = None,
    settings: RunnerSettings = FAST,
) -> AsyncIterator[Projected]:
    store = PostgresEventStore(pool, CODEC)
    source = PostgresSubscriptionSource(database_url, store)
    chosen = list(projections) if projections is not None else [p() for p in PROJECTIONS]
    runners = [SubscriptionRunner(p, source, settings) for p in chosen]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME, GLOBEX]))
    try:
        yield Projected(pool, store, ingestor, runners)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
