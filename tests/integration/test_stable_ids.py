"""Opaque conversation ids and page cursors survive a rebuild of the read models."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from adapters.postgres.connection import connect
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from adapters.postgres.projection_admin import PostgresProjectionAdmin
from adapters.postgres.read_model_queries import PostgresReadModelQueries
from application.read_models import ConversationFilter
from domain.conversation import conversation_stream
from domain.public_ids import conversation_public_id, message_public_id
from tests.support.read_models import projected
from tests.support.webhooks import PHONE_NUMBER_ID, messages_change, status, text_message, webhook

T0 = int(time.time()) - 3600
NO_FILTER = ConversationFilter(None, None)


def traffic() -> list[dict[str, Any]]:
    """Nine customers; customer 0 writes 9 messages, two of them in the same second."""
    bodies = [
        webhook(messages_change([text_message(f"hi {n}", customer=f"155500000{n}",
                                              wamid=f"wamid.c{n}", sent_at=T0 + 10 * n)]))
        for n in range(1, 9)
    ]  # fmt: skip
    bodies += [
        webhook(messages_change([text_message(f"m{n}", customer="1555000000",
                                              wamid=f"wamid.m{n}", sent_at=T0 + n // 2)]))
        for n in range(9)
    ]  # fmt: skip
    reply = status("wamid.out", "delivered", recipient="1555000000", at=T0 + 2)
    bodies.append(webhook(messages_change([], [reply])))
    return bodies


async def test_conversations_are_shown_by_opaque_ids_only(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(*traffic())
        await app.caught_up()
    queries = PostgresReadModelQueries(pool)

    page = await queries.conversations("acme", NO_FILTER, 50, None)

    for conversation in page.items:
        assert conversation.customer_id not in conversation.id
        stream = conversation_stream(PHONE_NUMBER_ID, conversation.customer_id)
        assert conversation.id == conversation_public_id("acme", stream)
        assert await queries.conversation("acme", conversation.id) == conversation
        assert await queries.conversation("acme", stream) is None  # the stream id is no id
        assert await queries.conversation("globex", conversation.id) is None
    timeline = await queries.messages("acme", page.items[-1].id, 50, None)
    assert timeline is not None
    assert [m.id for m in timeline.items] == [
        message_public_id("acme", m.wamid) for m in timeline.items
    ]


async def test_a_cursor_issued_before_a_rebuild_pages_on_after_it(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    queries = PostgresReadModelQueries(pool)
    async with pool.acquire() as connection:  # the live ids differ from a fresh table's
        await connection.execute("select setval(pg_get_serial_sequence('messages', 'id'), 5000)")
    async with projected(pool, database_url) as app:
        await app.deliver(*traffic())
        await app.caught_up()
        everyone = await queries.conversations("acme", NO_FILTER, 50, None)
        chat = next(c.id for c in everyone.items if c.customer_id == "1555000000")
        whole = await queries.messages("acme", chat, 50, None)
        first = await queries.messages("acme", chat, 4, None)
        people = await queries.conversations("acme", NO_FILTER, 4, None)
        admin = PostgresProjectionAdmin(database_url, app.store)
        for name in ("conversations", "messages"):
            await admin.rebuild(name)

        rest = await queries.messages("acme", chat, 50, first.next_cursor)  # type: ignore[union-attr]
        more_people = await queries.conversations("acme", NO_FILTER, 50, people.next_cursor)

    assert whole is not None
    assert first is not None
    assert rest is not None
    assert len(whole.items) == 10
    assert [m.id for m in first.items + rest.items] == [m.id for m in whole.items]
    assert [c.id for c in people.items + more_people.items] == [c.id for c in everyone.items]


async def test_migration_0006_gives_existing_conversations_the_ids_the_code_computes(
    empty_database_url: str,
) -> None:
    migrations = load_migrations(default_migrations_dir())
    connection = await connect(empty_database_url)
    try:
        await migrate(connection, [m for m in migrations if m.version < 6])
        stream = conversation_stream(PHONE_NUMBER_ID, "15550001111")
        await connection.execute(
            "insert into conversations (business_id, id, phone_number_id, customer_id,"
            " last_activity_at) values ('acme', $1, $2, '15550001111', now())",
            stream, PHONE_NUMBER_ID,
        )  # fmt: skip
        await migrate(connection, migrations)
        stored = await connection.fetchval("select public_id from conversations")
    finally:
        await connection.close()

    assert stored == conversation_public_id("acme", stream)
