"""The projections against real PostgreSQL: webhook bodies in, read-model rows out."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from adapters.memory.businesses import InMemoryBusinessDirectory
from application.catalog import CatalogImporter
from application.event_log import NewEvent
from application.webhook_ingest import WebhookIngestor
from domain.conversation import conversation_stream
from domain.events import DomainEvent, EventMetadata
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderItem,
    OrderPlaced,
    OrderShipped,
    order_stream,
)
from domain.outbound import ListMessage, ListRow, ListSection, Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, RequestedBy, queued_event_id
from tests.support.read_model_tables import (
    READ_MODEL_TABLES,
    read_models,
    replayed_read_models,
)
from tests.support.read_models import FAST, GLOBEX, OTHER_NUMBER, Projected, projected
from tests.support.webhooks import PHONE_NUMBER_ID, messages_change, status, text_message, webhook

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
ANA = "15550001111"
BEN = "15550002222"
ANA_CHAT = conversation_stream(PHONE_NUMBER_ID, ANA)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def image(customer: str, sent_at: int, caption: str | None = None) -> dict[str, Any]:
    message = text_message(customer=customer, sent_at=sent_at)
    del message["text"]
    message["type"] = "image"
    message["image"] = {"id": "media-1", "mime_type": "image/jpeg", "sha256": "x"}
    if caption is not None:
        message["image"]["caption"] = caption
    return message


def failed(wamid: str, recipient: str, at_: int, code: int, title: str) -> dict[str, Any]:
    report = status(wamid, "failed", recipient=recipient, at=at_)
    report["errors"] = [{"code": code, "title": title, "message": title}]
    return report


async def test_a_conversation_row_follows_the_customers_messages(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(
            webhook(messages_change([text_message("hi", customer=ANA, sent_at=T0)])),
            webhook(
                messages_change(
                    [image(ANA, T0 + 60, caption="the receipt")], names={ANA: "Ana Lima"}
                )
            ),
            # Delivered late: older than the image, so it is not the last message.
            webhook(messages_change([text_message("late", customer=ANA, sent_at=T0 + 30)])),
        )
        await app.caught_up()
        (row,) = await app.rows("select * from conversations")

    assert row["id"] == ANA_CHAT
    assert row["business_id"] == "acme"
    assert row["customer_id"] == ANA
    assert row["customer_name"] == "Ana Lima"
    assert row["last_message_preview"] == "[Image] the receipt"
    assert row["last_message_at"] == at(T0 + 60)
    assert row["last_message_direction"] == "inbound"
    assert row["last_customer_message_at"] == at(T0 + 60)
    assert row["unread_count"] == 3
    assert row["status"] == "bot"
    assert row["throttled"] is False


async def test_conversations_are_kept_per_business_and_customer(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(
            webhook(messages_change([text_message(customer=ANA, sent_at=T0)])),
            webhook(messages_change([text_message(customer=BEN, sent_at=T0 + 5)])),
            webhook(
                messages_change(
                    [text_message(customer=ANA, sent_at=T0 + 9)], phone_number_id=OTHER_NUMBER
                )
            ),
        )
        await app.caught_up()
        rows = await app.rows(
            "select business_id, customer_id, unread_count from conversations"
            " order by last_activity_at"
        )

    assert rows == [
        {"business_id": "acme", "customer_id": ANA, "unread_count": 1},
        {"business_id": "acme", "customer_id": BEN, "unread_count": 1},
        {"business_id": "globex", "customer_id": ANA, "unread_count": 1},
    ]


async def test_the_throttle_flag_and_its_end_follow_the_flood_rule(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    burst = [text_message(customer=ANA, sent_at=T0 + n) for n in range(21)]
    async with projected(pool, database_url) as app:
        await app.deliver(webhook(messages_change(burst)))
        await app.caught_up()
        (throttled,) = await app.rows("select throttled, throttled_until from conversations")
        # Two minutes later the customer is back under the limit.
        await app.deliver(webhook(messages_change([text_message(customer=ANA, sent_at=T0 + 200)])))
        await app.caught_up()
        (lifted,) = await app.rows("select throttled, throttled_until from conversations")

    assert throttled == {"throttled": True, "throttled_until": at(T0 + 60)}
    assert lifted == {"throttled": False, "throttled_until": None}


async def test_the_timeline_summarises_messages_and_statuses_only_move_forward(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(
            webhook(
                messages_change(
                    [
                        text_message(
                            "where is my order?", customer=ANA, wamid="wamid.in-1", sent_at=T0
                        )
                    ]
                )
            ),
            webhook(
                messages_change(statuses=[status("wamid.out-1", "read", recipient=ANA, at=T0 + 20)])
            ),
            # Arrives after "read": must not move the status back.
            webhook(
                messages_change(
                    statuses=[
                        status("wamid.out-1", "delivered", recipient=ANA, at=T0 + 15),
                        status("wamid.out-1", "sent", recipient=ANA, at=T0 + 10),
                    ]
                )
            ),
            webhook(
                messages_change(
                    statuses=[
                        status("wamid.out-2", "sent", recipient=ANA, at=T0 + 30),
                        failed("wamid.out-2", ANA, T0 + 31, 131047, "Re-engagement message"),
                        status("wamid.out-2", "delivered", recipient=ANA, at=T0 + 32),
                    ]
                )
            ),
        )
        await app.caught_up()
        rows = await app.rows(
            "select wamid, direction, sender, type, summary, sent_at, status, status_at,"
            " error_code, error_title from messages order by sent_at"
        )

    assert rows == [
        {"wamid": "wamid.in-1", "direction": "inbound", "sender": "customer", "type": "text",
         # Recorded long after WhatsApp's second: shown at the end of that second.
         "summary": "where is my order?", "sent_at": at(T0) + timedelta(microseconds=999_999),
         "status": None, "status_at": None,
         "error_code": None, "error_title": None},
        # Known only from its statuses: sent outside WazyBot; the earliest status dates it.
        {"wamid": "wamid.out-1", "direction": "outbound", "sender": "agent", "type": "unknown",
         "summary": None, "sent_at": at(T0 + 10), "status": "read", "status_at": at(T0 + 20),
         "error_code": None, "error_title": None},
        {"wamid": "wamid.out-2", "direction": "outbound", "sender": "agent", "type": "unknown",
         "summary": None, "sent_at": at(T0 + 30), "status": "failed", "status_at": at(T0 + 31),
         "error_code": 131047, "error_title": "Re-engagement message"},
    ]  # fmt: skip


async def test_failed_sends_and_webhook_problems_are_listed_as_errors(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    problem = messages_change()
    problem["value"]["errors"] = [{"code": 131000, "title": "Something went wrong",
                                   "message": "Something went wrong",
                                   "error_data": {"details": "Unknown error"}}]  # fmt: skip
    async with projected(pool, database_url) as app:
        await app.deliver(
            webhook(
                messages_change(
                    statuses=[failed("wamid.out-9", BEN, T0, 131026, "Message undeliverable")]
                )
            ),
            webhook(problem),
        )
        await app.caught_up()
        rows = await app.rows(
            "select business_id, kind, code, title, conversation_id, wamid from errors"
            " order by occurred_at, kind"
        )

    assert {"business_id": "acme", "kind": "send_failed", "code": 131026,
            "title": "Message undeliverable", "conversation_id":
            conversation_stream(PHONE_NUMBER_ID, BEN), "wamid": "wamid.out-9"} in rows  # fmt: skip
    assert [r["kind"] for r in rows].count("webhook_problem") == 1
    assert len(rows) == 2


async def test_hourly_metrics_count_messages_statuses_and_first_responses(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(
            # Ana writes twice, then the business answers 90 s after her first message.
            webhook(
                messages_change(
                    [
                        text_message(customer=ANA, sent_at=T0),
                        text_message(customer=ANA, sent_at=T0 + 10),
                    ]
                )
            ),
            webhook(
                messages_change(statuses=[status("wamid.r1", "sent", recipient=ANA, at=T0 + 90)])
            ),
            webhook(
                messages_change(
                    statuses=[
                        status("wamid.r1", "delivered", recipient=ANA, at=T0 + 95),
                        status("wamid.r1", "read", recipient=ANA, at=T0 + 99),
                    ]
                )
            ),
            # A second answer is not a first response; Ben's message stays unanswered.
            webhook(
                messages_change(statuses=[status("wamid.r2", "sent", recipient=ANA, at=T0 + 120)])
            ),
            webhook(messages_change([text_message(customer=BEN, sent_at=T0 + 130)])),
            webhook(
                messages_change(
                    statuses=[failed("wamid.r3", BEN, T0 + 140, 131026, "Message undeliverable")]
                )
            ),
        )
        await app.caught_up()
        (hour,) = await app.rows("select * from metrics_hourly")
        responses = await app.rows("select conversation_id, seconds from metrics_responses")

    assert hour["business_id"] == "acme"
    assert hour["hour"] == at(T0).replace(minute=0, second=0)
    assert {k: hour[k] for k in (
        "messages_received", "messages_sent", "messages_delivered", "messages_read",
        "messages_failed", "awaiting_response", "responded")} == {
        "messages_received": 3, "messages_sent": 3, "messages_delivered": 1,
        "messages_read": 1, "messages_failed": 1, "awaiting_response": 2, "responded": 1,
    }  # fmt: skip
    assert hour["response_seconds"] == 90
    assert responses == [{"conversation_id": ANA_CHAT, "seconds": 90}]


def varied_traffic() -> list[dict[str, Any]]:
    """Messages, replies and their statuses out of order, failures, a throttled burst."""
    bodies = [
        webhook(messages_change([text_message(customer=ANA, sent_at=T0 + n)]))
        for n in range(0, 50, 5)
    ]
    bodies += [
        webhook(messages_change(statuses=[status(f"wamid.o{n}", s, recipient=ANA, at=T0 + 60 + n)]))
        for n in range(5)
        for s in ("read", "sent", "delivered")
    ]
    bodies.append(webhook(messages_change(statuses=[
        failed("wamid.f1", BEN, T0 + 70, 131026, "Message undeliverable"),
        status("wamid.f1", "delivered", recipient=BEN, at=T0 + 71),
    ])))  # fmt: skip
    # Ben floods: 21 messages in a minute, then more while still throttled, each its own POST.
    bodies += [
        webhook(messages_change([text_message(customer=BEN, sent_at=T0 + 100 + n)]))
        for n in range(24)
    ]
    return bodies + identity_traffic() + template_traffic()


def template_traffic() -> list[dict[str, Any]]:
    """Template notifications, one older than the one before it (it must not win)."""

    def update(field: str, at_: int, **value: Any) -> dict[str, Any]:
        body = webhook({"field": field, "value": {"message_template_id": 41,
                        "message_template_name": "order_update",
                        "message_template_language": "en_US", **value}})  # fmt: skip
        body["entry"][0]["time"] = at_
        return body

    return [
        update("message_template_status_update", T0 + 300, event="APPROVED", reason="NONE",
               message_template_category="UTILITY"),
        update("message_template_quality_update", T0 + 310, previous_quality_score="GREEN",
               new_quality_score="YELLOW"),
        update("message_template_status_update", T0 + 290, event="PENDING", reason="NONE"),
        update("template_category_update", T0 + 320, new_category="MARKETING"),
    ]  # fmt: skip


def identity_traffic() -> list[dict[str, Any]]:
    """A customer whose number is withheld, then changes; echoes; a group; an unreadable part."""
    bsuid, new_bsuid = "US.55500000000000000001", "US.55500000000000000002"
    contacts = [{"profile": {"name": "Cleo", "username": "cleo"}, "user_id": bsuid}]
    metadata = {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID}

    def change(field: str = "messages", **value: Any) -> dict[str, Any]:
        return {"field": field, "value": {"metadata": metadata, **value}}

    def text(wamid: str, sent_at: int, **sender: Any) -> dict[str, Any]:
        return {"id": wamid, "timestamp": str(sent_at), "type": "text",
                "text": {"body": wamid}, **sender}  # fmt: skip

    changed = {"id": "wamid.cleo-changed", "timestamp": str(T0 + 203), "type": "system",
               "from": "15557770000", "from_user_id": bsuid,
               "system": {"type": "user_changed_number", "body": "changed", "wa_id": "15557770001",
                          "user_id": new_bsuid}}  # fmt: skip
    echo = {"from": "15550009999", "to_user_id": new_bsuid, "id": "wamid.cleo-echo",
            "timestamp": str(T0 + 205), "type": "text", "text": {"body": "Hi Cleo"}}  # fmt: skip
    return [
        webhook(change(contacts=[{"profile": {"name": "Cleo"}, "wa_id": "15557770000",
                                  "user_id": bsuid}],
                       messages=[text("wamid.cleo-1", T0 + 200, **{"from": "15557770000",
                                                                    "from_user_id": bsuid})])),
        webhook(change(contacts=contacts, messages=[text("wamid.cleo-2", T0 + 201,
                                                         from_user_id=bsuid)])),
        webhook(change(statuses=[{"id": "wamid.cleo-out", "status": "sent",
                                  "timestamp": str(T0 + 202), "recipient_user_id": bsuid}])),
        webhook(change(messages=[changed])),
        webhook(change("smb_message_echoes", message_echoes=[echo])),
        # An echo whose statuses came first, then one with its status in the same delivery.
        webhook(change(statuses=[{"id": "wamid.cleo-echo2", "status": "delivered",
                                  "timestamp": str(T0 + 209), "recipient_user_id": new_bsuid}])),
        webhook(change("smb_message_echoes", message_echoes=[
            {**echo, "id": "wamid.cleo-echo2", "timestamp": str(T0 + 208)}])),
        webhook(change("smb_message_echoes", message_echoes=[
                    {**echo, "id": "wamid.cleo-echo3", "timestamp": str(T0 + 210)}]),
                change(statuses=[{"id": "wamid.cleo-echo3", "status": "read",
                                  "timestamp": str(T0 + 211), "recipient_user_id": new_bsuid}])),
        webhook(change(messages=[{**text("wamid.group-1", T0 + 206, **{"from": "15557770001"}),
                                  "group_id": "G1"}]),
                change(messages=[{**text("wamid.bad", T0 + 207), "timestamp": "soon"}])),
    ]  # fmt: skip


def handoff(event: DomainEvent, kind: str) -> NewEvent:
    return NewEvent(event, uuid.uuid4(), EventMetadata(correlation_id=kind))


def reply(customer: str, by: RequestedBy, at_: int) -> NewEvent:
    message_id = str(uuid.uuid4())
    queued = OutboundMessageQueued(
        message_id=message_id, business_id="acme",
        conversation_stream=conversation_stream(PHONE_NUMBER_ID, customer),
        phone_number_id=PHONE_NUMBER_ID, recipient=Recipient(phone_number=customer),
        message=TextMessage(body="On it"), requested_by=by, queued_at=at(at_),
    )  # fmt: skip
    return NewEvent(queued, queued_event_id(message_id))


async def with_catalogs(app: Projected) -> None:
    """Two businesses' catalogs: added, changed, then partly replaced."""
    importer = CatalogImporter(app.store)
    for business in ("acme", "globex"):
        rows = [(n, {"id": f"p{n}", "name": f"Produit {n}", "description": "", "price": f"{n}.5",
                     "currency": "EUR", "stock": str(n % 2)}) for n in range(2, 8)]  # fmt: skip
        await importer.import_rows(business, rows)
        await importer.import_rows(business, [(2, {**rows[0][1], "stock": "9"})], replace=True)


