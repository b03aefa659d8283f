"""Orders through the real path: the customer's catalog cart and button taps arrive as signed
webhooks, the orders process manager answers through the outbox, the Cloud API simulator
receives what the customer would see, and the API reads and moves the orders."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.whatsapp.simulator import inbound
from application.event_log import NewEvent
from application.read_models import encode_cursor
from domain.catalog import Product, ProductListed, catalog_stream
from domain.conversation import conversation_stream
from domain.events import DomainEvent
from domain.order_settings import OrderSettingsChanges
from domain.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderItem,
    OrderPlaced,
    OrderShipped,
    order_id_for,
    order_stream,
)
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world
from tests.support.webhooks import PHONE_NUMBER_ID, encode, messages_change, signed_headers, webhook

ANA = "15550003001"
BO = "15550003002"
BUSINESS = "default"  # the business the environment configures

GLOBEX_ORDER = order_id_for("globex", "wamid.globex-cart")
BACK_ORDER = order_id_for(BUSINESS, "wamid.old-cart")


def product(product_id: str, price: int, stock: int, retailer_id: str | None = None) -> Product:
    return Product(product_id=product_id, name=f"Produit {product_id}", description="",
                   price=price, currency="EUR", stock=stock, retailer_id=retailer_id)  # fmt: skip


async def list_products(world: SendingWorld, *products: Product) -> None:
    store = await resolve(world.container.event_store())
    events = [NewEvent(ProductListed(business_id=BUSINESS, product=p), uuid.uuid4())
              for p in products]  # fmt: skip
    await store.append(catalog_stream(BUSINESS), events)


def sent_to(world: SendingWorld, customer: str) -> list[dict[str, Any]]:
    return [b for b in world.sim.sent_bodies() if b.get("to") == customer]


def texts_to(world: SendingWorld, customer: str) -> list[str]:
    return [b["text"]["body"] for b in sent_to(world, customer) if b.get("type") == "text"]


async def summary_for(world: SendingWorld, customer: str) -> dict[str, Any]:
    """The order summary the customer received (a message with reply buttons)."""

    async def found() -> dict[str, Any] | None:
        interactive = [b for b in sent_to(world, customer) if b.get("type") == "interactive"]
        buttons = [b for b in interactive if b["interactive"]["type"] == "button"
                   and button_ids(b)[0].startswith("confirm_order_")]  # fmt: skip
        return buttons[-1] if buttons else None

    summary: dict[str, Any] = await world.eventually(found)
    return summary


def button_ids(summary: dict[str, Any]) -> list[str]:
    return [b["reply"]["id"] for b in summary["interactive"]["action"]["buttons"]]


async def tap(world: SendingWorld, customer: str, button: str) -> str:
    wamid, delivery = await world.sim.customer_sends(
        inbound.button_reply(button, "Confirmer", reply_to="wamid.summary"), phone=customer
    )
    assert delivery.ok, delivery.error
    return wamid


async def order_events(world: SendingWorld, order_id: str, business: str = BUSINESS) -> list[str]:
    store = await resolve(world.container.event_store())
    return [r.type for r in await store.read_stream(order_stream(business, order_id))]


async def api_order(world: SendingWorld, order_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        answer = await world.http.get(f"/api/v1/orders/{order_id}")
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 and body["status"] == status else None

    order: dict[str, Any] = await world.eventually(reached)
    return order


async def texts_reach(world: SendingWorld, customer: str, count: int) -> list[str]:
    async def enough() -> list[str] | None:
        texts = texts_to(world, customer)
        return texts if len(texts) >= count else None

    texts: list[str] = await world.eventually(enough)
    return texts


async def test_a_catalog_cart_is_placed_confirmed_once_and_shipped(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await list_products(world, product("tee", 1990, 5, retailer_id="SKU-TEE"),
                            product("mug", 850, 1))  # fmt: skip
        await world.customer_writes("Bonjour, je cherche un t-shirt", ANA)
        chat = await world.conversation_of(ANA)
        recommended = await world.send(chat, {"list": {
            "body": "Voici", "button": "Voir", "sections": [{"rows": [
                {"id": "product_tee", "title": "T-shirt"}]}]}})  # fmt: skip
        assert recommended.status_code == 202, recommended.text
        cart = inbound.order("catalog-1", [("SKU-TEE", 2, 19.9, "EUR"), ("mug", 1, 8.5, "EUR")])
        _, delivery = await world.sim.customer_sends(cart, phone=ANA)
        assert delivery.ok

        summary = await summary_for(world, ANA)
        confirm, modify, cancel = button_ids(summary)
        order_id = confirm.removeprefix("confirm_order_")
        assert (modify, cancel) == (f"modify_order_{order_id}", f"cancel_order_{order_id}")
        assert [b["reply"]["title"] for b in summary["interactive"]["action"]["buttons"]] == [
            "Confirmer", "Modifier", "Annuler"]  # fmt: skip
        assert "2 x Produit tee" in summary["interactive"]["body"]["text"]
        pending = await api_order(world, order_id, "pending")
        assert (pending["total"], pending["currency"], pending["total_text"]) == (
            4830,
            "EUR",
            "48.30",
        )
        assert pending["conversation_id"] == chat
        assert pending["source"] == "catalog_order"
        assert [(i["product_id"], i["quantity"], i["unit_price"]) for i in pending["items"]] == [
            ("tee", 2, 1990), ("mug", 1, 850)]  # fmt: skip

        # Two taps racing: one confirmation, and a polite answer for the other.
        await asyncio.gather(tap(world, ANA, confirm), tap(world, ANA, confirm))
        confirmed = await api_order(world, order_id, "confirmed")
        assert confirmed["confirmed_at"] is not None
        texts = await texts_reach(world, ANA, 2)
        assert sum(order_id in t and "est confirmée" in t for t in texts) == 1, texts
        assert sum("déjà confirmée" in t for t in texts) == 1, texts
        # A stale button (cancel after confirming) changes nothing.
        await tap(world, ANA, cancel)
        await texts_reach(world, ANA, 3)
        assert await order_events(world, order_id) == ["order.placed", "order.confirmed"]

        shipped = await world.http.post(f"/api/v1/orders/{order_id}/status",
                                        json={"status": "shipped"},
                                        headers={"Idempotency-Key": "ship-1"})  # fmt: skip
        assert shipped.status_code == 200, shipped.text
        assert shipped.json()["order"]["status"] == "shipped"
        assert shipped.json()["customer_notice"] == "queued"
        texts = await texts_reach(world, ANA, 4)
        assert f"Bonne nouvelle\u00a0: votre commande {order_id} a été expédiée." in texts
        again = await world.http.post(f"/api/v1/orders/{order_id}/status",
                                      json={"status": "shipped"},
                                      headers={"Idempotency-Key": "ship-1"})  # fmt: skip
        assert again.status_code == 200
        assert again.json()["customer_notice"] == "queued"  # the first answer, nothing new
        reused = await world.http.post(f"/api/v1/orders/{order_id}/status",
                                       json={"status": "delivered"},
                                       headers={"Idempotency-Key": "ship-1"})  # fmt: skip
        assert reused.status_code == 422
        assert reused.json()["error"] == "idempotency_key_reused"
        assert await order_events(world, order_id) == [
            "order.placed", "order.confirmed", "order.shipped"]  # fmt: skip

        await api_order(world, order_id, "shipped")
        metrics = (await world.http.get("/api/v1/metrics")).json()["current"]
        assert (metrics["orders"], metrics["confirmed_orders"]) == (1, 1)
        assert metrics["revenue"] == [{"currency": "EUR", "amount": 4830}]
        assert metrics["recommendations_sent"] == 1
        assert metrics["recommended_conversations"] == 1
        assert metrics["converted_conversations"] == 1
        assert metrics["recommendation_conversion"] == 1.0
        listed = (await world.http.get("/api/v1/orders", params={"status": "shipped"})).json()
        assert [o["id"] for o in listed["items"]] == [order_id]
        assert (await world.http.get("/api/v1/orders", params={"status": "pending"})).json()[
            "items"] == []  # fmt: skip


async def test_a_button_for_another_business_or_customer_changes_nothing(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        store = await resolve(world.container.event_store())
        theirs = OrderPlaced(
            business_id="globex", order_id=GLOBEX_ORDER, conversation_stream="conversation-x",
            items=(OrderItem(product_id="p", name="P", quantity=1, unit_price=100),),
            currency="EUR", total=100, source="button", at=datetime.now(UTC),
        )  # fmt: skip
        await store.append(order_stream("globex", GLOBEX_ORDER), [NewEvent(theirs, uuid.uuid4())])
        await list_products(world, product("tee", 1990, 5))
        _, delivery = await world.sim.customer_sends(
            inbound.order("c", [("tee", 1, 19.9, "EUR")]), phone=BO
        )
        assert delivery.ok
        bo_order = button_ids(await summary_for(world, BO))[0].removeprefix("confirm_order_")
        await world.customer_writes("Bonjour", ANA)

        await tap(world, ANA, f"confirm_order_{GLOBEX_ORDER}")  # another business's order
        await tap(world, ANA, f"cancel_order_{bo_order}")  # another customer's order
        texts = await texts_reach(world, ANA, 2)
        assert all("Nous ne trouvons pas cette commande" in t for t in texts), texts
        assert await order_events(world, GLOBEX_ORDER, "globex") == ["order.placed"]
        assert await order_events(world, bo_order) == ["order.placed"]
        unknown = await world.http.post(f"/api/v1/orders/{GLOBEX_ORDER}/status",
                                        json={"status": "cancelled"})  # fmt: skip
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "not_found"
        assert (await world.http.get(f"/api/v1/orders/{GLOBEX_ORDER}")).status_code == 404
        too_soon = await world.http.post(f"/api/v1/orders/{bo_order}/status",
                                         json={"status": "shipped"})  # fmt: skip
        assert too_soon.status_code == 409
        assert too_soon.json()["error"] == "order_status_conflict"
        bad = await world.http.post(f"/api/v1/orders/{bo_order}/status",
                                    json={"status": "lost"})  # fmt: skip
        assert bad.status_code == 400
        assert (await world.http.get("/api/v1/orders", params={"status": "x"})).status_code == 400
        assert await order_events(world, bo_order) == ["order.placed"]


async def test_unknown_or_out_of_stock_items_are_refused_and_place_nothing(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await list_products(world, product("mug", 850, 1), product("old", 500, 0))
        for items in ([("nope", 1, 1.0, "EUR")], [("mug", 2, 8.5, "EUR")],
                      [("old", 1, 5.0, "EUR")]):  # fmt: skip
            _, delivery = await world.sim.customer_sends(inbound.order("c", items), phone=ANA)
            assert delivery.ok
        texts = await texts_reach(world, ANA, 3)
        assert "Ces articles ne sont pas dans notre catalogue\u00a0: nope." in texts
        assert sum("plus disponibles en quantité suffisante" in t for t in texts) == 2
        assert not [b for b in sent_to(world, ANA) if b.get("type") == "interactive"]
        assert (await world.http.get("/api/v1/orders")).json()["items"] == []


async def deliver_late(world: SendingWorld, customer: str, message: dict[str, Any],
                       hours_ago: float, wamid: str | None = None) -> None:  # fmt: skip
    """A customer's message Meta delivers with its old timestamp (a delayed delivery)."""
    sent_at = int(time.time() - hours_ago * 3600)
    message = {"from": customer, "id": wamid or f"wamid.late-{uuid.uuid4().hex}",
               "timestamp": str(sent_at), **message}  # fmt: skip
    raw = encode(webhook(messages_change([message])))
    answer = await world.http.post("/webhooks/whatsapp", content=raw, headers=signed_headers(raw))
    assert answer.status_code == 200, answer.text


