"""Projections insert idempotently: a batch replayed over its own rows changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.read_models import PROJECTIONS, ErrorsProjection, MessagesProjection
from application.event_log import FEED_START
from tests.support.read_model_tables import table_rows
from tests.support.read_models import CODEC, projected
from tests.support.webhooks import messages_change, status, text_message, webhook

T0 = 1_700_000_000


def traffic() -> list[dict[str, Any]]:
    failed = status("wamid.out-3", "failed", recipient="15550000003", at=T0 + 40)
    failed["errors"] = [{"code": 131047, "title": "Re-engagement message", "message": "x"}]
    return [
        webhook(
            messages_change(
                [
                    text_message(
                        f"m{n}", customer=f"1555000000{n}", wamid=f"wamid.in-{n}", sent_at=T0 + n
                    )
                    for n in range(4)
                ],
                [
                    status(
                        f"wamid.out-{n}", "delivered", recipient=f"1555000000{n}", at=T0 + 30 + n
                    )
                    for n in range(3)
                ],
            )
        ),
        webhook(
            messages_change(
                [], [failed, status("wamid.out-0", "read", at=T0 + 50, recipient="15550000000")]
            )
        ),
    ]


async def replay_everything(pool: asyncpg.Pool[Any], projection: Any) -> None:
    store = PostgresEventStore(pool, CODEC)
    async with pool.acquire() as connection:
        events = await store.read_feed_on(connection, FEED_START, 1000)
        async with connection.transaction():
            await projection.handle(connection, events)


@pytest.mark.parametrize("projection", [MessagesProjection, ErrorsProjection])
async def test_replaying_a_batch_over_its_rows_changes_nothing(
    pool: asyncpg.Pool[Any], database_url: str, projection: Any
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*traffic())
        await app.caught_up()
    (table,) = projection.tables
    before = await table_rows(pool, "public", table)
    assert before  # the traffic wrote rows to replay over

    await replay_everything(pool, projection())

    assert await table_rows(pool, "public", table) == before


@pytest.mark.parametrize("projection", PROJECTIONS, ids=[p.kind for p in PROJECTIONS])
async def test_no_projection_crashes_on_rows_already_present(
    pool: asyncpg.Pool[Any], database_url: str, projection: Any
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*traffic())
        await app.caught_up()

    await replay_everything(pool, projection())  # raises nothing


async def test_a_message_replayed_over_its_placeholder_takes_its_place(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    """E.g. a parked message replayed after statuses about the same wamid made a placeholder."""
    async with projected(pool, database_url, [MessagesProjection()]) as app:
        await app.deliver(
            webhook(
                messages_change(
                    [], [status("wamid.x", "read", recipient="15550000001", at=T0 + 90)]
                )
            ),
        )
        await app.caught_up()
        async with pool.acquire() as connection:
            await connection.execute(
                "update messages set direction = 'outbound' where wamid = 'wamid.x'"
            )
        await app.deliver(
            webhook(
                messages_change(
                    [text_message("hello", customer="15550000001", wamid="wamid.x", sent_at=T0)]
                )
            ),
        )
        await app.caught_up()
        (row,) = await app.rows("select * from messages")

    assert (row["direction"], row["type"], row["summary"]) == ("inbound", "text", "hello")
    assert row["status"] == "read"