async def with_handoffs(app: Projected) -> None:
    """Ana is escalated, read, writes again, answered by an agent, resolved; Ben is
    escalated by the assistant after its reply and stays so."""
    ben = conversation_stream(PHONE_NUMBER_ID, BEN)
    await app.store.append(ANA_CHAT, [
        reply(ANA, "ai", T0 + 51),
        handoff(ConversationEscalated(business_id="acme", cause="customer_asked",
                                      reason="Wants a person", by="ai", at=at(T0 + 52)), "e"),
        handoff(ConversationMarkedRead(business_id="acme", at=at(T0 + 53), by="Marie"), "r"),
    ])  # fmt: skip
    await app.deliver(*[
        webhook(messages_change([text_message(customer=ANA, sent_at=T0 + 54 + n)]))
        for n in range(2)
    ])  # fmt: skip
    await app.store.append(ANA_CHAT, [
        reply(ANA, "agent", T0 + 80),
        handoff(ConversationResolved(business_id="acme", at=at(T0 + 90), by="Marie"), "s"),
    ])  # fmt: skip
    await app.store.append(ben, [
        reply(BEN, "ai", T0 + 130),
        handoff(ConversationEscalated(business_id="acme", cause="keyword", reason="refund",
                                      by="ai", at=at(T0 + 131), assignee="Paul"), "e"),
    ])  # fmt: skip


