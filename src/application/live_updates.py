"""Live updates for open dashboard pages: what changed, for which business, once it is readable.

An update names a *topic* a page listens to (see ``TOPICS``). It is published only after the
projection that serves that topic has committed the change: the watcher follows the
projections' checkpoints, not the raw event feed, so a page that re-fetches a fragment on an
update always reads the change. One watcher per process holds one database connection and
fans updates out to every open page (a ``LiveSubscription`` each, no connection of its own).

Topics:

- ``conversations``: the conversation list changed (a new conversation, a new last message,
  a status, the unread count...).
- ``conversation:<conversation_id>``: that conversation's header or timeline changed (a new
  message either way, a status tick, an escalation).
- ``metrics``: the overview's figures may have moved.
- ``orders``: an order was placed or changed status.
- ``errors``: a failed send, a dead letter, a webhook problem or a parked event was recorded
  (or resolved, or a retry was asked for).

A subscription also ends when the dashboard session behind it ends (signed out, token
revoked, expired): the watcher re-checks the sessions of its subscribers when the database
says sessions changed, and every ``session_check_seconds`` anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from application.event_log import FeedPosition, RecordedEvent
from domain.account import WebhookChangeRecovered, WebhookChangeUnreadable
from domain.conversation import CONVERSATION_STREAM_PREFIX, WebhookProblemReported
from domain.events import DomainEvent
from domain.operations import EventParked
from domain.orders import ORDER_STREAM_PREFIX
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundRetryRequested,
    OutboundSendFailed,
)
from domain.public_ids import conversation_public_id

log = structlog.get_logger(__name__)

CONVERSATIONS: Final = "conversations"
METRICS: Final = "metrics"
ORDERS: Final = "orders"
ERRORS: Final = "errors"
CONVERSATION_PREFIX: Final = "conversation:"
# Sent to every subscriber when updates may have been missed (the watcher reconnected, or a
# projection jumped too far to look at each event): every listener should re-fetch.
EVERYTHING: Final = "refresh"
TOPICS: Final = (CONVERSATIONS, METRICS, ORDERS, ERRORS, CONVERSATION_PREFIX + "<id>", EVERYTHING)

# Each lane of updates and the projections its pages read: a lane's changes are published
# once every one of them has handled the event (the lane's checkpoint is their lowest).
LANES: Final[dict[str, tuple[str, ...]]] = {
    "conversation": ("conversations", "messages"),  # a timeline reads both
    "metrics": ("metrics",),
    "errors": ("errors",),
    "orders": ("orders", "conversations"),  # an order shows its customer
}
WATCHED_PROJECTIONS: Final = tuple(sorted({p for group in LANES.values() for p in group}))
# Past this many events between two looks, publish EVERYTHING instead of reading them all.
MAX_EVENTS_PER_LOOK: Final = 5000


def conversation_topic(conversation_id: str) -> str:
    return CONVERSATION_PREFIX + conversation_id


_ERROR_TYPES: Final = (
    WebhookProblemReported,
    WebhookChangeUnreadable,
    WebhookChangeRecovered,
    OutboundMessageDeadLettered,
    OutboundRetryRequested,
    OutboundMessageAccepted,  # an accepted retry resolves the error it retried
    EventParked,
)


def _is_error_change(event: DomainEvent) -> bool:
    if isinstance(event, OutboundSendFailed):
        return event.next_attempt_at is None
    if isinstance(event, _ERROR_TYPES):
        return True
    status = getattr(event, "status", None)
    return getattr(status, "status", None) == "failed"


def topics_of(lane: str, recorded: RecordedEvent) -> tuple[str | None, frozenset[str]]:
    """The business an event belongs to and the topics it changes once the projections of
    ``lane`` (one of LANES) have handled it."""
    event = recorded.event
    business_id = getattr(event, "business_id", None)
    if not isinstance(business_id, str):
        return None, frozenset()
    stream = recorded.stream_id
    in_conversation = stream.startswith(CONVERSATION_STREAM_PREFIX)
    topics: set[str] = set()
    if lane == "conversation" and in_conversation:
        topics.add(conversation_topic(conversation_public_id(business_id, stream)))
        topics.add(CONVERSATIONS)
    elif lane == "metrics" and (in_conversation or stream.startswith(ORDER_STREAM_PREFIX)):
        topics.add(METRICS)
    elif lane == "errors" and _is_error_change(event):
        topics.add(ERRORS)
    elif lane == "orders" and stream.startswith(ORDER_STREAM_PREFIX):
        topics.add(ORDERS)
    return business_id, frozenset(topics)


def changes_between(
    events: Iterable[RecordedEvent],
    seen: dict[str, FeedPosition],
    reached: dict[str, FeedPosition],
) -> dict[str, set[str]]:
    """Topics by business for the events each lane handled since ``seen`` up to ``reached``
    (the lane's checkpoint now)."""
    changed: dict[str, set[str]] = {}
    for recorded in events:
        for lane, checkpoint in reached.items():
            if seen.get(lane, checkpoint) < recorded.position <= checkpoint:
                business_id, topics = topics_of(lane, recorded)
                if business_id is not None and topics:
                    changed.setdefault(business_id, set()).update(topics)
    return changed


def merged_windows(
    windows: Iterable[tuple[FeedPosition, FeedPosition]],
) -> list[tuple[FeedPosition, FeedPosition]]:
    """(after, up to) feed windows, overlapping ones merged, in feed order."""
    merged: list[tuple[FeedPosition, FeedPosition]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class ProgressFeed(Protocol):
    """The watcher's one connection to the database."""

    async def open(self) -> None:
        """Connect and listen for checkpoint moves and session changes."""
        ...

    async def close(self) -> None: ...

    async def wait(self, timeout: float) -> frozenset[str]:
        """Until something moved (or ``timeout``): "progress" when a checkpoint moved,
        "sessions" when sessions or tokens changed; empty on timeout. Raises ConnectionError
        when the connection is lost."""
        ...

    async def checkpoints(self, names: Sequence[str]) -> dict[str, FeedPosition]: ...

    async def read_feed(self, after: FeedPosition, limit: int) -> Sequence[RecordedEvent]: ...

    async def live_sessions(self, session_keys: Sequence[bytes]) -> set[bytes]:
        """Of these sessions (SHA-256s of their ids), the ones still open and valid."""
        ...


@dataclass(eq=False)
class LiveSubscription:
    """One open page's stream: the topics changed since it last looked."""

    business_id: str
    session_key: bytes
    pending: set[str] = field(default_factory=set)
    ended: bool = False
    _woken: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, topics: Iterable[str]) -> None:
        self.pending.update(topics)
        self._woken.set()

    def end(self) -> None:
        self.ended = True
        self._woken.set()

    async def next(self, timeout: float) -> list[str]:
        """The topics changed since the last call (sorted), waiting up to ``timeout``; empty
        when nothing changed in that time or the subscription ended."""
        if not self.pending and not self.ended:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._woken.wait()
        self._woken.clear()
        topics, self.pending = sorted(self.pending), set()
        return topics


@dataclass(frozen=True, slots=True)
class LiveSettings:
    poll_seconds: float = 2.0  # a look at the checkpoints even without a notification
    session_check_seconds: float = 30.0  # sessions re-checked at least this often
    reconnect_seconds: float = 1.0
    max_reconnect_seconds: float = 30.0


class LiveHub:
    """Subscribers of this process and the one watcher that feeds them.

    The watcher runs while there is at least one subscriber: the first subscription starts
    it (one connection), it stops when the last one leaves.
    """

    def __init__(
        self, feed_factory: Callable[[], ProgressFeed], settings: LiveSettings | None = None
    ) -> None:
        self._feed_factory = feed_factory
        self._settings = settings or LiveSettings()
        self._subscribers: set[LiveSubscription] = set()
        # The watcher that serves the subscribers; None when there is none (a watcher that
        # found no one left lets go of this at once, before closing its connection, so a page
        # that comes meanwhile starts a new one instead of waiting on one that is leaving).
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # with the ones still closing
        # The watcher has its starting point: every change past it will be published.
        self._following = False
        self._closed = False
        self.looks = 0  # how many times the watcher looked at the checkpoints (for tests)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def watching(self) -> bool:
        return self._task is not None

    def subscribe(self, business_id: str, session_key: bytes) -> LiveSubscription:
        """A new page's subscription. Its first topic is EVERYTHING, published once the
        watcher follows the checkpoints: every change after the page's re-fetch is then heard
        by name (a refresh sent before that could miss a change the watcher counts as seen)."""
        subscription = LiveSubscription(business_id, session_key)
        if self._closed:
            subscription.end()
            return subscription
        self._subscribers.add(subscription)
        if self._following:
            subscription.publish([EVERYTHING])
        elif self._task is None:
            task = asyncio.get_running_loop().create_task(self._watch())
            self._task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return subscription

    def unsubscribe(self, subscription: LiveSubscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, business_id: str, topics: Iterable[str]) -> None:
        chosen = frozenset(topics)
        for subscription in list(self._subscribers):
            if subscription.business_id == business_id:
                subscription.publish(chosen)

    def end_sessions(self, gone: set[bytes]) -> int:
        """End the subscriptions whose session is in ``gone``; how many ended."""
        ended = [s for s in self._subscribers if s.session_key in gone]
        for subscription in ended:
            subscription.end()
            self._subscribers.discard(subscription)
        return len(ended)

    async def close(self) -> None:
        """Stop the watcher and end every stream (at shutdown)."""
        self._closed = True
        self._following = False
        for subscription in list(self._subscribers):
            subscription.end()
        self._subscribers.clear()
        self._task = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _leaving(self, watcher: asyncio.Task[None] | None) -> bool:
        """Whether ``watcher`` should stop (no one is left, or it is not the hub's watcher any
        more); when it stops it lets go of the hub at once, with no await in between."""
        if self._subscribers and self._task is watcher:
            return False
        if self._task is watcher:
            self._task = None
            self._following = False
        return True

    async def _watch(self) -> None:
        me = asyncio.current_task()
        delay = self._settings.reconnect_seconds
        try:
            while not self._leaving(me):
                feed = self._feed_factory()
                try:
                    await feed.open()
                    await self._follow(feed, me)
                    return
                except (ConnectionError, OSError) as error:
                    log.warning("live.watcher_lost", error=str(error))
                except Exception as error:  # the database's own errors: reconnect all the same
                    log.warning("live.watcher_failed", error=repr(error))
                finally:
                    if self._task is me:
                        # Pages opened from now on get their refresh from the next start.
                        self._following = False
                    with contextlib.suppress(Exception):
                        await feed.close()
                if self._leaving(me):
                    return
                # The next start sends every page a refresh (something may have changed
                # unseen while the connection was down).
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.max_reconnect_seconds)
        finally:
            if self._task is me:
                self._task = None
                self._following = False

    async def _lanes(self, feed: ProgressFeed) -> dict[str, FeedPosition]:
        """Each lane's checkpoint: the lowest of its projections' (absent until all exist)."""
        checkpoints = await feed.checkpoints(WATCHED_PROJECTIONS)
        return {
            lane: min(checkpoints[p] for p in projections)
            for lane, projections in LANES.items()
            if all(p in checkpoints for p in projections)
        }

    async def _follow(self, feed: ProgressFeed, me: asyncio.Task[None] | None) -> None:
        seen = await self._lanes(feed)
        await self._check_sessions(feed)
        checked_at = time.monotonic()
        # From here on every change past ``seen`` is published. What came before it, every
        # page already there re-fetches now (a new page, or all of them after a reconnect).
        if self._task is me:
            self._following = True
        for subscription in list(self._subscribers):
            subscription.publish([EVERYTHING])
        while not self._leaving(me):
            woke = await feed.wait(self._settings.poll_seconds)
            seen = await self._advance(feed, seen)
            due = time.monotonic() - checked_at >= self._settings.session_check_seconds
            if "sessions" in woke or due:
                await self._check_sessions(feed)
                checked_at = time.monotonic()

    async def _advance(
        self, feed: ProgressFeed, seen: dict[str, FeedPosition]
    ) -> dict[str, FeedPosition]:
        self.looks += 1
        reached = await self._lanes(feed)
        moved = {name: pos for name, pos in reached.items() if pos > seen.get(name, pos)}
        if not moved:
            return {**seen, **reached}
        # Each lane reads only its own window; overlapping windows are read once. A lane far
        # behind the others never makes the ones ahead read its backlog.
        events: list[RecordedEvent] = []
        too_many = False
        for start, end in merged_windows([(seen[name], moved[name]) for name in moved]):
            read: list[RecordedEvent] = []
            cursor = start
            while cursor < end and len(read) <= MAX_EVENTS_PER_LOOK:
                batch = await feed.read_feed(cursor, 500)
                if not batch:
                    break
                read.extend(e for e in batch if e.position <= end)
                cursor = batch[-1].position
            too_many = too_many or len(read) > MAX_EVENTS_PER_LOOK
            events.extend(read)
        if too_many:
            for subscription in list(self._subscribers):
                subscription.publish([EVERYTHING])
        else:
            for business_id, topics in changes_between(events, seen, moved).items():
                self.publish(business_id, topics)
        return {**seen, **reached}

    async def _check_sessions(self, feed: ProgressFeed) -> None:
        keys = sorted({s.session_key for s in self._subscribers})
        if not keys:
            return
        alive = await feed.live_sessions(keys)
        # Only the sessions asked about: a page opened during the query is checked next time.
        ended = self.end_sessions(set(keys) - alive)
        if ended:
            log.info("live.sessions_ended", streams=ended)
