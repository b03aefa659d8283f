"""The live-updates watcher's feed, the same behaviour in memory and on PostgreSQL: checkpoint
moves wake it, it reads the events up to them, and it tells open sessions from ended ones."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adapters.memory.progress_feed import InMemoryProgressFeed
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.live_feed import PostgresProgressFeed
from application.event_log import FeedPosition, RecordedEvent
from application.live_updates import ProgressFeed
from tests.support.events import TEST_CODEC, noted

ENV_TOKEN = "environment-token-for-the-feed-test"


@dataclass
class World:
    feed: ProgressFeed
    add_event: Callable[[], Awaitable[FeedPosition]]
    move: Callable[[str, FeedPosition], Awaitable[None]]
    open_session: Callable[[bytes, bool], Awaitable[None]]  # key, already expired
    close_session: Callable[[bytes], Awaitable[None]]
    # A session opened with a stored token, and that token's revocation.
    open_token_session: Callable[[bytes], Awaitable[None]]
    revoke_token: Callable[[], Awaitable[None]]


@pytest.fixture(params=["memory", "postgres"])
async def world(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[World]:
    if request.param == "memory":
        yield _memory_world()
        return
    pool: asyncpg.Pool[Any] = await create_pool(database_url, min_size=1, max_size=2)
    store = PostgresEventStore(pool, TEST_CODEC)
    feed = PostgresProgressFeed(database_url, store, ENV_TOKEN)

    async def add_event() -> FeedPosition:
        result = await store.append("items-1", [noted()])
        assert result.last_position is not None
        return result.last_position

    async def move(name: str, to: FeedPosition) -> None:
        # As a runner does: its row exists from its first start, then moves.
        await pool.execute(
            "insert into subscriber_checkpoints (name) values ($1) on conflict do nothing", name
        )
        await pool.execute(
            "update subscriber_checkpoints set tx = $2::text::xid8, position = $3 where name = $1",
            name, str(to.tx), to.position,
        )  # fmt: skip

    async def open_session(key: bytes, expired: bool) -> None:
        expires = datetime.now(UTC) + (timedelta(hours=-1) if expired else timedelta(hours=1))
        await pool.execute(
            "insert into dashboard_sessions (id_sha256, business_id, token_sha256, csrf_token,"
            " expires_at) values ($1, 'default', $2, 'csrf', $3)",
            key, hashlib.sha256(ENV_TOKEN.encode()).digest(), expires,
        )  # fmt: skip

    async def close_session(key: bytes) -> None:
        await pool.execute("delete from dashboard_sessions where id_sha256 = $1", key)

    stored = hashlib.sha256(b"a stored token").digest()

    async def open_token_session(key: bytes) -> None:
        await pool.execute(
            "insert into api_tokens (id, business_id, token_sha256) values ('wzb_t1', 'acme', $1)"
            " on conflict do nothing",
            stored,
        )
        await pool.execute(
            "insert into dashboard_sessions (id_sha256, business_id, token_sha256, csrf_token,"
            " expires_at) values ($1, 'acme', $2, 'csrf', now() + interval '1 hour')",
            key, stored,
        )  # fmt: skip

    async def revoke_token() -> None:
        await pool.execute("update api_tokens set revoked_at = now() where id = 'wzb_t1'")

    await feed.open()
    try:
        yield World(feed, add_event, move, open_session, close_session, open_token_session,
                    revoke_token)  # fmt: skip
    finally:
        await feed.close()
        await pool.close()


def _memory_world() -> World:
    feed = InMemoryProgressFeed()
    counter = [0]

    async def add_event() -> FeedPosition:
        counter[0] += 1
        position = FeedPosition(1, counter[0])
        feed.add(RecordedEvent("items-1", counter[0], position, noted().event_id, "test",
                               noted().event, noted().metadata, datetime.now(UTC)))  # fmt: skip
        return position

    async def move(name: str, to: FeedPosition) -> None:
        feed.move(name, to)

    async def open_session(key: bytes, expired: bool) -> None:
        if not expired:
            feed.sessions.add(key)

    async def close_session(key: bytes) -> None:
        feed.close_session(key)

    token_sessions: set[bytes] = set()

    async def open_token_session(key: bytes) -> None:
        feed.sessions.add(key)
        token_sessions.add(key)

    async def revoke_token() -> None:
        for key in token_sessions:
            feed.close_session(key)

    world = World(feed, add_event, move, open_session, close_session, open_token_session,
                  revoke_token)  # fmt: skip
    feed.open_now = True
    feed.opened = 1
    return world


async def test_a_moved_checkpoint_wakes_the_feed_and_its_events_are_readable(world: World) -> None:
    first = await world.add_event()
    second = await world.add_event()
    await world.move("conversations", second)
    woke = await world.feed.wait(5)
    assert "progress" in woke
    positions = await world.feed.checkpoints(["conversations", "messages"])
    assert positions == {"conversations": second}
    events = await world.feed.read_feed(FeedPosition(0, 0), 10)
    assert [e.position for e in events][-2:] == [first, second]
    assert [e.position for e in await world.feed.read_feed(first, 10)] == [second]


async def test_without_any_change_the_wait_times_out_empty(world: World) -> None:
    assert await world.feed.wait(0.05) == frozenset()


async def test_only_open_unexpired_sessions_are_live_and_a_closed_one_wakes_the_feed(
    world: World,
) -> None:
    await world.open_session(b"a" * 32, False)
    await world.open_session(b"b" * 32, False)
    await world.open_session(b"c" * 32, True)
    assert await world.feed.live_sessions([b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32]) == {
        b"a" * 32, b"b" * 32,
    }  # fmt: skip
    await world.close_session(b"a" * 32)
    woke: frozenset[str] = frozenset()
    for _ in range(3):  # a sign-in's sweep may wake it first; the close does within 5 s
        woke |= await world.feed.wait(5)
        if "sessions" in woke:
            break
    assert "sessions" in woke
    assert await world.feed.live_sessions([b"a" * 32, b"b" * 32]) == {b"b" * 32}


async def test_revoking_a_token_wakes_the_feed_and_its_sessions_are_no_longer_live(
    world: World,
) -> None:
    await world.open_token_session(b"t" * 32)
    await world.open_session(b"e" * 32, False)
    assert await world.feed.live_sessions([b"t" * 32, b"e" * 32]) == {b"t" * 32, b"e" * 32}
    await world.feed.wait(0.05)  # whatever the inserts woke
    await world.revoke_token()
    assert "sessions" in await world.feed.wait(5)
    assert await world.feed.live_sessions([b"t" * 32, b"e" * 32]) == {b"e" * 32}