async def with_orders(app: Projected) -> None:
    """Ana is recommended a product, orders it, confirms it and it ships; a second order of
    hers is cancelled."""
    rows = (ListRow(id="product_tee", title="T-shirt"),)
    recommended = OutboundMessageQueued(
        message_id=str(uuid.uuid4()), business_id="acme", conversation_stream=ANA_CHAT,
        phone_number_id=PHONE_NUMBER_ID, recipient=Recipient(phone_number=ANA),
        message=ListMessage(body="Voici", button="Voir", sections=(ListSection(rows=rows),)),
        requested_by="system", queued_at=at(T0 + 59),
    )  # fmt: skip
    await app.store.append(ANA_CHAT, [NewEvent(recommended, uuid.uuid4())])
    item = OrderItem(product_id="tee", name="T-shirt", quantity=2, unit_price=1990)

    def moved(order_id: str, n: int) -> list[DomainEvent]:
        when = at(T0 + 60 + n)
        if order_id == "o2":
            return [OrderCancelled(business_id="acme", order_id="o2", at=when, by="business")]
        kind = OrderConfirmed if n == 1 else OrderShipped
        return [kind(business_id="acme", order_id=order_id, at=when)]

    for order_id, changes in (("o1", 2), ("o2", 1)):
        placed = OrderPlaced(business_id="acme", order_id=order_id, conversation_stream=ANA_CHAT,
                             items=(item,), currency="EUR", total=3980, source="catalog_order",
                             at=at(T0 + 60))  # fmt: skip
        events: list[DomainEvent] = [placed]
        for n in range(1, changes + 1):
            events += moved(order_id, n)
        await app.store.append(order_stream("acme", order_id),
                               [NewEvent(e, uuid.uuid4()) for e in events])  # fmt: skip


