"""A command that records events waits until a projection shows them, so what it prints
next (a list, a table) already includes them.

A runner started here does the work when no server runs the projection; otherwise the
server's runner does, and the wait follows the projection's checkpoint, polled because
another process moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.postgres.read_models import PostgresProjection
from application.event_log import FeedPosition
from application.subscriptions import RunnerSettings, SubscriptionRunner
from entrypoints.container import Container, resolve

CHECKPOINT_SQL = "select tx::text as tx, position from subscriber_checkpoints where name = $1"


async def wait_until_applied(
    container: Container,
    projection: PostgresProjection,
    position: FeedPosition,
    timeout: float,
    progress: Callable[[FeedPosition | None], None] = lambda _: None,
) -> bool:
    """True once ``projection`` has applied ``position``; False after ``timeout`` seconds.
    ``progress`` is told the checkpoint at each look."""
    source = await resolve(container.subscription_source())
    runner = SubscriptionRunner(projection, source, RunnerSettings(poll_interval=0.2))
    task = asyncio.create_task(runner.run())
    pool = await resolve(container.pool())
    try:
        async with asyncio.timeout(timeout):
            while True:
                row = await pool.fetchrow(CHECKPOINT_SQL, projection.kind)
                reached = None if row is None else FeedPosition(int(row["tx"]), row["position"])
                progress(reached)
                if reached is not None and reached >= position:
                    return True
                await asyncio.sleep(0.1)
    except TimeoutError:
        return False
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
