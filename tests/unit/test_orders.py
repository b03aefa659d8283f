"""Orders are priced from the catalog and move only the ways their status allows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from domain.catalog import Product
from domain.conversation import MessageReceived
from domain.inbound import (
    ChoiceContent,
    Content,
    InboundMessage,
    OrderContent,
    QuickReplyContent,
    TextContent,
)
from domain.inbound import OrderItem as CartItem
from domain.orders import (
    NotPending,
    Order,
    OrderButton,
    OrderCancelled,
    OrderChangeRequested,
    OrderConfirmed,
    OrderDelivered,
    OrderItem,
    OrderPlaced,
    OrderRefused,
    OrderShipped,
    PricedOrder,
    Requested,
    StatusRefused,
    button_id,
    button_of,
    cart_requests,
    decide_business_status,
    decide_customer_action,
    is_order_message,
    order_button,
    order_event_id,
    order_id_for,
    order_message_id,
    order_of,
    price_order,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def product(product_id: str, price: int, stock: int = 5, currency: str = "EUR") -> Product:
    return Product(
        product_id=product_id,
        name=f"Produit {product_id}",
        description="",
        price=price,
        currency=currency,
        stock=stock,
    )


CATALOG = {
    "tee": product("tee", 1990),
    "mug": product("mug", 850, stock=1),
    "old": product("old", 500, stock=0),
    "usd": product("usd", 1000, currency="USD"),
    "gold": product("gold", 10**16, stock=1000),
}


def placed(status_events: list[object] | None = None) -> Order:
    event = OrderPlaced(
        business_id="b1",
        order_id="o1",
        conversation_stream="conversation-x",
        items=(OrderItem(product_id="tee", name="T", quantity=2, unit_price=1990),),
        currency="EUR",
        total=3980,
        source="assistant",
        at=NOW,
    )
    order = order_of([event, *(status_events or [])])  # type: ignore[list-item]
    assert order is not None
    return order


def test_an_order_is_priced_from_the_catalog_with_repeated_products_added_up() -> None:
    priced = price_order([Requested("tee", 1), Requested("mug", 1), Requested("tee", 1)], CATALOG)
    assert priced == PricedOrder(
        items=(
            OrderItem(product_id="tee", name="Produit tee", quantity=2, unit_price=1990),
            OrderItem(product_id="mug", name="Produit mug", quantity=1, unit_price=850),
        ),
        currency="EUR",
        total=4830,
    )


@pytest.mark.parametrize(
    ("requested", "refused"),
    [
        ([], OrderRefused("empty")),
        ([Requested("tee", 0)], OrderRefused("empty")),
        ([Requested("nope", 1), Requested("tee", 1)], OrderRefused("unknown_product", ("nope",))),
        ([Requested("old", 1)], OrderRefused("out_of_stock", ("Produit old",))),
        ([Requested("mug", 2)], OrderRefused("out_of_stock", ("Produit mug",))),
        ([Requested("tee", 1001)], OrderRefused("too_many")),
        ([Requested("gold", 1000)], OrderRefused("too_many")),  # a total beyond a bigint
        (
            [Requested("tee", 1), Requested("usd", 1)],
            OrderRefused("mixed_currencies", ("Produit tee", "Produit usd")),
        ),
    ],
)
def test_an_order_that_cannot_be_placed_says_why(
    requested: list[Requested], refused: OrderRefused
) -> None:
    assert price_order(requested, CATALOG) == refused


def test_the_same_cause_gives_the_same_order_id_and_buttons_name_it() -> None:
    first = order_id_for("b1", "wamid.A")
    assert first == order_id_for("b1", "wamid.A") != order_id_for("b2", "wamid.A")
    assert order_button(button_id("confirm", first)) == OrderButton("confirm", first)
    assert order_button(f"modify_order_{first}") == OrderButton("modify", first)
    assert order_button(f"cancel_order_{first}") == OrderButton("cancel", first)
    assert order_button("product_tee") is None
    assert order_button("confirm_order_") is None
    assert order_button("confirm_order_a b") is None


def test_a_pending_order_takes_each_customer_button() -> None:
    order = placed()
    assert isinstance(decide_customer_action(order, "confirm", NOW), OrderConfirmed)
    assert isinstance(decide_customer_action(order, "modify", NOW), OrderChangeRequested)
    cancelled = decide_customer_action(order, "cancel", NOW)
    assert isinstance(cancelled, OrderCancelled)
    assert cancelled.by == "customer"


def test_a_button_tapped_again_or_late_changes_nothing() -> None:
    confirmed = placed([OrderConfirmed(business_id="b1", order_id="o1", at=NOW)])
    assert confirmed.status == "confirmed"
    assert decide_customer_action(confirmed, "confirm", NOW) == NotPending("confirmed")
    assert decide_customer_action(confirmed, "cancel", NOW) == NotPending("confirmed")
    cancelled = placed([OrderCancelled(business_id="b1", order_id="o1", at=NOW, by="customer")])
    assert decide_customer_action(cancelled, "confirm", NOW) == NotPending("cancelled")


def test_a_change_request_leaves_the_order_pending() -> None:
    order = placed([OrderChangeRequested(business_id="b1", order_id="o1", at=NOW)])
    assert order.status == "pending"


def test_the_business_moves_an_order_along_its_life_only() -> None:
    pending = placed()
    confirmed = placed([OrderConfirmed(business_id="b1", order_id="o1", at=NOW)])
    shipped = placed(
        [
            OrderConfirmed(business_id="b1", order_id="o1", at=NOW),
            OrderShipped(business_id="b1", order_id="o1", at=NOW),
        ]
    )
    assert decide_business_status(pending, "shipped", NOW) == StatusRefused("pending", "shipped")
    assert isinstance(decide_business_status(confirmed, "shipped", NOW), OrderShipped)
    assert isinstance(decide_business_status(shipped, "delivered", NOW), OrderDelivered)
    assert decide_business_status(shipped, "shipped", NOW) is None  # a retried request
    assert decide_business_status(shipped, "cancelled", NOW) == StatusRefused(
        "shipped", "cancelled"
    )
    by_business = decide_business_status(pending, "cancelled", NOW)
    assert isinstance(by_business, OrderCancelled)
    assert by_business.by == "business"


def received(content: Content) -> MessageReceived:
    message = InboundMessage(phone_number_id="1", customer_id="15550001111", wamid="wamid.A",
                             sent_at=NOW, type="x", content=content)  # fmt: skip
    return MessageReceived(business_id="b1", message=message)


ORDER_ID = order_id_for("b1", "wamid.cart")


def test_carts_and_order_button_taps_are_order_messages_and_nothing_else() -> None:
    item = CartItem(product_retailer_id="SKU-1", quantity=1, item_price=1.0, currency="EUR")
    cart = OrderContent(catalog_id="c", items=(item,))
    tap = ChoiceContent(choice="button", reply_id=f"confirm_order_{ORDER_ID}", title="Confirm")
    quick = QuickReplyContent(payload=f"cancel_order_{ORDER_ID}", text="Cancel")
    assert is_order_message(received(cart))
    assert is_order_message(received(tap))
    assert is_order_message(received(quick))
    assert button_of(tap) == OrderButton("confirm", ORDER_ID)
    assert button_of(quick) == OrderButton("cancel", ORDER_ID)
    for other in (
        ChoiceContent(choice="list", reply_id=f"confirm_order_{ORDER_ID}", title="a list row"),
        ChoiceContent(choice="button", reply_id="yes", title="Yes"),
        ChoiceContent(choice="button", reply_id="confirm_order_b-o1", title="Not an order id"),
        TextContent(body=f"confirm_order_{ORDER_ID}"),
    ):
        assert not is_order_message(received(other))
    assert not is_order_message(OrderConfirmed(business_id="b1", order_id="o1", at=NOW))
    in_a_group = received(cart)
    in_a_group = MessageReceived(business_id="b1", message=msgspec.structs.replace(
        in_a_group.message, group_id="G1"))  # fmt: skip
    assert not is_order_message(in_a_group)


def test_a_cart_names_products_by_retailer_id_or_by_id() -> None:
    catalog = {
        "tee": Product(product_id="tee", name="T", description="", price=1, currency="EUR",
                       stock=1, retailer_id="SKU-TEE"),
        "mug": product("mug", 850),
    }  # fmt: skip
    cart = OrderContent(catalog_id="c", items=tuple(
        CartItem(product_retailer_id=p, quantity=q, item_price=1.0, currency="EUR")
        for p, q in (("SKU-TEE", 2), ("mug", 1), ("nope", 3))))  # fmt: skip
    assert cart_requests(cart, catalog) == [
        Requested("tee", 2), Requested("mug", 1), Requested("nope", 3)]  # fmt: skip


def test_an_order_remembers_when_it_was_confirmed_and_last_changed() -> None:
    later = NOW.replace(hour=12)
    order = placed([OrderConfirmed(business_id="b1", order_id="o1", at=NOW),
                    OrderShipped(business_id="b1", order_id="o1", at=later)])  # fmt: skip
    assert (order.status, order.confirmed_at, order.updated_at) == ("shipped", NOW, later)
    assert placed().updated_at is None


def test_each_change_is_named_by_its_cause_and_messages_by_their_purpose() -> None:
    assert (
        order_event_id("o1", "order.confirmed", "wamid.A")
        == order_event_id("o1", "order.confirmed", "wamid.A")
        != order_event_id("o1", "order.confirmed", "wamid.B")
    )
    message_id = order_message_id("b1", "wamid.A", "summary")
    assert message_id == str(uuid.UUID(message_id))  # a lowercase UUID, as the outbox keys it
    assert message_id != order_message_id("b1", "wamid.A", "refused")