async def test_a_batch_split_anywhere_gives_the_same_read_models(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    """Batches of one event and batches of hundreds must agree: no state kept in memory."""
    async with projected(pool, database_url, settings=replace(FAST, batch_size=1)) as app:
        await app.deliver(*varied_traffic())
        await with_handoffs(app)
        await with_orders(app)
        await with_catalogs(app)
        await app.caught_up()
    one_by_one = await read_models(pool)
    replayed = await replayed_read_models(pool, database_url, batch_size=500)

    assert one_by_one == replayed
    chats = {r["id"]: r for r in one_by_one["conversations"]}
    ana, ben = chats[ANA_CHAT], chats[conversation_stream(PHONE_NUMBER_ID, BEN)]
    assert (ana["status"], ana["assignee"], ana["escalated_at"], ana["unread_count"]) == (
        "bot", None, None, 2,
    )  # fmt: skip
    assert (ben["status"], ben["assignee"], ben["escalation_cause"], ben["escalated_by"]) == (
        "escalated", "Paul", "keyword", "ai",
    )  # fmt: skip
    assert ben["unread_count"] == 24
    hours = one_by_one["metrics_hourly"]
    sums = {c: sum(h[c] for h in hours) for c in (
        "handoffs", "ai_responses", "agent_responses", "ai_first_responses",
        "agent_first_responses")}  # fmt: skip
    # The agent's reply answers Ana's turn after the read; the echoes answer Cleo's.
    assert sums == {"handoffs": 2, "ai_responses": 2, "agent_responses": 4,
                    "ai_first_responses": 2, "agent_first_responses": 2}  # fmt: skip
    replies = sorted((r["replied_by"], r["seconds"]) for r in one_by_one["metrics_replies"])
    # Ana: asked at T0, the assistant at +51; asked again at +54, the agent at +80. Ben:
    # from +100 to the assistant at +130. Cleo: from +200 to the business app's echo at +205.
    assert replies == [("agent", 5.0), ("agent", 26.0), ("ai", 30.0), ("ai", 51.0)]
    orders = {r["order_id"]: r for r in one_by_one["orders"]}
    assert (orders["o1"]["status"], orders["o1"]["confirmed_at"]) == ("shipped", at(T0 + 61))
    assert (orders["o2"]["status"], orders["o2"]["confirmed_at"]) == ("cancelled", None)
    assert len(one_by_one["order_recommendations"]) == 1
    quiet = ("metrics_waiting", "received_media")  # this traffic holds no media
    assert all(one_by_one[table] for table in READ_MODEL_TABLES if table not in quiet)
    ben = conversation_stream(PHONE_NUMBER_ID, BEN)
    (row,) = [r for r in one_by_one["conversations"] if r["id"] == ben]
    assert row["throttled"] is True
    # The 21st message crossed the limit; the burst's first one leaves the window a minute on.
    assert row["throttled_until"] == at(T0 + 100 + 60)
    new_bsuid = "US.55500000000000000002"
    (cleo,) = [r for r in one_by_one["conversations"] if r["customer_username"] == "cleo"]
    assert (cleo["customer_phone"], cleo["customer_user_id"]) == ("15557770001", new_bsuid)
    assert cleo["customer_identifiers"] == sorted(
        ["15557770000", "15557770001", "@cleo", "US.55500000000000000001", new_bsuid]
    )
    assert cleo["last_message_direction"] == "outbound"
    (group,) = [r for r in one_by_one["conversations"] if r["group_id"] == "G1"]
    assert (group["customer_phone"], group["customer_name"]) == (None, None)
    assert [r["kind"] for r in one_by_one["errors"]].count("unreadable_change") == 1
    (template,) = one_by_one["templates"]
    assert (template["status"], template["quality"], template["category"]) == (
        "APPROVED",
        "YELLOW",
        "MARKETING",
    )
    echoes = {r["wamid"]: r for r in one_by_one["messages"] if "echo" in (r["wamid"] or "")}
    assert {w: (r["sender"], r["status"]) for w, r in echoes.items()} == {
        "wamid.cleo-echo": ("agent", None),
        "wamid.cleo-echo2": ("agent", "delivered"),
        "wamid.cleo-echo3": ("agent", "read"),
    }


async def test_statuses_and_messages_in_one_batch_are_not_lost_when_batches_are_small(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    """A placeholder row's date moves to the earliest status seen, whatever the batching."""
    async with projected(pool, database_url) as app:
        await app.deliver(
            webhook(
                messages_change(statuses=[status("wamid.x", "delivered", recipient=ANA, at=T0 + 5)])
            ),
            webhook(
                messages_change(statuses=[status("wamid.x", "sent", recipient=ANA, at=T0 + 1)])
            ),
        )
        await app.caught_up()
        (row,) = await app.rows("select sent_at, status from messages")
    assert row == {"sent_at": at(T0 + 1), "status": "delivered"}
    assert timedelta(seconds=4) == at(T0 + 5) - row["sent_at"]


async def test_a_number_that_changes_owner_starts_new_conversations_for_the_new_business(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url) as app:
        await app.deliver(webhook(messages_change([text_message("to acme", customer=ANA,
                                                                sent_at=T0)])))  # fmt: skip
        # The number now belongs to Globex (as after `wazybot business add` takes it over).
        app.ingestor = WebhookIngestor(
            app.store, InMemoryBusinessDirectory([replace(GLOBEX, phone_number_ids=(
                PHONE_NUMBER_ID,))])
        )  # fmt: skip
        await app.deliver(webhook(messages_change([text_message("to globex", customer=ANA,
                                                                sent_at=T0 + 60)])))  # fmt: skip
        await app.caught_up()
        rows = await app.rows(
            "select business_id, id, last_message_preview, unread_count from conversations"
            " order by business_id"
        )
        waiting = await app.rows("select business_id from metrics_waiting order by 1")

    assert rows == [
        {"business_id": "acme", "id": ANA_CHAT, "last_message_preview": "to acme",
         "unread_count": 1},
        {"business_id": "globex", "id": ANA_CHAT, "last_message_preview": "to globex",
         "unread_count": 1},
    ]  # fmt: skip
    assert waiting == [{"business_id": "acme"}, {"business_id": "globex"}]
