"""The order commands on real PostgreSQL: each in its own transaction, as two processes
would run them, with the reads of both done before either writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.orders import PostgresOrderUnits
from application.codec import EventCodec
from application.event_log import AppendRequest, AppendResult, NewEvent, RecordedEvent
from application.orders import OrderDesk, OrderUnit, StatusCommand
from application.templates import TemplateBook
from domain.catalog import Product, ProductListed, catalog_stream
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from domain.handoff import ConversationEscalated
from domain.inbound import ChoiceContent, Content, InboundMessage, OrderContent, TextContent
from domain.inbound import OrderItem as CartItem
from domain.orders import order_id_for, order_stream
from domain.outbound import ReplyButtonsMessage, TextMessage
from domain.outbox import OutboundMessageQueued

NUMBER = "1122334455667"
ANA = "15550004001"
CHAT = conversation_stream(NUMBER, ANA)


class Gate:
    """Holds every unit's first append until ``parties`` units have read and want to write."""

    def __init__(self, parties: int) -> None:
        self._parties = parties
        self._arrived = 0
        self._open = asyncio.Event()

    async def wait(self) -> None:
        self._arrived += 1
        if self._arrived >= self._parties:
            self._open.set()
        await asyncio.wait_for(self._open.wait(), 10)


class GatedUnit:
    def __init__(self, unit: OrderUnit, gate: Gate) -> None:
        self._unit = unit
        self._gate: Gate | None = gate

    @property
    def templates(self) -> TemplateBook:
        return self._unit.templates

    async def read(self, stream_id: str) -> list[RecordedEvent]:
        return await self._unit.read(stream_id)

    async def read_newest(self, stream_id: str, limit: int) -> list[RecordedEvent]:
        return await self._unit.read_newest(stream_id, limit)

    async def append(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        gate, self._gate = self._gate, None
        if gate is not None:
            await gate.wait()
        return await self._unit.append(requests)

    async def remembered(self, business_id: str, key: str) -> Any:
        return await self._unit.remembered(business_id, key)

    async def remember(self, business_id: str, key: str, fingerprint: str, answer_id: str) -> Any:
        return await self._unit.remember(business_id, key, fingerprint, answer_id)


class GatedUnits:
    def __init__(self, units: PostgresOrderUnits, gate: Gate) -> None:
        self._units = units
        self._gate = gate

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[GatedUnit]:
        async with self._units.begin() as unit:
            yield GatedUnit(unit, self._gate)


def received(wamid: str, content: Content, message_type: str) -> NewEvent:
    message = InboundMessage(
        phone_number_id=NUMBER, customer_id=ANA, wamid=wamid, sent_at=datetime.now(UTC),
        type=message_type, content=content,
    )  # fmt: skip
    return NewEvent(MessageReceived(business_id="acme", message=message), message_event_id(wamid))


async def customer_sends(store: PostgresEventStore, new: NewEvent) -> RecordedEvent:
    await store.append(CHAT, [new])
    recorded = await store.read_stream(CHAT)
    return next(r for r in recorded if r.event_id == new.event_id)


def cart(*items: tuple[str, int]) -> OrderContent:
    return OrderContent(catalog_id="c", items=tuple(
        CartItem(product_retailer_id=p, quantity=q, item_price=1.0, currency="EUR")
        for p, q in items))  # fmt: skip


def tap(button: str) -> ChoiceContent:
    return ChoiceContent(choice="button", reply_id=button, title="Confirm")


async def queued_to_ana(store: PostgresEventStore) -> list[OutboundMessageQueued]:
    return [r.event for r in await store.read_stream(CHAT)
            if isinstance(r.event, OutboundMessageQueued)]  # fmt: skip


async def setting_up(pool: asyncpg.Pool[Any]) -> tuple[PostgresEventStore, PostgresOrderUnits]:
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    tee = Product(product_id="tee", name="T-shirt", description="", price=1990, currency="EUR",
                  stock=3, retailer_id="SKU-TEE")  # fmt: skip
    listed = NewEvent(ProductListed(business_id="acme", product=tee), uuid.uuid4())
    await store.append(catalog_stream("acme"), [listed])
    await store.append(CHAT, [received("wamid.hi", TextContent(body="Hello, a shirt please"),
                                       "text")])  # fmt: skip
    return store, PostgresOrderUnits(pool, store)


async def take(desk: OrderDesk, units: Any, recorded: RecordedEvent) -> str:
    async with units.begin() as unit:
        return await desk.take_message(unit, recorded)


async def test_a_cart_handled_twice_places_one_order_with_one_summary(
    pool: asyncpg.Pool[Any],
) -> None:
    store, units = await setting_up(pool)
    desk = OrderDesk(units)
    the_cart = await customer_sends(store, received("wamid.cart", cart(("SKU-TEE", 2)), "order"))
    assert await take(desk, units, the_cart) == "placed"
    assert await take(desk, units, the_cart) == "placed"  # a replay stores nothing new
    order_id = order_id_for("acme", "wamid.cart")
    assert [r.type for r in await store.read_stream(order_stream("acme", order_id))] == [
        "order.placed"]  # fmt: skip
    (summary,) = await queued_to_ana(store)
    assert isinstance(summary.message, ReplyButtonsMessage)
    assert "2 x T-shirt: €39.80" in summary.message.body
    assert summary.requested_by == "system"

    too_many = await customer_sends(store, received("wamid.cart2", cart(("tee", 4)), "order"))
    assert await take(desk, units, too_many) == "refused"
    refusal = (await queued_to_ana(store))[-1].message
    assert refusal == TextMessage(body="Sorry, these items are not available in that quantity: "
                                  "T-shirt.")  # fmt: skip
    assert [r.type for r in await store.read_stream(
        order_stream("acme", order_id_for("acme", "wamid.cart2")))] == []  # fmt: skip


async def test_two_taps_racing_in_two_transactions_confirm_once(pool: asyncpg.Pool[Any]) -> None:
    store, units = await setting_up(pool)
    the_cart = await customer_sends(store, received("wamid.cart", cart(("tee", 1)), "order"))
    await take(OrderDesk(units), units, the_cart)
    order_id = order_id_for("acme", "wamid.cart")
    first = await customer_sends(store, received("wamid.t1", tap(f"confirm_order_{order_id}"),
                                                 "interactive"))  # fmt: skip
    second = await customer_sends(store, received("wamid.t2", tap(f"confirm_order_{order_id}"),
                                                  "interactive"))  # fmt: skip
    gated = GatedUnits(units, Gate(2))  # both read the pending order before either writes
    desk = OrderDesk(gated)
    outcomes = await asyncio.gather(take(desk, gated, first), take(desk, gated, second))

    assert sorted(outcomes) == ["changed", "not_pending"]
    assert [r.type for r in await store.read_stream(order_stream("acme", order_id))] == [
        "order.placed", "order.confirmed"]  # fmt: skip
    answers = [q.message for q in await queued_to_ana(store)][1:]
    bodies = sorted(m.body for m in answers if isinstance(m, TextMessage))
    assert bodies == [
        f"Thank you! Your order {order_id} is confirmed. Total: €19.90.",
        "This order is already confirmed, so that button changes nothing now.",
    ]


async def test_a_tap_and_the_business_racing_decide_on_the_order_as_it_stands(
    pool: asyncpg.Pool[Any],
) -> None:
    store, units = await setting_up(pool)
    the_cart = await customer_sends(store, received("wamid.cart", cart(("tee", 1)), "order"))
    await take(OrderDesk(units), units, the_cart)
    order_id = order_id_for("acme", "wamid.cart")
    confirm = await customer_sends(store, received("wamid.t1", tap(f"confirm_order_{order_id}"),
                                                   "interactive"))  # fmt: skip
    gated = GatedUnits(units, Gate(2))
    desk = OrderDesk(gated)
    cancel = StatusCommand(business_id="acme", order_id=order_id, status="cancelled", cause="t")
    tapped, cancelled = await asyncio.gather(take(desk, gated, confirm), desk.change_status(cancel))

    types = [r.type for r in await store.read_stream(order_stream("acme", order_id))]
    assert cancelled.order.status == "cancelled"
    # Whoever wrote second decided again: a cancelled order is not confirmed; a confirmed
    # one may still be cancelled by the business.
    assert types in (["order.placed", "order.cancelled"],
                     ["order.placed", "order.confirmed", "order.cancelled"])  # fmt: skip
    assert tapped == ("not_pending" if len(types) == 2 else "changed")


async def test_asking_to_change_an_order_hands_the_conversation_to_a_person_once(
    pool: asyncpg.Pool[Any],
) -> None:
    store, units = await setting_up(pool)
    desk = OrderDesk(units)
    the_cart = await customer_sends(store, received("wamid.cart", cart(("tee", 1)), "order"))
    await take(desk, units, the_cart)
    order_id = order_id_for("acme", "wamid.cart")
    for wamid in ("wamid.m1", "wamid.m2"):
        modify = await customer_sends(store, received(wamid, tap(f"modify_order_{order_id}"),
                                                      "interactive"))  # fmt: skip
        assert await take(desk, units, modify) == "changed"

    chat = [r.event for r in await store.read_stream(CHAT)]
    assert len([e for e in chat if isinstance(e, ConversationEscalated)]) == 1
    texts = [q.message for q in chat if isinstance(q, OutboundMessageQueued)][1:]
    assert len(texts) == 2
    assert all(isinstance(t, TextMessage) and "help you change your order" in t.body
               for t in texts)  # fmt: skip
    assert [r.type for r in await store.read_stream(order_stream("acme", order_id))] == [
        "order.placed", "order.change_requested", "order.change_requested"]  # fmt: skip
