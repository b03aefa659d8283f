"""Ingestion with fakes: routing, idempotency, flood protection, conflicts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory.businesses import InMemoryBusinessDirectory
from adapters.memory.event_store import InMemoryEventStore
from adapters.whatsapp.webhook import parse_webhook
from application.businesses import Business
from application.codec import EventCodec
from application.event_log import (
    FEED_START,
    AppendRequest,
    AppendResult,
    ConcurrencyError,
    NewEvent,
    RecordedEvent,
    UnstorableEventError,
)
from application.webhook_ingest import IngestConflictError, WebhookIngestor
from domain.account import UNROUTED_STREAM, WebhookChangeUnreadable, business_stream
from domain.conversation import (
    CustomerThrottled,
    CustomerThrottleLifted,
    MessageReceived,
    MessageStatusUpdated,
    conversation_stream,
)
from domain.event_types import EVENT_TYPES
from domain.events import deterministic_event_id
from tests.support.webhooks import (
    ACCOUNT_ID,
    CASES_BY_NAME,
    PHONE_NUMBER_ID,
    encode,
    messages_change,
    status,
    text_message,
    webhook,
)

CODEC = EventCodec(EVENT_TYPES)
NOW = datetime(2026, 11, 24, tzinfo=UTC)
CUSTOMER = "15550001111"
STREAM = conversation_stream(PHONE_NUMBER_ID, CUSTOMER)
ACME = Business(
    id="acme",
    name="Acme",
    phone_number_ids=(PHONE_NUMBER_ID,),
    account_id=ACCOUNT_ID,
    flood_limit=3,
)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(CODEC)


@pytest.fixture
def ingestor(store: InMemoryEventStore) -> WebhookIngestor:
    return WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))


async def deliver(ingestor: WebhookIngestor, body: dict[str, Any]) -> Any:
    return await ingestor.ingest(parse_webhook(encode(body), NOW), delivery_id="delivery-1")


async def stream_events(store: InMemoryEventStore, stream_id: str = STREAM) -> list[Any]:
    return [e.event for e in await store.read_stream(stream_id)]


async def test_a_message_becomes_one_event_in_its_conversation_stream(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    outcome = await deliver(ingestor, webhook(messages_change([text_message(wamid="wamid.a")])))

    (recorded,) = await store.read_stream(STREAM)
    assert outcome.appended == 1
    assert isinstance(recorded.event, MessageReceived)
    assert recorded.event.business_id == "acme"
    assert not recorded.event.throttled
    assert recorded.event_id == deterministic_event_id("wamid.a", "message")
    assert recorded.metadata.correlation_id == "wamid.a"
    assert recorded.metadata.causation_id == "delivery-1"


async def test_redelivery_stores_nothing_new(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    body = webhook(messages_change([text_message(wamid="wamid.a")], [status("wamid.o", "read")]))
    await deliver(ingestor, body)

    again = await deliver(ingestor, body)
    fresh_process = await deliver(WebhookIngestor(store, InMemoryBusinessDirectory([ACME])), body)

    assert (again.appended, again.duplicates) == (0, 2)
    assert fresh_process.appended == 0
    assert len(await stream_events(store)) == 2


async def test_several_entries_changes_and_messages_all_land_in_their_streams(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    customers = [f"1555000000{n}" for n in range(4)]
    body = webhook(
        messages_change([text_message(customer=customers[0]), text_message(customer=customers[1])]),
        messages_change([text_message(customer=customers[2])]),
        messages_change(
            [text_message(customer=customers[3])],
            [status("wamid.o", "sent", recipient=customers[0])],
        ),
        entries=2,
    )

    outcome = await deliver(ingestor, body)

    assert outcome.appended == 5
    for customer, expected in zip(customers, [2, 1, 1, 1], strict=True):
        stream = conversation_stream(PHONE_NUMBER_ID, customer)
        assert len(await stream_events(store, stream)) == expected


async def test_statuses_for_unknown_messages_and_out_of_order_are_recorded(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    await deliver(ingestor, webhook(messages_change(statuses=[status("wamid.never", "read")])))
    await deliver(ingestor, webhook(messages_change(statuses=[status("wamid.never", "sent")])))

    events = await stream_events(store)
    assert [e.status.status for e in events if isinstance(e, MessageStatusUpdated)] == [
        "read",
        "sent",
    ]


async def test_updates_for_unknown_numbers_are_kept_out_of_every_business(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    body = webhook(messages_change([text_message(), text_message()], phone_number_id="999"))

    outcome = await deliver(ingestor, body)

    assert outcome.unrouted == 1
    (unrouted,) = await stream_events(store, UNROUTED_STREAM)
    assert unrouted.phone_number_id == "999"
    assert not hasattr(unrouted, "business_id")
    assert await store.read_feed(FEED_START, 1000) == await store.read_stream(UNROUTED_STREAM)


async def test_template_and_account_updates_go_to_the_business_stream(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    for name in ("template_status_update/approved", "account_update/account_violation"):
        await deliver(ingestor, CASES_BY_NAME[name])
        await deliver(ingestor, CASES_BY_NAME[name])

    events = await stream_events(store, business_stream("acme"))
    assert [type(e).__name__ for e in events] == ["TemplateStatusUpdated", "AccountNoticeReceived"]


async def test_flood_throttles_then_lifts_and_messages_are_still_recorded(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    for n in range(5):  # limit 3 a minute: the 4th and 5th are over
        await deliver(ingestor, webhook(messages_change([text_message(wamid=f"w{n}", sent_at=n)])))
    await deliver(ingestor, webhook(messages_change([text_message(wamid="w9", sent_at=500)])))

    events = await stream_events(store)
    received = [e for e in events if isinstance(e, MessageReceived)]
    assert [e.throttled for e in received] == [False, False, False, True, True, False]
    (throttled,) = [e for e in events if isinstance(e, CustomerThrottled)]
    (lifted,) = [e for e in events if isinstance(e, CustomerThrottleLifted)]
    assert (throttled.wamid, throttled.limit_per_minute, lifted.wamid) == ("w3", 3, "w9")


async def test_a_new_process_continues_the_flood_state_from_the_stream(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    for n in range(4):
        await deliver(ingestor, webhook(messages_change([text_message(wamid=f"w{n}", sent_at=n)])))

    restarted = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    await deliver(restarted, webhook(messages_change([text_message(wamid="w4", sent_at=4)])))

    received = [e for e in await stream_events(store) if isinstance(e, MessageReceived)]
    assert received[-1].throttled
    assert sum(isinstance(e, CustomerThrottled) for e in await stream_events(store)) == 1


async def test_a_conflicting_writer_makes_ingestion_reload_and_decide_again(
    store: InMemoryEventStore,
) -> None:
    first = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    second = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    for n in range(3):
        await deliver(first, webhook(messages_change([text_message(wamid=f"a{n}", sent_at=n)])))
    # `second` never saw the stream; `first` has it cached and now goes stale.
    await deliver(second, webhook(messages_change([text_message(wamid="b0", sent_at=3)])))
    await deliver(first, webhook(messages_change([text_message(wamid="a3", sent_at=4)])))

    received = [e for e in await stream_events(store) if isinstance(e, MessageReceived)]
    assert [e.message.wamid for e in received] == ["a0", "a1", "a2", "b0", "a3"]
    assert [e.throttled for e in received] == [False, False, False, True, True]
    assert sum(isinstance(e, CustomerThrottled) for e in await stream_events(store)) == 1


class AlwaysRacedStore(InMemoryEventStore):
    """Another writer appends to every stream just before each of our appends."""

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            if request.stream_id.startswith("conversation-"):
                intruder = text_message(wamid=f"intruder-{id(request)}", sent_at=0)
                body = webhook(messages_change([intruder]))
                (update,) = parse_webhook(encode(body), NOW)
                event = MessageReceived(business_id="acme", message=update.payload)
                await super().append_atomic(
                    [AppendRequest(request.stream_id, [NewEvent(event, uuid.uuid4())])]
                )
        return await super().append_atomic(requests)


async def test_endless_conflicts_give_up_with_a_clear_error_and_store_nothing() -> None:
    store = AlwaysRacedStore(CODEC)
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))

    with pytest.raises(IngestConflictError):
        await deliver(ingestor, webhook(messages_change([text_message(wamid="mine")])))

    recorded: list[RecordedEvent] = await store.read_stream(STREAM)
    assert all(e.event.message.wamid != "mine" for e in recorded)


class InterleavingStore(InMemoryEventStore):
    """Suspends at every read and append, as the real store does, and counts conflicts."""

    def __init__(self) -> None:
        super().__init__(CODEC, pause=lambda: asyncio.sleep(0))
        self.conflicts = 0

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        try:
            return await super().append_atomic(requests)
        except ConcurrencyError:
            self.conflicts += 1
            raise


async def deliver_until_stored(ingestor: WebhookIngestor, body: dict[str, Any]) -> Any:
    """As Meta does: a delivery answered 503 (endless conflicts) comes again, a few times."""
    for _ in range(4):
        try:
            return await deliver(ingestor, body)
        except IngestConflictError:
            continue
    raise AssertionError("a delivery was never stored")


async def test_concurrent_deliveries_for_one_conversation_all_land() -> None:
    """Two processes (one ingestor each) deliver to one conversation at the same time."""
    store = InterleavingStore()
    ingestors = [WebhookIngestor(store, InMemoryBusinessDirectory([ACME])) for _ in range(2)]
    bodies = [
        webhook(messages_change([text_message(wamid=f"c{n}", sent_at=n * 30)])) for n in range(20)
    ]

    outcomes = await asyncio.gather(
        *(deliver_until_stored(ingestors[n % 2], body) for n, body in enumerate(bodies))
    )

    assert store.conflicts > 0  # the deliveries really interleaved
    assert sum(o.appended for o in outcomes) == 20
    received = [e for e in await stream_events(store) if isinstance(e, MessageReceived)]
    assert sorted(e.message.wamid for e in received) == sorted(f"c{n}" for n in range(20))
    assert not any(e.throttled for e in received)  # 2 a minute, under the limit of 3


async def test_concurrent_deliveries_to_one_ingestor_take_turns_per_conversation() -> None:
    store = InterleavingStore()
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    bodies = [
        webhook(messages_change([text_message(wamid=f"c{n}", sent_at=n * 30)])) for n in range(20)
    ]

    outcomes = await asyncio.gather(*(deliver(ingestor, body) for body in bodies))

    assert store.conflicts == 0  # one process never races itself
    assert sum(o.appended for o in outcomes) == 20
    assert len(await stream_events(store)) == 20


class RefusingStore(InMemoryEventStore):
    """Refuses messages holding a marker, as PostgreSQL refuses data it cannot hold."""

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        for request in requests:
            for new in request.events:
                if isinstance(new.event, MessageReceived) and "refuse-me" in repr(new.event):
                    raise UnstorableEventError("PostgreSQL refused the append: invalid input")
        return await super().append_atomic(requests)


async def test_a_delivery_the_store_refuses_is_kept_raw_and_acknowledged() -> None:
    from entrypoints.webhook import store_delivery

    store = RefusingStore(CODEC)
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    body = encode(webhook(messages_change([text_message("refuse-me"), text_message("fine")])))
    updates = parse_webhook(body, NOW)

    outcome, stored = await store_delivery(ingestor, body, updates, NOW, "delivery-1")

    events = [e.event for e in await store.read_feed(FEED_START, 100)]
    assert not any(isinstance(e, MessageReceived) for e in events)
    (kept,) = [e for e in events if isinstance(e, WebhookChangeUnreadable)]
    assert "refuse-me" in kept.change.raw_json
    assert "fine" in kept.change.raw_json
    assert kept.change.error.startswith("the event store refused it")
    assert outcome.appended == 1
    assert [u.payload for u in stored] == [kept.change]
    # Redelivered, it is the same unreadable entry: stored once.
    again, _ = await store_delivery(ingestor, body, parse_webhook(body, NOW), NOW, "delivery-2")
    assert (again.appended, again.duplicates) == (0, 1)


async def test_an_unreadable_entry_of_a_known_account_is_kept_in_its_business(
    ingestor: WebhookIngestor, store: InMemoryEventStore
) -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": ACCOUNT_ID, "changes": 7}]}

    outcome = await deliver(ingestor, body)

    assert outcome.appended == 1
    (kept,) = [e.event for e in await store.read_stream(business_stream("acme"))]
    assert isinstance(kept, WebhookChangeUnreadable)
    assert kept.change.scope == "entry"
