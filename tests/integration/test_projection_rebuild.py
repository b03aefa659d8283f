"""Rebuilding projections from the log on real PostgreSQL: same rows, atomic swap, one at a time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from adapters.postgres.projection_admin import (
    PostgresProjectionAdmin,
    RebuildError,
    RebuildProgress,
    RebuildRefusedError,
)
from adapters.postgres.read_models import PROJECTIONS
from tests.support.read_model_tables import read_models, replayed_read_models
from tests.support.read_models import Projected, projected
from tests.support.webhooks import messages_change, status, text_message, webhook

T0 = int(time.time()) - 3600


def conversation_traffic(first: int, count: int) -> list[dict[str, Any]]:
    """Messages from a dozen customers, replies known from their statuses, some failures."""
    bodies = []
    for n in range(first, first + count):
        customer = f"1555100{n % 12:04d}"
        bodies.append(webhook(messages_change(
            [text_message(f"message {n}", customer=customer, sent_at=T0 + n)],
            statuses=[status(f"wamid.reply-{n}", "sent", recipient=customer, at=T0 + n + 1),
                      status(f"wamid.reply-{n}", "delivered" if n % 5 else "failed",
                             recipient=customer, at=T0 + n + 2)],
        )))  # fmt: skip
    return bodies


def admin(app: Projected, database_url: str) -> PostgresProjectionAdmin:
    return PostgresProjectionAdmin(database_url, app.store)


async def test_a_rebuild_produces_exactly_the_live_rows(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*conversation_traffic(0, 60))
        await app.caught_up()
        live = await read_models(pool)
        reports: list[RebuildProgress] = []

        async def record(progress: RebuildProgress) -> None:
            reports.append(progress)

        for projection in PROJECTIONS:
            await admin(app, database_url).rebuild(projection.kind, record, batch=50)
        rebuilt = await read_models(pool)

    assert rebuilt == live
    assert all(live[table] for table in ("conversations", "messages", "errors", "metrics_hourly"))
    done = [r for r in reports if r.swapped]
    assert [r.projection for r in done] == [p.kind for p in PROJECTIONS]
    assert all(r.handled == r.total > 0 for r in done)
    assert any(not r.swapped and 0 < r.handled < r.total for r in reports)  # progress on the way


async def test_events_written_during_a_rebuild_end_up_in_the_swapped_tables(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*conversation_traffic(0, 40))
        await app.caught_up()
        delivered_during = False

        async def deliver_more(progress: RebuildProgress) -> None:
            nonlocal delivered_during
            if not delivered_during:
                delivered_during = True
                await app.deliver(*conversation_traffic(40, 30))

        for projection in PROJECTIONS:
            delivered_during = False
            await admin(app, database_url).rebuild(projection.kind, deliver_more, batch=20)
        await app.deliver(*conversation_traffic(200, 5))  # and the live runners carry on
        await app.caught_up()
        rebuilt = await read_models(pool)

    assert rebuilt == await replayed_read_models(pool, database_url)
    # Inbound messages get fresh wamids on every call; the replies' wamids repeat.
    inbound, replies = 40 + len(PROJECTIONS) * 30 + 5, 40 + 30 + 5
    assert len(rebuilt["messages"]) == inbound + replies


async def test_a_second_rebuild_of_the_same_projection_is_refused(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*conversation_traffic(0, 30))
        await app.caught_up()
        started, release = asyncio.Event(), asyncio.Event()

        async def hold(progress: RebuildProgress) -> None:
            if not progress.swapped:
                started.set()
                await release.wait()

        first = asyncio.create_task(admin(app, database_url).rebuild("messages", hold, batch=10))
        await asyncio.wait_for(started.wait(), 10)
        statuses = {s.name: s for s in await admin(app, database_url).status()}
        with pytest.raises(RebuildRefusedError, match="already running"):
            await admin(app, database_url).rebuild("messages")
        await admin(app, database_url).rebuild("errors")  # another projection may rebuild
        release.set()
        await asyncio.wait_for(first, 20)
        after = {s.name: s for s in await admin(app, database_url).status()}

    assert statuses["messages"].rebuilding is True
    assert statuses["conversations"].rebuilding is False
    assert after["messages"].rebuilding is False


async def test_a_rebuild_keeps_the_live_index_names(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async def indexes() -> list[str]:
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "select indexname from pg_indexes where schemaname = 'public'"
                " and tablename = any($1::text[]) order by 1",
                [t for p in PROJECTIONS for t in p.tables],
            )
        return [r["indexname"] for r in rows]

    before = await indexes()
    async with projected(pool, database_url) as app:
        await app.deliver(*conversation_traffic(0, 5))
        await app.caught_up()
        for projection in PROJECTIONS:
            await admin(app, database_url).rebuild(projection.kind)
    assert await indexes() == before
    assert "conversations_business_activity_idx" in before


async def test_status_shows_checkpoints_and_how_far_behind_each_projection_is(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url, []) as app:  # no runner follows the log
        await app.deliver(*conversation_traffic(0, 10))
        statuses = await admin(app, database_url).status()

    assert [s.name for s in statuses] == [p.kind for p in PROJECTIONS]
    # Each delivery holds a message and two statuses, and links its new customer's number.
    assert all(s.position is None and s.behind == 40 for s in statuses)


async def test_an_unknown_projection_is_refused_before_anything_changes(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url, []) as app:
        with pytest.raises(KeyError, match="no projection named 'nope'"):
            await admin(app, database_url).rebuild("nope")


async def test_a_swap_waits_for_busy_live_tables_and_gives_up_without_changing_them(
    pool: asyncpg.Pool[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapters.postgres.projection_admin as admin_module

    monkeypatch.setattr(admin_module, "SWAP_LOCK_WAIT_MS", 50)
    monkeypatch.setattr(admin_module, "SWAP_ATTEMPTS", 3)
    async with projected(pool, database_url) as app:
        await app.deliver(*conversation_traffic(0, 20))
        await app.caught_up()
        live = await read_models(pool)
        blocker = await asyncpg.connect(database_url)
        try:
            # A long reader (say, a slow dashboard query) holds a live table.
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("lock table metrics_hourly in access share mode")
            with pytest.raises(RebuildError, match="could not lock the live tables"):
                await admin(app, database_url).rebuild("metrics")
            assert await read_models(pool) == live

            releases: list[asyncio.Task[None]] = []

            async def release_soon(progress: RebuildProgress) -> None:
                """Once the replay is done the swap starts: let it wait a moment, then free it."""
                if progress.handled == progress.total and not progress.swapped and not releases:
                    releases.append(asyncio.create_task(_rollback_after(transaction, 0.2)))

            monkeypatch.setattr(admin_module, "SWAP_ATTEMPTS", 100)
            done = await admin(app, database_url).rebuild("metrics", release_soon)
        finally:
            await blocker.close()
        schemas = await app.rows("select nspname from pg_namespace where nspname like 'rebuild_%'")

    assert done.swapped
    assert await read_models(pool) == live
    assert schemas == []


async def _rollback_after(transaction: Any, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await transaction.rollback()
