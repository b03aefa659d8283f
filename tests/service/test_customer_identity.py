"""One customer, one conversation, whatever identifier Meta names them by (with fakes)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory.businesses import InMemoryBusinessDirectory
from adapters.memory.event_store import InMemoryEventStore
from adapters.whatsapp.webhook import parse_webhook
from application.businesses import Business
from application.codec import EventCodec
from application.event_log import FEED_START, AppendRequest, AppendResult, NewEvent
from application.webhook_ingest import WebhookIngestor
from domain.account import UNROUTED_STREAM, WebhookChangeUnreadable, business_stream
from domain.conversation import (
    MarketingPreferenceChanged,
    MessageEchoed,
    MessageReceived,
    MessageStatusUpdated,
    conversation_stream,
)
from domain.customer import CustomerIdentifierLinked, customer_stream, group_key
from domain.event_types import EVENT_TYPES
from tests.support.webhooks import (
    ACCOUNT_ID,
    CASES_BY_NAME,
    PHONE_NUMBER_ID,
    encode,
    messages_change,
    text_message,
    webhook,
)

CODEC = EventCodec(EVENT_TYPES)
NOW = datetime(2026, 11, 24, tzinfo=UTC)
ACME = Business(id="acme", name="Acme", phone_number_ids=(PHONE_NUMBER_ID,), account_id=ACCOUNT_ID)
PHONE = "16505551234"
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(CODEC)


def new_ingestor(store: InMemoryEventStore) -> WebhookIngestor:
    return WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))


async def deliver(ingestor: WebhookIngestor, body: dict[str, Any]) -> Any:
    return await ingestor.ingest(parse_webhook(encode(body), NOW), delivery_id="d")


def change(
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    field: str = "messages",
    **extra: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": contacts or [],
        **extra,
    }
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {"field": field, "value": value}


def message(wamid: str, *, phone: str | None = None, user_id: str | None = None) -> dict[str, Any]:
    body = text_message(wamid, wamid=wamid, sent_at=1_767_225_600)
    del body["from"]
    if phone:
        body["from"] = phone
    if user_id:
        body["from_user_id"] = user_id
    return body


def contact(*, phone: str | None = None, user_id: str | None = None, username: str | None = None):
    entry: dict[str, Any] = {"profile": {"name": "Ana"}}
    if phone:
        entry["wa_id"] = phone
    if user_id:
        entry["user_id"] = user_id
    if username:
        entry["profile"]["username"] = username
    return entry


def status_to(wamid: str, *, phone: str | None = None, user_id: str | None = None):
    body: dict[str, Any] = {"id": wamid, "status": "delivered", "timestamp": "1767225700"}
    if phone:
        body["recipient_id"] = phone
    if user_id:
        body["recipient_user_id"] = user_id
    return body


async def conversation_streams(store: InMemoryEventStore) -> dict[str, list[str]]:
    """Conversation stream -> the wamids (or kinds) of what it holds."""
    streams: dict[str, list[str]] = {}
    for recorded in await store.read_feed(FEED_START, 10_000):
        event = recorded.event
        if not recorded.stream_id.startswith("conversation-"):
            continue
        label = type(event).__name__
        if isinstance(event, MessageReceived | MessageEchoed):
            label = event.message.wamid
        elif isinstance(event, MessageStatusUpdated):
            label = f"status:{event.status.wamid}"
        elif isinstance(event, MarketingPreferenceChanged):
            label = f"preference:{event.preference.value}"
        streams.setdefault(recorded.stream_id, []).append(label)
    return streams


async def test_a_customer_known_only_by_bsuid_keeps_one_conversation(
    store: InMemoryEventStore,
) -> None:
    ingestor = new_ingestor(store)
    preference = {"user_id": BSUID, "category": "marketing_messages", "value": "stop",
                  "timestamp": 1767225800}  # fmt: skip

    first = change(
        messages=[message("m1", user_id=BSUID)], contacts=[contact(user_id=BSUID, username="ana")]
    )
    await deliver(ingestor, webhook(first))
    await deliver(new_ingestor(store), webhook(change(statuses=[status_to("o1", user_id=BSUID)])))
    await deliver(
        ingestor, webhook(change(field="user_preferences", user_preferences=[preference]))
    )

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, BSUID): ["m1", "status:o1", "preference:stop"]
    }


async def test_a_number_withheld_later_continues_the_same_conversation(
    store: InMemoryEventStore,
) -> None:
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m1", phone=PHONE, user_id=BSUID)],
        contacts=[contact(phone=PHONE, user_id=BSUID)],
    )))  # fmt: skip
    # Another process, nothing cached: only the BSUID and a username now.
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m2", user_id=BSUID)], contacts=[contact(user_id=BSUID, username="ana")]
    )))  # fmt: skip

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, PHONE): ["m1", "m2"]
    }


async def test_a_conversation_from_before_bsuids_keeps_its_stream(
    store: InMemoryEventStore,
) -> None:
    legacy = webhook(messages_change([text_message("old", customer=PHONE, wamid="m0")]))
    (update,) = parse_webhook(encode(legacy), NOW)
    old_event = MessageReceived(business_id="acme", message=update.payload)
    stream = conversation_stream(PHONE_NUMBER_ID, PHONE)
    await store.append(stream, [NewEvent(old_event, uuid.uuid4())])

    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m1", phone=PHONE, user_id=BSUID)],
        contacts=[contact(phone=PHONE, user_id=BSUID)],
    )))  # fmt: skip
    await deliver(new_ingestor(store), webhook(change(messages=[message("m2", user_id=BSUID)])))

    assert await conversation_streams(store) == {stream: ["m0", "m1", "m2"]}


async def test_changed_numbers_and_user_ids_continue_the_conversation(
    store: InMemoryEventStore,
) -> None:
    ingestor = new_ingestor(store)
    await deliver(ingestor, webhook(change(messages=[message("m1", phone=PHONE, user_id=BSUID)])))
    await deliver(ingestor, CASES_BY_NAME["meta:bsuid/user_changed_number"])
    # The new number and its new BSUID, from a process that never saw the change.
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m2", phone="16505550000", user_id="US.99887766554433221100")]
    )))  # fmt: skip
    await deliver(new_ingestor(store), CASES_BY_NAME["meta:bsuid/user_changed_user_id"])
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m3", user_id="US.11223344556677889900")]
    )))  # fmt: skip

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, PHONE): [
            "m1", "wamid.changed-number", "m2", "wamid.changed-user-id", "m3",
        ]
    }  # fmt: skip


async def test_a_changed_number_moves_an_identifier_another_customer_held(
    store: InMemoryEventStore,
) -> None:
    ingestor = new_ingestor(store)
    await deliver(ingestor, webhook(change(messages=[message("m1", phone="16505550000")])))
    await deliver(ingestor, webhook(change(messages=[message("m2", phone=PHONE, user_id=BSUID)])))
    await deliver(ingestor, CASES_BY_NAME["meta:bsuid/user_changed_number"])  # now 16505550000
    await deliver(
        new_ingestor(store), webhook(change(messages=[message("m3", phone="16505550000")]))
    )

    streams = await conversation_streams(store)
    assert streams[conversation_stream(PHONE_NUMBER_ID, PHONE)][-1] == "m3"
    links = await store.read_stream(customer_stream(PHONE_NUMBER_ID, "16505550000"))
    assert [e.event.customer for e in links] == ["16505550000", PHONE]  # type: ignore[attr-defined]


class RacingStore(InMemoryEventStore):
    """Runs ``before_first_append`` once, just before the first append reaches the store."""

    def __init__(self, codec: EventCodec) -> None:
        super().__init__(codec)
        self.before_first_append: Callable[[], Awaitable[None]] | None = None
        self.conflicts = 0

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        hook, self.before_first_append = self.before_first_append, None
        if hook is not None:
            await hook()
        try:
            return await super().append_atomic(requests)
        except Exception:
            self.conflicts += 1
            raise


async def test_two_processes_meeting_a_new_customer_at_once_agree_on_one_conversation() -> None:
    store = RacingStore(CODEC)
    first, second = new_ingestor(store), new_ingestor(store)
    both = webhook(change(messages=[message("m1", phone=PHONE, user_id=BSUID)]))
    only_bsuid = webhook(change(messages=[message("m2", user_id=BSUID)]))

    async def the_other_process_lands_first() -> None:
        await deliver(second, only_bsuid)

    store.before_first_append = the_other_process_lands_first
    await deliver(first, both)

    assert store.conflicts == 1  # the first claim of the BSUID lost, reloaded and retried
    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, BSUID): ["m2", "m1"]
    }
    phone_links = await store.read_stream(customer_stream(PHONE_NUMBER_ID, PHONE))
    assert [e.event.customer for e in phone_links] == [BSUID]  # type: ignore[attr-defined]


async def test_a_group_is_its_own_conversation_never_the_participants(
    store: InMemoryEventStore,
) -> None:
    ingestor = new_ingestor(store)
    await deliver(ingestor, webhook(change(messages=[message("m1", phone=PHONE, user_id=BSUID)])))
    await deliver(ingestor, CASES_BY_NAME["meta:groups/group_message"])
    await deliver(ingestor, CASES_BY_NAME["meta:groups/group_status_by_user_id"])

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, PHONE): ["m1"],
        conversation_stream(PHONE_NUMBER_ID, group_key("Ez7tGpWcQ3aV1")): [
            "wamid.group-in",
            "status:wamid.group-out",
        ],
    }


async def test_an_echo_lands_in_the_customers_conversation(store: InMemoryEventStore) -> None:
    ingestor = new_ingestor(store)
    await deliver(ingestor, webhook(change(messages=[message("m1", phone=PHONE, user_id=BSUID)])))
    echo = {"from": "15550009999", "to_user_id": BSUID, "id": "e1", "timestamp": "1767225900",
            "type": "text", "text": {"body": "Answered from the phone"}}  # fmt: skip

    await deliver(ingestor, webhook(change(field="smb_message_echoes", message_echoes=[echo])))

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, PHONE): ["m1", "e1"]
    }


async def test_an_unreadable_change_is_kept_raw_and_the_rest_is_stored(
    store: InMemoryEventStore,
) -> None:
    broken = change(messages=[{**message("bad", phone=PHONE), "timestamp": "soon"}])
    unknown_number = {**broken, "value": {**broken["value"], "metadata": {"phone_number_id": "9"}}}
    good = change(messages=[message("m1", phone=PHONE)])

    outcome = await deliver(new_ingestor(store), webhook(good, broken, unknown_number))

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, PHONE): ["m1"]
    }
    (kept,) = [e.event for e in await store.read_stream(business_stream("acme"))]
    assert isinstance(kept, WebhookChangeUnreadable)
    assert "timestamp" in kept.change.error
    (orphan,) = [e.event for e in await store.read_stream(UNROUTED_STREAM)]
    assert isinstance(orphan, WebhookChangeUnreadable)
    assert orphan.business_id is None
    assert orphan.change.raw_json  # kept whole: nobody can tell whose it is yet
    assert (outcome.appended, outcome.unrouted) == (3, 1)


async def test_link_events_name_the_identifier_and_its_customer(store: InMemoryEventStore) -> None:
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m1", phone=PHONE, user_id=BSUID)],
        contacts=[contact(phone=PHONE, user_id=BSUID, username="ana")],
    )))  # fmt: skip

    links = [
        e.event
        for e in await store.read_feed(FEED_START, 100)
        if isinstance(e.event, CustomerIdentifierLinked)
    ]
    assert sorted((link.identifier, link.customer) for link in links) == [
        ("16505551234", PHONE),
        ("@ana", PHONE),
        (BSUID, PHONE),
    ]


async def test_a_username_taken_over_by_another_user_never_joins_their_conversations(
    store: InMemoryEventStore,
) -> None:
    other = "US.77700000000000000007"
    ingestor = new_ingestor(store)
    await deliver(ingestor, webhook(change(
        messages=[message("m1", user_id=BSUID)], contacts=[contact(user_id=BSUID, username="ana")]
    )))  # fmt: skip
    # Ana gave the username up; another user took it.
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m2", user_id=other)], contacts=[contact(user_id=other, username="ana")]
    )))  # fmt: skip
    await deliver(new_ingestor(store), webhook(change(
        messages=[message("m3", user_id=other)], contacts=[contact(user_id=other, username="ana")]
    )))  # fmt: skip

    assert await conversation_streams(store) == {
        conversation_stream(PHONE_NUMBER_ID, BSUID): ["m1"],
        conversation_stream(PHONE_NUMBER_ID, other): ["m2", "m3"],
    }
    links = await store.read_stream(customer_stream(PHONE_NUMBER_ID, "@ana"))
    assert [e.event.customer for e in links] == [BSUID, other]  # type: ignore[attr-defined]
