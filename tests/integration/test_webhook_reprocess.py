"""Reprocessing stored unreadable changes with a newer parser, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from adapters.memory.businesses import InMemoryBusinessDirectory
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.stored_changes import PostgresStoredChanges
from adapters.whatsapp.webhook import parse_webhook
from application.businesses import Business
from application.codec import EventCodec
from application.inbound_updates import InboundUpdate
from application.webhook_ingest import WebhookIngestor
from application.webhook_reprocess import WebhookReprocessor
from domain.account import WebhookChangeRecovered, WebhookChangeUnreadable, business_stream
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from tests.support.webhooks import (
    ACCOUNT_ID,
    PHONE_NUMBER_ID,
    encode,
    messages_change,
    text_message,
    webhook,
)

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ACME = Business(id="acme", name="Acme", phone_number_ids=(PHONE_NUMBER_ID,), account_id=ACCOUNT_ID)
CUSTOMER = "15550001111"


@pytest.fixture
async def store(pool: asyncpg.Pool[Any]) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    yield store
    await store.close()


def newer_parser(body: bytes, received_at: datetime) -> list[InboundUpdate]:
    """A later version that learned to read the word "soon" as a time."""
    return parse_webhook(body.replace(b'"soon"', b'"1700000000"'), received_at)


def reprocessor(store: PostgresEventStore, pool: asyncpg.Pool[Any], parse: Any) -> Any:
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    return WebhookReprocessor(store, PostgresStoredChanges(pool, store), ingestor, parse)


async def test_a_change_stored_unreadable_is_recorded_once_a_parser_reads_it(
    store: PostgresEventStore, pool: asyncpg.Pool[Any]
) -> None:
    good = messages_change([text_message("fine", customer=CUSTOMER, wamid="wamid.good")])
    late = messages_change([{**text_message("late", customer=CUSTOMER, wamid="wamid.late"),
                             "timestamp": "soon"}])  # fmt: skip
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    await ingestor.ingest(parse_webhook(encode(webhook(good, late)), NOW), "delivery")

    today = await reprocessor(store, pool, parse_webhook).reprocess("acme")
    dry = await reprocessor(store, pool, newer_parser).reprocess("acme", dry_run=True)
    progress: list[tuple[int, int]] = []
    newer = await reprocessor(store, pool, newer_parser).reprocess(
        None, progress=lambda done, total: progress.append((done, total))
    )
    again = await reprocessor(store, pool, newer_parser).reprocess("acme")

    assert (today.examined, today.still_unreadable, today.recovered) == (1, 1, 0)
    assert (dry.recovered, dry.appended) == (1, 0)
    assert (newer.recovered, newer.updates, newer.appended) == (1, 1, 1)
    assert progress == [(1, 1)]
    assert (again.already_recovered, again.recovered, again.appended) == (1, 0, 0)
    conversation = await store.read_stream(conversation_stream(PHONE_NUMBER_ID, CUSTOMER))
    received = [e for e in conversation if isinstance(e.event, MessageReceived)]
    assert [e.event.message.wamid for e in received] == ["wamid.good", "wamid.late"]
    assert received[1].event_id == message_event_id("wamid.late")
    kinds = [type(e.event) for e in await store.read_stream(business_stream("acme"))]
    assert kinds == [WebhookChangeUnreadable, WebhookChangeRecovered]


async def test_reprocess_leaves_other_businesses_changes_alone(
    store: PostgresEventStore, pool: asyncpg.Pool[Any]
) -> None:
    late = messages_change([{**text_message(wamid="wamid.x"), "timestamp": "soon"}])
    ingestor = WebhookIngestor(store, InMemoryBusinessDirectory([ACME]))
    await ingestor.ingest(parse_webhook(encode(webhook(late)), NOW), "delivery")

    other = await reprocessor(store, pool, newer_parser).reprocess("globex")

    assert other.examined == 0
