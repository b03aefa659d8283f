"""What a batch of events changes in the orders read model, decided without I/O.

Orders placed in the batch become new rows, with every later change of the same batch
already applied; changes of orders placed earlier become one update per order (its status
after the batch), so any split of the log into batches gives the same rows. A recommendation
is a list message queued for a customer with at least one ``product_`` row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from application.event_log import RecordedEvent
from domain.commerce_messages import chosen_product
from domain.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
    OrderStatus,
)
from domain.outbound import ListMessage
from domain.outbox import OutboundMessageQueued
from domain.public_ids import conversation_public_id


class OrderRow(NamedTuple):
    business_id: str
    order_id: str
    conversation_id: str
    status: str
    items: str  # JSON
    total: int
    currency: str
    source: str
    created_at: datetime
    confirmed_at: datetime | None
    updated_at: datetime


class OrderMove(NamedTuple):
    business_id: str
    order_id: str
    status: str
    confirmed_at: datetime | None
    updated_at: datetime


class RecommendationRow(NamedTuple):
    message_id: str
    business_id: str
    conversation_id: str
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class OrderChanges:
    placed: list[OrderRow]
    moved: list[OrderMove]
    recommendations: list[RecommendationRow]


_STATUS_OF: dict[type, OrderStatus] = {
    OrderConfirmed: "confirmed",
    OrderCancelled: "cancelled",
    OrderShipped: "shipped",
    OrderDelivered: "delivered",
}


def order_changes(events: Sequence[RecordedEvent]) -> OrderChanges:
    placed: dict[tuple[str, str], OrderRow] = {}
    moved: dict[tuple[str, str], OrderMove] = {}
    recommendations: list[RecommendationRow] = []
    for recorded in events:
        event = recorded.event
        if isinstance(event, OrderPlaced):
            placed[(event.business_id, event.order_id)] = _row(event)
        elif isinstance(event, OrderConfirmed | OrderCancelled | OrderShipped | OrderDelivered):
            _move(placed, moved, event, _STATUS_OF[type(event)])
        elif isinstance(event, OutboundMessageQueued) and _recommends(event):
            recommendations.append(RecommendationRow(
                event.message_id, event.business_id,
                conversation_public_id(event.business_id, event.conversation_stream),
                event.queued_at,
            ))  # fmt: skip
    return OrderChanges(list(placed.values()), list(moved.values()), recommendations)


def _row(event: OrderPlaced) -> OrderRow:
    items = [
        {"product_id": i.product_id, "name": i.name, "quantity": i.quantity,
         "unit_price": i.unit_price}
        for i in event.items
    ]  # fmt: skip
    return OrderRow(
        business_id=event.business_id, order_id=event.order_id,
        conversation_id=conversation_public_id(event.business_id, event.conversation_stream),
        status="pending", items=json.dumps(items, ensure_ascii=False), total=event.total,
        currency=event.currency, source=event.source, created_at=event.at, confirmed_at=None,
        updated_at=event.at,
    )  # fmt: skip


def _move(
    placed: dict[tuple[str, str], OrderRow],
    moved: dict[tuple[str, str], OrderMove],
    event: OrderConfirmed | OrderCancelled | OrderShipped | OrderDelivered,
    status: OrderStatus,
) -> None:
    key = (event.business_id, event.order_id)
    confirmed_at = event.at if status == "confirmed" else None
    row = placed.get(key)
    if row is not None:
        placed[key] = row._replace(
            status=status, updated_at=event.at, confirmed_at=confirmed_at or row.confirmed_at
        )
        return
    before = moved.get(key)
    kept = before.confirmed_at if before is not None else None
    moved[key] = OrderMove(event.business_id, event.order_id, status, confirmed_at or kept,
                           event.at)  # fmt: skip


def _recommends(event: OutboundMessageQueued) -> bool:
    message = event.message
    if not isinstance(message, ListMessage):
        return False
    return any(chosen_product(row.id) for section in message.sections for row in section.rows)
