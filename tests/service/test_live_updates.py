"""Live updates: a page hears of a change once every read model it reads holds it, for its own
business only, and its stream ends with its session; one watcher serves every page."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from adapters.memory.progress_feed import InMemoryProgressFeed
from application.event_log import FeedPosition, RecordedEvent
from application.live_updates import (
    CONVERSATIONS,
    ERRORS,
    EVERYTHING,
    METRICS,
    ORDERS,
    LiveHub,
    LiveSettings,
    LiveSubscription,
    conversation_topic,
    merged_windows,
)
from domain.events import EventMetadata
from domain.outbox import OutboundMessageDeadLettered
from domain.public_ids import conversation_public_id

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
CHAT = "conversation-555000000000101-33612345678"
ORDER = "order-acme-o0123456789abcdef0123"
FAST = LiveSettings(poll_seconds=0.05, session_check_seconds=0.05, reconnect_seconds=0.01)


def recorded(position: int, stream: str, business_id: str = "acme") -> RecordedEvent:
    event = OutboundMessageDeadLettered(message_id=str(uuid.uuid4()), attempts=8,
                                        reason="out of attempts", at=NOW,
                                        business_id=business_id)  # fmt: skip
    return RecordedEvent(stream_id=stream, version=position, position=FeedPosition(1, position),
                         event_id=uuid.uuid4(), type="outbound.dead_lettered", event=event,
                         metadata=EventMetadata(), recorded_at=NOW)  # fmt: skip


def at(position: int) -> FeedPosition:
    return FeedPosition(1, position)


def start_feed(feed: InMemoryProgressFeed | None = None) -> InMemoryProgressFeed:
    feed = feed or InMemoryProgressFeed()
    for name in ("conversations", "messages", "metrics", "errors", "orders"):
        feed.positions[name] = at(0)
    feed.sessions = {b"acme-session", b"globex-session"}
    return feed


async def topics(subscription: LiveSubscription, wanted: set[str]) -> set[str]:
    """What the subscription hears until it heard ``wanted`` (bounded)."""
    heard: set[str] = set()
    async with asyncio.timeout(5):
        while not wanted <= heard:
            assert not subscription.ended, f"the stream ended, having heard {heard}"
            heard.update(await subscription.next(0.05))
    return heard


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for what the watcher does in its own task."""
    deadline = asyncio.get_running_loop().time() + 5
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not seen in 5 s"
        await asyncio.sleep(0.01)


async def test_a_change_is_heard_once_every_projection_holds_it_by_its_business_only() -> None:
    feed = start_feed()
    hub = LiveHub(lambda: feed, FAST)
    acme = hub.subscribe("acme", b"acme-session")
    globex = hub.subscribe("globex", b"globex-session")
    await until(lambda: hub.looks > 0, "the watcher's first look")
    assert await acme.next(0) == [EVERYTHING]  # every stream starts with a refresh
    assert await globex.next(0) == [EVERYTHING]
    feed.add(recorded(1, CHAT), recorded(2, ORDER))
    feed.move("conversations", at(2))
    feed.move("errors", at(2))
    looks = hub.looks
    await until(lambda: hub.looks > looks + 1, "two more looks")
    assert acme.pending == {ERRORS}  # the timeline's messages projection is not there yet

    feed.move("messages", at(2))
    feed.move("orders", at(2))
    feed.move("metrics", at(2))
    chat = conversation_topic(conversation_public_id("acme", CHAT))
    heard = await topics(acme, {chat, CONVERSATIONS, ORDERS, METRICS, ERRORS})
    assert heard == {chat, CONVERSATIONS, ORDERS, METRICS, ERRORS}
    assert globex.pending == set()
    await hub.close()
    assert acme.ended
    assert globex.ended


async def test_an_ended_session_ends_its_stream_and_the_last_leaving_stops_the_watcher() -> None:
    feed = start_feed()
    hub = LiveHub(lambda: feed, FAST)
    acme = hub.subscribe("acme", b"acme-session")
    globex = hub.subscribe("globex", b"globex-session")
    await until(lambda: hub.looks > 0, "the watcher's first look")
    assert feed.opened == 1  # one connection for every page

    feed.close_session(b"acme-session")
    await until(lambda: acme.ended, "the signed-out stream's end")
    assert not globex.ended

    hub.unsubscribe(globex)
    await until(lambda: not hub.watching, "the watcher stopping")
    assert not feed.open_now
    again = hub.subscribe("globex", b"globex-session")
    await until(lambda: feed.opened == 2, "a new watcher for a new page")
    assert not again.ended
    await hub.close()


async def test_a_lost_connection_is_reopened_and_every_page_told_to_refresh() -> None:
    feed = start_feed()
    hub = LiveHub(lambda: feed, FAST)
    acme = hub.subscribe("acme", b"acme-session")
    await until(lambda: hub.looks > 0, "the watcher's first look")
    assert await acme.next(0) == [EVERYTHING]
    feed.lose()
    assert await topics(acme, {EVERYTHING}) == {EVERYTHING}
    assert feed.opened == 2
    feed.add(recorded(3, ORDER))
    feed.move("orders", at(3))
    feed.move("conversations", at(3))
    assert ORDERS in await topics(acme, {ORDERS})
    await hub.close()


async def test_a_stream_of_a_closed_hub_ends_at_once() -> None:
    hub = LiveHub(start_feed, FAST)
    await hub.close()
    late = hub.subscribe("acme", b"acme-session")
    assert late.ended
    assert await late.next(5) == []


