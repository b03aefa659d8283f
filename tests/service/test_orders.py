"""The order commands with the in-memory store and templates: what they record and what the
customer is sent, inside and outside the 24-hour window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.orders import InMemoryOrderUnits
from adapters.memory.templates import InMemoryTemplateBook
from application.codec import EventCodec
from application.event_log import NewEvent, RecordedEvent
from application.order_settings import OrderSettingsService
from application.orders import (
    CustomerNotice,
    OrderDesk,
    OrderRefusal,
    OrderRefusedError,
    StatusCommand,
)
from application.templates import StoredTemplate
from domain.catalog import Product, ProductListed, catalog_stream
from domain.conversation import MessageReceived, conversation_stream, message_event_id
from domain.event_types import EVENT_TYPES
from domain.inbound import ChoiceContent, Content, InboundMessage, TextContent
from domain.order_settings import OrderSettingsChanges
from domain.orders import (
    BusinessStatus,
    OrderConfirmed,
    Requested,
    order_id_for,
    order_stream,
)
from domain.outbound import TemplateMessage, TextMessage
from domain.outbox import OutboundMessageQueued

CODEC = EventCodec(EVENT_TYPES)
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
NUMBER = "1122334455667"
ANA = "15550001111"
STREAM = conversation_stream(NUMBER, ANA)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self) -> None:
        self.store = InMemoryEventStore(CODEC)
        self.book = InMemoryTemplateBook(self.store)
        self.units = InMemoryOrderUnits(self.store, self.book)
        self.clock = Clock()
        self.desk = OrderDesk(self.units, clock=self.clock)

    async def customer(self, content: Content, wamid: str) -> RecordedEvent:
        message = InboundMessage(phone_number_id=NUMBER, customer_id=ANA, wamid=wamid,
                                 sent_at=self.clock.now, type="x", content=content)  # fmt: skip
        event = MessageReceived(business_id="acme", message=message)
        await self.store.append(STREAM, [NewEvent(event, message_event_id(wamid))])
        return (await self.store.read_stream(STREAM))[-1]

    async def place(self, product_id: str = "tee", quantity: int = 1) -> str:
        cause = f"wamid.{uuid.uuid4().hex}"
        async with self.units.begin() as unit:
            placed = await self.desk.place(
                unit, business_id="acme", conversation_stream=STREAM,
                requested=[Requested(product_id, quantity)], cause=cause, source="button",
            )  # fmt: skip
        assert placed == "placed"
        return order_id_for("acme", cause)

    async def confirm(self, order_id: str) -> None:
        event = OrderConfirmed(business_id="acme", order_id=order_id, at=self.clock.now)
        await self.store.append(order_stream("acme", order_id), [NewEvent(event, uuid.uuid4())])

    async def queued(self) -> list[OutboundMessageQueued]:
        return [r.event for r in await self.store.read_stream(STREAM)
                if isinstance(r.event, OutboundMessageQueued)]  # fmt: skip

    async def status(
        self, order_id: str, status: BusinessStatus, key: str | None = None
    ) -> CustomerNotice:
        command = StatusCommand(business_id="acme", order_id=order_id, status=status,
                                cause="test", idempotency_key=key,
                                request_fingerprint=f"{order_id}:{status}")  # fmt: skip
        return (await self.desk.change_status(command)).notice

    def template(self, name: str, language: str, body: str) -> None:
        self.book.put(StoredTemplate(
            business_id="acme", name=name, language=language, status="APPROVED",
            category="UTILITY", quality=None, components=[{"type": "BODY", "text": body}],
            template_id="1", updated_at=T0, last_event_id="e",
        ))  # fmt: skip


async def a_world(first_words: str = "Hello, I would like to order a shirt please") -> World:
    world = World()
    tee = Product(product_id="tee", name="Shirt", description="", price=1990, currency="EUR",
                  stock=5)  # fmt: skip
    await world.store.append(catalog_stream("acme"),
                             [NewEvent(ProductListed(business_id="acme", product=tee),
                                       uuid.uuid4())])  # fmt: skip
    await world.customer(TextContent(body=first_words), "wamid.hello")
    return world


async def test_a_status_notice_is_a_text_inside_the_window_and_a_template_outside() -> None:
    world = await a_world()
    first, second = await world.place(), await world.place()
    await world.confirm(first)
    await world.confirm(second)

    world.clock.now = T0 + timedelta(hours=1)
    assert await world.status(first, "shipped") is CustomerNotice.QUEUED
    notice = (await world.queued())[-1]
    assert notice.message == TextMessage(body=f"Good news: your order {first} has been shipped.")
    assert notice.requested_by == "system"

    world.clock.now = T0 + timedelta(hours=30)  # the customer's last message is 30 hours old
    assert await world.status(first, "delivered") is CustomerNotice.NOT_SENT
    assert (await world.queued())[-1] == notice  # nothing new queued; the order moved anyway

    world.template("order_status", "en_US", "Order {{1}} is now {{2}}.")
    settings = OrderSettingsService(world.store)
    await settings.change("acme", OrderSettingsChanges(status_template="order_status",
                                                      template_language_en="en_US"))  # fmt: skip
    assert await world.status(second, "cancelled") is CustomerNotice.QUEUED
    template = (await world.queued())[-1].message
    assert template == TemplateMessage(name="order_status", language="en_US",
                                       body_parameters=(second, "cancelled"))  # fmt: skip


async def test_a_template_that_does_not_take_the_order_parameters_tells_nobody() -> None:
    world = await a_world()
    order_id = await world.place()
    await world.confirm(order_id)
    world.template("order_status", "en", "Your order moved.")  # no parameters
    await OrderSettingsService(world.store).change(
        "acme", OrderSettingsChanges(status_template="order_status")
    )
    world.clock.now = T0 + timedelta(days=2)
    before = await world.queued()
    assert await world.status(order_id, "shipped") is CustomerNotice.NOT_SENT
    assert await world.queued() == before
    types = [r.type for r in await world.store.read_stream(order_stream("acme", order_id))]
    assert types[-1] == "order.shipped"


async def test_a_confirmation_outside_the_window_without_a_template_still_confirms() -> None:
    world = await a_world()
    order_id = await world.place()
    tap = await world.customer(
        ChoiceContent(choice="button", reply_id=f"confirm_order_{order_id}", title="Confirm"),
        "wamid.tap",
    )
    world.clock.now = T0 + timedelta(hours=25)
    async with world.units.begin() as unit:
        assert await world.desk.take_message(unit, tap) == "changed"
    assert [q.message for q in await world.queued() if isinstance(q.message, TextMessage)] == []
    types = [r.type for r in await world.store.read_stream(order_stream("acme", order_id))]
    assert types == ["order.placed", "order.confirmed"]


async def test_the_business_moves_only_what_the_status_allows_and_keys_replay() -> None:
    world = await a_world()
    order_id = await world.place()
    with pytest.raises(OrderRefusedError) as early:
        await world.status(order_id, "shipped")
    assert early.value.refusal is OrderRefusal.MOVE_NOT_ALLOWED
    assert "only a confirmed order can be marked shipped" in early.value.message
    with pytest.raises(OrderRefusedError) as unknown:
        await world.status("o-nothing", "cancelled")
    assert unknown.value.refusal is OrderRefusal.NOT_FOUND

    assert await world.status(order_id, "cancelled", key="k1") is CustomerNotice.QUEUED
    assert await world.status(order_id, "cancelled", key="k1") is CustomerNotice.QUEUED
    assert await world.status(order_id, "cancelled") is CustomerNotice.UNCHANGED
    with pytest.raises(OrderRefusedError) as reused:
        await world.status(order_id, "delivered", key="k1")
    assert reused.value.refusal is OrderRefusal.KEY_REUSED
    cancellations = [q for q in await world.queued() if "cancelled" in str(q.message)]
    assert len(cancellations) == 1


async def test_refusals_and_summaries_speak_the_customers_language() -> None:
    world = await a_world("Bonjour, je voudrais commander une chemise")
    async with world.units.begin() as unit:
        refused = await world.desk.place(
            unit, business_id="acme", conversation_stream=STREAM,
            requested=[Requested("tee", 9)], cause="wamid.big", source="button",
        )  # fmt: skip
    assert refused == "refused"
    (refusal,) = await world.queued()
    assert refusal.message == TextMessage(
        body="Désolé, ces articles ne sont plus disponibles en quantité suffisante\u00a0: Shirt."
    )
    assert order_id_for("acme", "wamid.big") not in str(world.store._streams)