def tapped(button: str) -> dict[str, Any]:
    reply = {"type": "button_reply", "button_reply": {"id": button, "title": "Confirmer"}}
    return {"type": "interactive", "interactive": reply}


async def test_outside_the_window_confirmations_and_notices_go_out_as_templates(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        world.sim.add_template("order_confirmed", "fr", [
            {"type": "BODY", "text": "Commande {{1}} confirmée : {{2}}."}])  # fmt: skip
        world.sim.add_template("order_status", "fr", [
            {"type": "BODY", "text": "Votre commande {{1}} est {{2}}."}])  # fmt: skip
        await world.sync_templates()
        settings = await resolve(world.container.order_settings())
        await settings.change(
            BUSINESS, OrderSettingsChanges(confirmation_template="order_confirmed")
        )
        await list_products(world, product("tee", 1990, 5))
        store = await resolve(world.container.event_store())

        # A cart Meta delivers 26 hours late is no longer an immediate wish: nothing is placed.
        cart = {"type": "order", "order": {"catalog_id": "c", "product_items": [
            {"product_retailer_id": "tee", "quantity": 1, "item_price": 19.9,
             "currency": "EUR"}]}}  # fmt: skip
        await deliver_late(world, ANA, cart, hours_ago=26)
        chat = await world.conversation_of(ANA)
        # An order placed back then, when its summary went out.
        stream = conversation_stream(PHONE_NUMBER_ID, ANA)
        placed = OrderPlaced(
            business_id=BUSINESS, order_id=BACK_ORDER, conversation_stream=stream,
            items=(OrderItem(product_id="tee", name="Produit tee", quantity=1, unit_price=1990),),
            currency="EUR", total=1990, source="catalog_order",
            at=datetime.now(UTC) - timedelta(hours=26),
        )  # fmt: skip
        await store.append(order_stream(BUSINESS, BACK_ORDER), [NewEvent(placed, uuid.uuid4())])

        # Its confirmation tap, delivered 25 hours late: the window is closed.
        await deliver_late(world, ANA, tapped(f"confirm_order_{BACK_ORDER}"), hours_ago=25)
        await api_order(world, BACK_ORDER, "confirmed")

        def templates_sent(count: int) -> Callable[[], Any]:
            async def sent() -> list[dict[str, Any]] | None:
                found = [b["template"] for b in sent_to(world, ANA) if b.get("type") == "template"]
                return found if len(found) >= count else None

            return sent

        (template,) = await world.eventually(templates_sent(1))
        assert template["name"] == "order_confirmed"
        assert template["language"] == {"code": "fr"}
        parameters = template["components"][0]["parameters"]
        assert [p["text"] for p in parameters] == [BACK_ORDER, "19,90\u00a0€"]
        assert texts_to(world, ANA) == []  # no free text outside the window
        assert (await world.http.get("/api/v1/orders", params={"status": "pending"})).json()[
            "items"] == []  # the late cart placed nothing  # fmt: skip

        # No status template: the order ships all the same, and the answer says so.
        shipped = await world.http.post(
            f"/api/v1/orders/{BACK_ORDER}/status", json={"status": "shipped"}
        )
        assert shipped.status_code == 200, shipped.text
        assert shipped.json()["customer_notice"] == "not_sent"
        assert shipped.json()["order"]["status"] == "shipped"
        assert shipped.json()["order"]["conversation_id"] == chat
        await settings.change(BUSINESS, OrderSettingsChanges(status_template="order_status"))
        delivered = await world.http.post(f"/api/v1/orders/{BACK_ORDER}/status",
                                          json={"status": "delivered"})  # fmt: skip
        assert delivered.json()["customer_notice"] == "queued", delivered.text
        _, notice = await world.eventually(templates_sent(2))
        assert notice["name"] == "order_status"
        assert [p["text"] for p in notice["components"][0]["parameters"]] == [BACK_ORDER, "livrée"]


async def test_a_tap_meta_delivers_twice_confirms_once(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await list_products(world, product("tee", 1990, 5))
        await world.customer_writes("Hello, I would like a shirt please", ANA)
        _, delivery = await world.sim.customer_sends(
            inbound.order("c", [("tee", 1, 19.9, "EUR")]), phone=ANA
        )
        assert delivery.ok
        summary = await summary_for(world, ANA)
        assert [b["reply"]["title"] for b in summary["interactive"]["action"]["buttons"]] == [
            "Confirm", "Change", "Cancel"]  # fmt: skip
        confirm = button_ids(summary)[0]
        order_id = confirm.removeprefix("confirm_order_")
        for _ in range(2):  # the same message (one wamid), delivered again
            await deliver_late(world, ANA, tapped(confirm), hours_ago=0, wamid="wamid.tap-1")
        await api_order(world, order_id, "confirmed")
        (text,) = await texts_reach(world, ANA, 1)
        assert text == f"Thank you! Your order {order_id} is confirmed. Total: €19.90."
        assert await order_events(world, order_id) == ["order.placed", "order.confirmed"]
        # A later, distinct tap is answered politely and changes nothing either.
        await tap(world, ANA, confirm)
        texts = await texts_reach(world, ANA, 2)
        assert texts[1] == "This order is already confirmed, so that button changes nothing now."
        assert await order_events(world, order_id) == ["order.placed", "order.confirmed"]


async def test_carts_and_order_buttons_start_no_assistant_turn(database_url: str) -> None:
    async with sending_world(database_url, WAZYBOT_AUTO_REPLIES="true") as world:
        await list_products(world, product("tee", 1990, 5))
        await world.customer_writes("Bonjour", BO)
        _, delivery = await world.sim.customer_sends(
            inbound.order("c", [("tee", 1, 19.9, "EUR")]), phone=BO
        )
        assert delivery.ok
        confirm = button_ids(await summary_for(world, BO))[0]
        await tap(world, BO, confirm)
        await api_order(world, confirm.removeprefix("confirm_order_"), "confirmed")
        store = await resolve(world.container.event_store())
        chat = conversation_stream(PHONE_NUMBER_ID, BO)

        async def turns_settled() -> list[str] | None:
            types = [r.type for r in await store.read_stream(chat)]
            # The assistant's turn for "Bonjour" is taken; the orders answered the rest.
            done = "assistant.turn_completed" in types or "assistant.turn_failed" in types
            return types if done and types.count("outbound.queued") >= 3 else None

        types = await world.eventually(turns_settled)
        assert types.count("assistant.turn_requested") == 1, types


async def test_metrics_count_confirmed_orders_and_revenue_per_currency(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        store = await resolve(world.container.event_store())
        now = datetime.now(UTC)
        await world.customer_writes("Bonjour", ANA)
        await world.customer_writes("Bonjour", BO)
        bo_chat = await world.conversation_of(BO)
        rows = [{"id": "product_cap", "title": "Cap"}]
        recommendation = {"body": "Voici", "button": "Voir", "sections": [{"rows": rows}]}
        listed = await world.send(bo_chat, {"list": recommendation})
        assert listed.status_code == 202
        oa, ob, oc, od = (f"o{letter * 20}" for letter in "abcd")  # ids as order_id_for makes
        orders = (  # (id, customer, currency, total, moves)
            (oa, ANA, "EUR", 1000, ("order.confirmed",)),
            (ob, ANA, "USD", 700, ("order.confirmed", "order.shipped")),
            (oc, ANA, "EUR", 5000, ("order.confirmed", "order.cancelled")),
            (od, BO, "EUR", 300, ()),
        )
        for order_id, customer, currency, total, moves in orders:
            await store.append(order_stream(BUSINESS, order_id), [
                NewEvent(event, uuid.uuid4()) for event in order_life(
                    order_id, conversation_stream(PHONE_NUMBER_ID, customer), currency, total,
                    moves, now)])  # fmt: skip

        async def counted() -> dict[str, Any] | None:
            figures: dict[str, Any] = (await world.http.get("/api/v1/metrics")).json()["current"]
            return figures if figures["orders"] == 4 else None

        figures = await world.eventually(counted)
        # Placed at the same instant: pages break the tie by id, and meet every order once.
        first = (await world.http.get("/api/v1/orders", params={"limit": 3})).json()
        rest = (await world.http.get("/api/v1/orders", params={
            "limit": 3, "cursor": first["next_cursor"]})).json()  # fmt: skip
        assert [o["id"] for o in first["items"] + rest["items"]] == [od, oc, ob, oa]
        assert rest["next_cursor"] is None
        bad = await world.http.get("/api/v1/orders", params={"cursor": "nonsense"})
        assert (bad.status_code, bad.json()["parameter"]) == (400, "cursor")
        assert figures["confirmed_orders"] == 2  # oc was cancelled after its confirmation
        assert figures["revenue"] == [{"currency": "EUR", "amount": 1000},
                                      {"currency": "USD", "amount": 700}]  # fmt: skip
        # Bo was recommended a product but never confirmed an order; Ana was not sent a list.
        assert (figures["recommendations_sent"], figures["recommended_conversations"],
                figures["converted_conversations"], figures["recommendation_conversion"]) == (
            1, 1, 0, 0.0)  # fmt: skip


def order_life(
    order_id: str, stream: str, currency: str, total: int, moves: tuple[str, ...], now: datetime
) -> list[DomainEvent]:
    item = OrderItem(product_id="p", name="P", quantity=1, unit_price=total)
    events: list[DomainEvent] = [OrderPlaced(
        business_id=BUSINESS, order_id=order_id, conversation_stream=stream, items=(item,),
        currency=currency, total=total, source="catalog_order", at=now)]  # fmt: skip
    kinds: dict[str, Any] = {"order.confirmed": OrderConfirmed, "order.shipped": OrderShipped}
    for move in moves:
        if move == "order.cancelled":
            events.append(OrderCancelled(business_id=BUSINESS, order_id=order_id, at=now,
                                         by="business"))  # fmt: skip
        else:
            events.append(kinds[move](business_id=BUSINESS, order_id=order_id, at=now))
    return events


async def test_the_order_button_of_one_product_message_places_one_order(
    database_url: str,
) -> None:
    """A second tap on the same product's "order" button shows the same order again; the
    button of another product message (the same product shown again) orders anew."""
    async with sending_world(database_url) as world:
        await list_products(world, product("tee", 1990, 5))
        await world.customer_writes("Bonjour", ANA)

        async def order_tap(on_message: str) -> None:
            _, delivery = await world.sim.customer_sends(
                inbound.button_reply("order_product_tee", "Commander", reply_to=on_message),
                phone=ANA,
            )
            assert delivery.ok, delivery.error

        async def summaries(count: int) -> list[str]:
            async def enough() -> list[str] | None:
                found = [button_ids(b)[0] for b in sent_to(world, ANA)
                         if b.get("type") == "interactive"
                         and button_ids(b)[0].startswith("confirm_order_")]  # fmt: skip
                return found if len(found) >= count else None

            confirms: list[str] = await world.eventually(enough)
            return confirms

        await order_tap("wamid.product-shown-once")
        await order_tap("wamid.product-shown-once")
        first, again = await summaries(2)
        await order_tap("wamid.product-shown-later")
        *_, other = await summaries(3)
        listed = await world.http.get("/api/v1/orders")

    assert first == again
    assert other != first
    assert len(listed.json()["items"]) == 2


async def test_each_tap_on_the_order_button_of_a_sold_out_product_is_answered(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await list_products(world, product("tee", 1990, 0))
        await world.customer_writes("Bonjour", ANA)
        for _ in range(2):
            _, delivery = await world.sim.customer_sends(
                inbound.button_reply("order_product_tee", "Commander", reply_to="wamid.shown"),
                phone=ANA,
            )
            assert delivery.ok, delivery.error
        texts = await texts_reach(world, ANA, 2)
        listed = await world.http.get("/api/v1/orders")

    assert all("plus disponibles" in text for text in texts[-2:])
    assert listed.json()["items"] == []


async def test_an_order_id_or_cursor_the_api_never_gave_is_refused_not_a_server_error(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        answers = [
            await world.http.get("/api/v1/orders/a%00b"),
            await world.http.post("/api/v1/orders/a%00b/status", json={"status": "shipped"}),
            await world.http.get("/api/v1/orders/o0123456789abcdef0123"),
        ]
        cursors = [encode_cursor(10**18, GLOBEX_ORDER), encode_cursor(1, "a\x00b")]
        paged = [await world.http.get("/api/v1/orders", params={"cursor": c}) for c in cursors]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert [p.status_code for p in paged] == [400, 400]
    assert all(p.json()["parameter"] == "cursor" for p in paged)