def test_overlapping_windows_are_read_once_and_a_lagging_lane_alone() -> None:
    assert merged_windows([(at(5), at(9)), (at(0), at(6)), (at(20), at(30))]) == [
        (at(0), at(9)), (at(20), at(30)),
    ]  # fmt: skip


async def test_a_lane_far_behind_does_not_make_the_others_refresh() -> None:
    feed = start_feed()
    # Metrics replays a long backlog while the others are far ahead of it.
    for name in ("conversations", "messages", "orders", "errors"):
        feed.positions[name] = at(10_000)
    feed.add(*(recorded(p, "catalog-acme") for p in range(3, 9_000)))
    hub = LiveHub(lambda: feed, FAST)
    acme = hub.subscribe("acme", b"acme-session")
    await until(lambda: hub.looks > 0, "the watcher's first look")
    assert await acme.next(0) == [EVERYTHING]
    feed.add(recorded(2, ORDER), recorded(10_001, ORDER), recorded(10_002, CHAT))
    feed.move("metrics", at(2))
    for name in ("conversations", "messages", "orders", "errors"):
        feed.move(name, at(10_002))
    heard = await topics(acme, {ORDERS, CONVERSATIONS, METRICS})
    assert EVERYTHING not in heard
    await hub.close()


class GatedFeed(InMemoryProgressFeed):
    """A feed whose opening, closing or session check takes as long as the test wants (a slow
    connect, a slow goodbye to the server, a slow query)."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = asyncio.Event()
        self.may_open = asyncio.Event()
        self.may_open.set()
        self.closing = asyncio.Event()
        self.may_close = asyncio.Event()
        self.may_close.set()
        self.checking = asyncio.Event()
        self.may_check = asyncio.Event()
        self.may_check.set()

    async def open(self) -> None:
        self.opening.set()
        await self.may_open.wait()
        await super().open()

    async def close(self) -> None:
        self.closing.set()
        await self.may_close.wait()
        await super().close()

    async def live_sessions(self, session_keys: Sequence[bytes]) -> set[bytes]:
        alive = await super().live_sessions(session_keys)
        self.checking.set()
        await self.may_check.wait()
        return alive


async def test_a_page_opened_while_the_last_watcher_is_closing_gets_a_watcher_of_its_own() -> None:
    feed = start_feed(GatedFeed())
    assert isinstance(feed, GatedFeed)
    hub = LiveHub(lambda: feed, FAST)
    first = hub.subscribe("acme", b"acme-session")
    await until(lambda: hub.looks > 0, "the watcher's first look")
    feed.may_close.clear()
    hub.unsubscribe(first)  # the page is closed, and the next one opens ...
    async with asyncio.timeout(5):
        await feed.closing.wait()  # ... while the watcher says goodbye to the database
    second = hub.subscribe("acme", b"acme-session")
    await until(lambda: feed.opened == 2, "a watcher for the page opened meanwhile")
    assert await topics(second, {EVERYTHING}) == {EVERYTHING}
    feed.add(recorded(1, CHAT))
    for name in ("conversations", "messages"):
        feed.move(name, at(1))
    chat = conversation_topic(conversation_public_id("acme", CHAT))
    assert await topics(second, {chat}) >= {chat, CONVERSATIONS}
    feed.may_close.set()
    await hub.close()


async def test_the_first_refresh_comes_once_the_watcher_follows_so_no_change_is_lost() -> None:
    feed = start_feed(GatedFeed())
    assert isinstance(feed, GatedFeed)
    feed.may_open.clear()
    hub = LiveHub(lambda: feed, FAST)
    page = hub.subscribe("acme", b"acme-session")
    async with asyncio.timeout(5):
        await feed.opening.wait()
    # A change becomes readable while the watcher connects: the watcher will count it as
    # seen, so the page must re-fetch after that, not before.
    feed.add(recorded(1, CHAT))
    for name in ("conversations", "messages"):
        feed.move(name, at(1))
    assert await page.next(0.05) == []
    feed.may_open.set()
    assert await topics(page, {EVERYTHING}) == {EVERYTHING}
    # Every change after the refresh is heard by name.
    feed.add(recorded(2, ORDER))
    feed.move("orders", at(2))
    feed.move("conversations", at(2))
    assert await topics(page, {ORDERS}) == {ORDERS}
    late = hub.subscribe("acme", b"acme-session")  # a page joining a watcher that follows
    assert await late.next(0) == [EVERYTHING]
    await hub.close()


async def test_a_page_opened_during_a_session_check_keeps_its_stream() -> None:
    feed = start_feed(GatedFeed())
    assert isinstance(feed, GatedFeed)
    feed.may_check.clear()
    hub = LiveHub(lambda: feed, FAST)
    acme = hub.subscribe("acme", b"acme-session")
    async with asyncio.timeout(5):
        await feed.checking.wait()  # the watcher asks about acme's session ...
    globex = hub.subscribe("globex", b"globex-session")  # ... when globex's page opens
    feed.may_check.set()
    await until(lambda: hub.looks > 0, "the watcher's first look")
    assert not globex.ended
    assert await globex.next(0) == [EVERYTHING]
    looks = hub.looks
    await until(lambda: hub.looks > looks + 2, "more looks (and session checks)")
    assert not globex.ended
    assert not acme.ended
    feed.close_session(b"globex-session")  # its own end still ends it
    await until(lambda: globex.ended, "the signed-out stream's end")
    assert not acme.ended
    await hub.close()
