"""The orders as the API shows them (read from the orders read model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Protocol

from application.read_models import QueryError, View, doc
from domain.money import minor_digits
from domain.orders import Order, OrderStatus
from domain.public_ids import conversation_public_id

ORDER_STATUSES: tuple[OrderStatus, ...] = (
    "pending", "confirmed", "cancelled", "shipped", "delivered",
)  # fmt: skip


class OrderItemView(View, frozen=True):
    product_id: Annotated[str, doc("The catalog product's id.")]
    name: Annotated[str, doc("The product's name when the order was placed.")]
    quantity: Annotated[int, doc("How many.")]
    unit_price: Annotated[
        int, doc("The price of one, in the currency's minor unit (cents for EUR), as then.")
    ]


class OrderView(View, frozen=True):
    """One order, as the catalog priced it when it was placed."""

    id: Annotated[str, doc("The order's opaque id (also in the customer's button ids).")]
    conversation_id: Annotated[str, doc("The conversation it was placed in.")]
    status: Annotated[OrderStatus, doc("pending, confirmed, cancelled, shipped or delivered.")]
    items: Annotated[list[OrderItemView], doc("What was ordered.")]
    total: Annotated[int, doc("The total in the currency's minor unit.")]
    total_text: Annotated[str, doc("The total as a decimal number, e.g. 12.50.")]
    currency: Annotated[str, doc("ISO 4217 code.")]
    source: Annotated[str, doc("How it was placed: catalog_order, assistant, button or agent.")]
    created_at: Annotated[datetime, doc("When it was placed.")]
    confirmed_at: Annotated[datetime | None, doc("When the customer confirmed it.")]
    updated_at: Annotated[datetime, doc("Its last change.")]


class OrderPage(View, frozen=True):
    items: Annotated[list[OrderView], doc("Orders, newest placed first.")]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


class OrderStatusChange(View, frozen=True):
    order: Annotated[OrderView, doc("The order after this request.")]
    customer_notice: Annotated[
        Literal["queued", "not_sent", "unchanged"],
        doc(
            "queued: the customer is told (a text inside the 24-hour window, the business's "
            "order status template outside it); not_sent: the window is closed and no usable "
            "template is set, so the customer was not told; unchanged: the order had that "
            "status already."
        ),
    ]


class OrderQueries(Protocol):
    async def orders(
        self, business_id: str, status: OrderStatus | None, limit: int, cursor: str | None
    ) -> OrderPage: ...

    async def order(self, business_id: str, order_id: str) -> OrderView | None: ...


def order_status(raw: str | None) -> OrderStatus | None:
    if raw is None:
        return None
    for status in ORDER_STATUSES:
        if raw == status:
            return status
    raise QueryError("status", "must be one of " + ", ".join(ORDER_STATUSES))


def decimal_text(amount: int, currency: str) -> str:
    digits = minor_digits(currency)
    whole, fraction = divmod(abs(amount), 10**digits)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole}" + (f".{str(fraction).zfill(digits)}" if digits else "")


def order_view_of(order: Order) -> OrderView:
    """An order as its events describe it (what a command answers, before the read model
    has caught up)."""
    placed = order.placed
    return OrderView(
        id=placed.order_id,
        conversation_id=conversation_public_id(placed.business_id, placed.conversation_stream),
        status=order.status,
        items=[OrderItemView(product_id=i.product_id, name=i.name, quantity=i.quantity,
                             unit_price=i.unit_price) for i in placed.items],
        total=placed.total, total_text=decimal_text(placed.total, placed.currency),
        currency=placed.currency, source=placed.source, created_at=placed.at,
        confirmed_at=order.confirmed_at, updated_at=order.updated_at or placed.at,
    )  # fmt: skip
