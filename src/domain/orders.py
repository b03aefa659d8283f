"""Orders: what a customer asked for, priced from the catalog, and the life it goes through.

An order is placed pending; the customer confirms, asks to modify, or cancels it with the
reply buttons of its summary; the business then marks it shipped, delivered, or cancelled.
Every change is an event on the order's own stream, decided from the order as it stands:
a button for an order that is no longer pending changes nothing and says why, so a stale
or repeated tap can never confirm twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeAlias, TypeVar

import msgspec

from domain.catalog import Product
from domain.conversation import MessageReceived
from domain.events import DomainEvent, deterministic_event_id
from domain.inbound import ChoiceContent, Content, OrderContent, QuickReplyContent
from domain.money import MAX_MINOR_AMOUNT

OrderStatus: TypeAlias = Literal["pending", "confirmed", "cancelled", "shipped", "delivered"]
OrderSource: TypeAlias = Literal["assistant", "button", "catalog_order", "agent"]
CustomerAction: TypeAlias = Literal["confirm", "modify", "cancel"]
BusinessStatus: TypeAlias = Literal["shipped", "delivered", "cancelled"]

ORDER_STREAM_PREFIX: Final = "order-"
MAX_QUANTITY: Final = 1000
MAX_ITEMS: Final = 100
# Order ids are "o" and 20 hex digits (order_id_for): nothing else can name an order's
# stream, whose name joins the business id (which may hold "-") and the order id.
_ORDER_ID: Final = r"o[0-9a-f]{20}"
_BUTTON: Final = re.compile(rf"^(confirm|modify|cancel)_order_({_ORDER_ID})$")
# Which status the business may move an order to, from which.
_BUSINESS_MOVES: Final[Mapping[BusinessStatus, frozenset[OrderStatus]]] = {
    "shipped": frozenset({"confirmed"}),
    "delivered": frozenset({"shipped"}),
    "cancelled": frozenset({"pending", "confirmed"}),
}


def order_id_for(business_id: str, cause: str) -> str:
    """A stable, opaque order id from what placed it (a message's wamid, a turn...), so the
    same cause handled twice places one order."""
    return "o" + deterministic_event_id("order", business_id, cause).hex[:20]


def is_order_id(text: str) -> bool:
    """Whether ``text`` has the shape of an order id (anything else names no order)."""
    return re.fullmatch(_ORDER_ID, text) is not None


def order_stream(business_id: str, order_id: str) -> str:
    return f"{ORDER_STREAM_PREFIX}{business_id}-{order_id}"


class OrderItem(msgspec.Struct, frozen=True, kw_only=True):
    product_id: str
    name: str
    quantity: int
    unit_price: int  # in the currency's minor unit, as the catalog said when it was placed

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


class OrderPlaced(DomainEvent, frozen=True, kw_only=True, tag="order.placed"):
    business_id: str
    order_id: str
    conversation_stream: str
    items: tuple[OrderItem, ...]
    currency: str
    total: int
    source: OrderSource
    at: datetime


class OrderChanged(DomainEvent, frozen=True, kw_only=True):
    """What every change of an order names (a base, never stored as such)."""

    business_id: str
    order_id: str
    at: datetime


class OrderConfirmed(OrderChanged, frozen=True, kw_only=True, tag="order.confirmed"):
    """The customer confirmed the pending order."""


class OrderChangeRequested(OrderChanged, frozen=True, kw_only=True, tag="order.change_requested"):
    """The customer asked to change a pending order; it stays pending."""


class OrderCancelled(OrderChanged, frozen=True, kw_only=True, tag="order.cancelled"):
    by: Literal["customer", "business"]


class OrderShipped(OrderChanged, frozen=True, kw_only=True, tag="order.shipped"):
    """The business sent the confirmed order on its way."""


class OrderDelivered(OrderChanged, frozen=True, kw_only=True, tag="order.delivered"):
    """The business says the order reached the customer."""


ORDER_EVENTS: Final = (
    OrderPlaced,
    OrderConfirmed,
    OrderChangeRequested,
    OrderCancelled,
    OrderShipped,
    OrderDelivered,
)
OrderEvent: TypeAlias = (
    OrderPlaced
    | OrderConfirmed
    | OrderChangeRequested
    | OrderCancelled
    | OrderShipped
    | OrderDelivered
)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as its events leave it."""

    placed: OrderPlaced
    status: OrderStatus = "pending"
    confirmed_at: datetime | None = None
    updated_at: datetime | None = None  # None: never changed since placed

    @property
    def order_id(self) -> str:
        return self.placed.order_id

    @property
    def business_id(self) -> str:
        return self.placed.business_id


def order_of(events: Iterable[DomainEvent]) -> Order | None:
    """The order a stream's events describe; None before it was placed."""
    order: Order | None = None
    for event in events:
        if isinstance(event, OrderPlaced):
            order = Order(event)
        elif order is not None:
            order = _moved(order, event)
    return order


def _moved(order: Order, event: DomainEvent) -> Order:
    match event:
        case OrderConfirmed():
            return Order(order.placed, "confirmed", event.at, event.at)
        case OrderCancelled():
            return Order(order.placed, "cancelled", order.confirmed_at, event.at)
        case OrderShipped():
            return Order(order.placed, "shipped", order.confirmed_at, event.at)
        case OrderDelivered():
            return Order(order.placed, "delivered", order.confirmed_at, event.at)
        case _:
            return order


# --- placing an order ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requested:
    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PricedOrder:
    items: tuple[OrderItem, ...]
    currency: str
    total: int


@dataclass(frozen=True, slots=True)
class OrderRefused:
    """Why no order can be placed; ``products`` names the items at fault, for the customer."""

    reason: Literal["empty", "unknown_product", "out_of_stock", "too_many", "mixed_currencies"]
    products: tuple[str, ...] = ()


def price_order(
    requested: Sequence[Requested], catalog: Mapping[str, Product]
) -> PricedOrder | OrderRefused:
    """The items priced from the catalog as it is now, or why the order cannot be placed.

    The same product asked for twice counts once with the quantities added up.
    """
    quantities = _merged(requested)
    if not quantities or len(quantities) > MAX_ITEMS:
        return OrderRefused("empty" if not quantities else "too_many")
    unknown = tuple(p for p in quantities if p not in catalog)
    if unknown:
        return OrderRefused("unknown_product", unknown)
    if any(q > MAX_QUANTITY for q in quantities.values()):
        return OrderRefused("too_many")
    products = [catalog[p] for p in quantities]
    short = tuple(p.name for p in products if p.stock < quantities[p.product_id])
    if short:
        return OrderRefused("out_of_stock", short)
    if len({p.currency for p in products}) > 1:
        return OrderRefused("mixed_currencies", tuple(p.name for p in products))
    items = tuple(_item(p, quantities[p.product_id]) for p in products)
    total = sum(i.amount for i in items)
    if total > MAX_MINOR_AMOUNT:
        return OrderRefused("too_many")
    return PricedOrder(items, products[0].currency, total)


def _merged(requested: Sequence[Requested]) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for wanted in requested:
        if wanted.quantity > 0:
            quantities[wanted.product_id] = quantities.get(wanted.product_id, 0) + wanted.quantity
    return quantities


def _item(product: Product, quantity: int) -> OrderItem:
    return OrderItem(
        product_id=product.product_id,
        name=product.name,
        quantity=quantity,
        unit_price=product.price,
    )


# --- what a button or the business may do ----------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderButton:
    action: CustomerAction
    order_id: str


def order_button(button_id: str) -> OrderButton | None:
    """``confirm_order_<id>``, ``modify_order_<id>``, ``cancel_order_<id>``; None otherwise."""
    found = _BUTTON.match(button_id)
    if found is None:
        return None
    return OrderButton(found.group(1), found.group(2))  # type: ignore[arg-type]


def button_id(action: CustomerAction, order_id: str) -> str:
    return f"{action}_order_{order_id}"


@dataclass(frozen=True, slots=True)
class NotPending:
    """The order has moved on: a late or repeated button changes nothing."""

    status: OrderStatus


def decide_customer_action(
    order: Order, action: CustomerAction, now: datetime
) -> OrderConfirmed | OrderChangeRequested | OrderCancelled | NotPending:
    if order.status != "pending":
        return NotPending(order.status)
    if action == "confirm":
        return _change(OrderConfirmed, order, now)
    if action == "modify":
        return _change(OrderChangeRequested, order, now)
    return OrderCancelled(
        business_id=order.business_id, order_id=order.order_id, at=now, by="customer"
    )


@dataclass(frozen=True, slots=True)
class StatusRefused:
    status: OrderStatus
    wanted: BusinessStatus


def decide_business_status(
    order: Order, wanted: BusinessStatus, now: datetime
) -> OrderShipped | OrderDelivered | OrderCancelled | StatusRefused | None:
    """The event moving the order to ``wanted``; None when it is there already (a retried
    request changes nothing), StatusRefused when that move is not allowed."""
    if order.status == wanted:
        return None
    if order.status not in _BUSINESS_MOVES[wanted]:
        return StatusRefused(order.status, wanted)
    if wanted == "shipped":
        return _change(OrderShipped, order, now)
    if wanted == "delivered":
        return _change(OrderDelivered, order, now)
    return OrderCancelled(
        business_id=order.business_id, order_id=order.order_id, at=now, by="business"
    )


_Change = TypeVar("_Change", OrderConfirmed, OrderChangeRequested, OrderShipped, OrderDelivered)


def _change(kind: type[_Change], order: Order, now: datetime) -> _Change:
    return kind(business_id=order.business_id, order_id=order.order_id, at=now)


# --- which customer messages the orders process manager takes ---------------------------


def button_of(content: Content) -> OrderButton | None:
    """The order button a reply-button tap (or a template's quick reply) names; None else."""
    if isinstance(content, ChoiceContent) and content.choice == "button":
        return order_button(content.reply_id)
    if isinstance(content, QuickReplyContent):
        return order_button(content.payload)
    return None


ProductAction: TypeAlias = Literal["show", "order", "more"]
PRODUCT_ROW_PREFIX: Final = "product_"
ORDER_PRODUCT_PREFIX: Final = "order_product_"
MORE_PRODUCTS: Final = "more_products"
_PRODUCT_ID: Final = r"(.{1,100})"  # catalog ids are at most 100 characters


@dataclass(frozen=True, slots=True)
class ProductTap:
    """A tap on a recommended product (a list row), on its "order" button (one of it), or
    on "other products" (``product_id`` is None)."""

    action: ProductAction
    product_id: str | None = None


_PRODUCT_TAPS: Final = (
    ("list", re.compile(rf"^{PRODUCT_ROW_PREFIX}{_PRODUCT_ID}$", re.DOTALL), "show"),
    ("button", re.compile(rf"^{ORDER_PRODUCT_PREFIX}{_PRODUCT_ID}$", re.DOTALL), "order"),
)


def product_tap_of(content: Content) -> ProductTap | None:
    """The product tap a list reply or reply-button tap is; None for any other message."""
    if not isinstance(content, ChoiceContent):
        return None
    if content.choice == "button" and content.reply_id == MORE_PRODUCTS:
        return ProductTap("more")
    for choice, pattern, action in _PRODUCT_TAPS:
        found = pattern.match(content.reply_id) if content.choice == choice else None
        if found is not None:
            return ProductTap(action, found.group(1))  # type: ignore[arg-type]
    return None


def is_order_message(event: DomainEvent) -> bool:
    """A customer message that the orders process manager answers: a catalog cart, a tap
    on an order's button, or on a recommended product and its buttons, in a one-to-one
    conversation (nothing is sent to groups). Such a message must not start an assistant
    turn as well."""
    if not isinstance(event, MessageReceived) or event.message.group_id is not None:
        return False
    content = event.message.content
    return (
        isinstance(content, OrderContent)
        or button_of(content) is not None
        or product_tap_of(content) is not None
    )


def cart_requests(cart: OrderContent, catalog: Mapping[str, Product]) -> list[Requested]:
    """A catalog cart's items as requested products: a ``product_retailer_id`` names the
    product whose retailer id it is, else the product with that id; one that names neither
    stays as given, so pricing refuses it as unknown."""
    by_retailer = {p.retailer_id: p.product_id for p in catalog.values() if p.retailer_id}
    return [
        Requested(by_retailer.get(item.product_retailer_id, item.product_retailer_id),
                  item.quantity)
        for item in cart.items
    ]  # fmt: skip


# --- deterministic ids -------------------------------------------------------------------


def order_event_id(order_id: str, change: str, cause: str = "once") -> uuid.UUID:
    """An order is placed once (the default cause); each change once per cause (the message
    or request that asked for it)."""
    return deterministic_event_id("order", order_id, change, cause)


def order_message_id(business_id: str, cause: str, purpose: str) -> str:
    """The id of a message the orders process queues, from what caused it, so a cause
    handled twice queues it once."""
    return str(deterministic_event_id("order.message", business_id, cause, purpose))
