"""A subscriber runner in a process of its own, for the fail-over test.

Usage: python -m tests.support.subscriber_process DATABASE_URL
"""

from __future__ import annotations

import asyncio
import os
import sys

from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.subscriptions import RunnerSettings, SubscriptionRunner
from tests.support.events import TEST_CODEC
from tests.support.subscribers import TableSubscriber


async def main(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=2)
    store = PostgresEventStore(pool, TEST_CODEC)
    owner = f"process-{os.getpid()}"
    source = PostgresSubscriptionSource(database_url, store, owner=owner)
    runner = SubscriptionRunner(TableSubscriber(owner), source, RunnerSettings(poll_interval=0.2))
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
