"""Orders are priced from the catalog and move only the ways their status allows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.catalog import Product
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
    decide_business_status,
    decide_customer_action,
    order_button,
    order_id_for,
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
