"""The orders read model's changes: the same rows whatever the split into batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from application.event_log import FeedPosition, RecordedEvent
from application.order_projection import OrderChanges, order_changes
from domain.events import DomainEvent, EventMetadata
from domain.orders import OrderCancelled, OrderConfirmed, OrderItem, OrderPlaced, OrderShipped
from domain.outbound import ListMessage, ListRow, ListSection, Recipient, TextMessage
from domain.outbox import OutboundMessageQueued

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def recorded(event: DomainEvent, n: int) -> RecordedEvent:
    return RecordedEvent(stream_id="s", version=n, position=FeedPosition(1, n),
                         event_id=uuid.uuid4(), type="t", event=event, metadata=EventMetadata(),
                         recorded_at=T0)  # fmt: skip


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def queued(rows: tuple[str, ...] | None) -> OutboundMessageQueued:
    message = (TextMessage(body="hi") if rows is None else ListMessage(
        body="b", button="See", sections=(ListSection(rows=tuple(
            ListRow(id=r, title=r) for r in rows)),)))  # fmt: skip
    return OutboundMessageQueued(
        message_id=str(uuid.uuid4()), business_id="b", conversation_stream="conversation-1-2",
        phone_number_id="1", recipient=Recipient(phone_number="2"), message=message,
        requested_by="ai", queued_at=at(0),
    )  # fmt: skip


EVENTS: list[DomainEvent] = [
    queued(("product_tee", "other")),
    queued(("size_m",)),
    queued(None),
    OrderPlaced(business_id="b", order_id="o1", conversation_stream="conversation-1-2",
                items=(OrderItem(product_id="tee", name="T", quantity=1, unit_price=100),),
                currency="EUR", total=100, source="catalog_order", at=at(1)),
    OrderConfirmed(business_id="b", order_id="o1", at=at(2)),
    OrderShipped(business_id="b", order_id="o1", at=at(3)),
    OrderCancelled(business_id="b", order_id="ghost", at=at(4), by="business"),
]  # fmt: skip


def test_an_order_placed_and_moved_in_one_batch_is_one_new_row() -> None:
    changes = order_changes([recorded(e, n) for n, e in enumerate(EVENTS, start=1)])
    (row,) = changes.placed
    assert (row.order_id, row.status, row.confirmed_at, row.updated_at) == (
        "o1", "shipped", at(2), at(3))  # fmt: skip
    assert [m.order_id for m in changes.moved] == ["ghost"]  # an update that matches no row
    assert len(changes.recommendations) == 1


def test_moves_in_later_batches_keep_the_confirmation_time() -> None:
    batches = [order_changes([recorded(e, n)]) for n, e in enumerate(EVENTS, start=1)]
    confirmed, shipped = (b.moved[0] for b in batches[4:6])
    assert (confirmed.status, confirmed.confirmed_at) == ("confirmed", at(2))
    assert (shipped.status, shipped.confirmed_at) == ("shipped", None)  # the row keeps its own
    assert sum(len(b.recommendations) for b in batches) == 1
    assert batches[2] == OrderChanges([], [], [])
