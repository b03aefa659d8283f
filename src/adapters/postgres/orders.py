"""Orders on PostgreSQL: the unit of work the order commands run in, the process manager
that answers carts and order buttons in its batch transaction, and the orders read model's
queries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import msgspec
import structlog

from adapters.postgres import idempotency
from adapters.postgres.connection import PgConnection
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.templates import stored_template
from application.event_log import AppendRequest, AppendResult, RecordedEvent
from application.idempotency import KeyToRemember, RememberedKey
from application.order_views import (
    OrderItemView,
    OrderPage,
    OrderView,
    decimal_text,
)
from application.orders import ORDERS_SUBSCRIBER, OrderDesk, takes
from application.read_models import (
    LATEST,
    MetricsFigures,
    QueryError,
    RevenueView,
    cursor_number,
    decode_cursor,
    encode_cursor,
)
from application.templates import StoredTemplate, TemplateBook
from domain.orders import OrderStatus, is_order_id

log = structlog.get_logger(__name__)

_READ_SQL: Final = """
select stream_id, version, global_position, tx::text as tx_text, event_id, type, data, metadata,
       recorded_at
from events where stream_id = $1 order by version
"""
_READ_NEWEST_SQL: Final = """
select stream_id, version, global_position, tx::text as tx_text, event_id, type, data, metadata,
       recorded_at
from events where stream_id = $1 order by version desc limit $2
"""


class _ConnectionTemplates:
    """The templates read model read on the unit's own connection."""

    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def template(self, business_id: str, name: str, language: str) -> StoredTemplate | None:
        row = await self._connection.fetchrow(
            "select * from templates where business_id = $1 and name = $2 and language = $3",
            business_id, name, language,
        )  # fmt: skip
        return stored_template(row) if row is not None else None

    async def templates_named(self, business_id: str, name: str) -> list[StoredTemplate]:
        rows = await self._connection.fetch(
            "select * from templates where business_id = $1 and name = $2 order by language",
            business_id, name,
        )  # fmt: skip
        return [stored_template(r) for r in rows]

    async def all_templates(self, business_id: str) -> list[StoredTemplate]:
        rows = await self._connection.fetch(
            "select * from templates where business_id = $1 order by name, language", business_id
        )
        return [stored_template(r) for r in rows]


class PostgresOrderUnit:
    def __init__(self, connection: PgConnection, store: PostgresEventStore) -> None:
        self._connection = connection
        self._store = store
        self._templates = _ConnectionTemplates(connection)

    @property
    def templates(self) -> TemplateBook:
        return self._templates

    async def read(self, stream_id: str) -> list[RecordedEvent]:
        rows = await self._connection.fetch(_READ_SQL, stream_id)
        return [self._store.decode_row(row) for row in rows]

    async def read_newest(self, stream_id: str, limit: int) -> list[RecordedEvent]:
        rows = await self._connection.fetch(_READ_NEWEST_SQL, stream_id, limit)
        return [self._store.decode_row(row) for row in rows]

    async def append(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        return await self._store.append_on(self._connection, requests)

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None:
        return await idempotency.remembered(self._connection, business_id, key)

    async def remember(self, key: KeyToRemember) -> RememberedKey | None:
        return await idempotency.remember(self._connection, key)


class PostgresOrderUnits:
    def __init__(self, pool: asyncpg.Pool[Any], store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[PostgresOrderUnit]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresOrderUnit(connection, self._store)


class OrdersSubscriber:
    """The orders process manager: answers each catalog cart, order-button and product tap,
    and places the orders assistant turns decide, in the batch's transaction, so its events
    commit with its checkpoint. It only reads and appends (messages go to the outbox):
    nothing slow runs inside the batch."""

    name = ORDERS_SUBSCRIBER

    def __init__(self, desk: OrderDesk, store: PostgresEventStore) -> None:
        self._desk = desk
        self._store = store

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        unit = PostgresOrderUnit(tx, self._store)
        for recorded in events:
            if takes(recorded.event):
                with structlog.contextvars.bound_contextvars(
                    business_id=getattr(recorded.event, "business_id", None)
                ):
                    await self._desk.take_message(unit, recorded)


# --- the read model's queries ------------------------------------------------------------

_ORDERS_PAGE_SQL: Final = """
select * from orders
where business_id = $1
  and ($2::text is null or status = $2)
  and ($3::timestamptz is null or (created_at, order_id) < ($3, $4))
order by created_at desc, order_id desc
limit $5
"""


class PostgresOrderQueries:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def orders(
        self, business_id: str, status: OrderStatus | None, limit: int, cursor: str | None
    ) -> OrderPage:
        after_time = after_id = None
        if cursor is not None:
            micros, order_id = decode_cursor(cursor, (int, str))
            after_time = _from_micros(cursor_number(micros, _LATEST_MICROS))
            after_id = str(order_id)
            if not is_order_id(after_id):
                raise QueryError("cursor", "is not a cursor this API returned")
        rows = await self._pool.fetch(_ORDERS_PAGE_SQL, business_id, status, after_time,
                                      after_id, limit + 1)  # fmt: skip
        items = [order_view(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(_micros(last["created_at"]), last["order_id"])
        return OrderPage(items=items, next_cursor=next_cursor)

    async def order(self, business_id: str, order_id: str) -> OrderView | None:
        row = await self._pool.fetchrow(
            "select * from orders where business_id = $1 and order_id = $2", business_id, order_id
        )
        return order_view(row) if row is not None else None


def order_view(row: asyncpg.Record) -> OrderView:
    items = json.loads(row["items"])
    return OrderView(
        id=row["order_id"], conversation_id=row["conversation_id"], status=row["status"],
        items=[OrderItemView(**item) for item in items], total=row["total"],
        total_text=decimal_text(row["total"], row["currency"]), currency=row["currency"],
        source=row["source"], created_at=row["created_at"], confirmed_at=row["confirmed_at"],
        updated_at=row["updated_at"],
    )  # fmt: skip


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


_LATEST_MICROS: Final = (LATEST - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


# --- the order metrics (added to the metrics endpoint's figures) --------------------------

_ORDER_COUNTS_SQL: Final = """
with first_recommended as (
    select conversation_id, min(queued_at) as first_at from order_recommendations
    where business_id = $1 and queued_at >= $2 and queued_at < $3
    group by conversation_id
)
select
    (select count(*) from orders
     where business_id = $1 and created_at >= $2 and created_at < $3) as placed,
    (select count(*) from orders
     where business_id = $1 and confirmed_at >= $2 and confirmed_at < $3
       and status <> 'cancelled') as confirmed,
    (select count(*) from order_recommendations
     where business_id = $1 and queued_at >= $2 and queued_at < $3) as recommendations,
    (select count(*) from first_recommended) as recommended,
    (select count(*) from first_recommended f
     where exists (select 1 from orders o
                   where o.business_id = $1 and o.conversation_id = f.conversation_id
                     and o.created_at >= f.first_at and o.confirmed_at is not null
                     and o.status <> 'cancelled')) as converted
"""
_REVENUE_SQL: Final = """
select currency, sum(total)::bigint as amount from orders
where business_id = $1 and confirmed_at >= $2 and confirmed_at < $3 and status <> 'cancelled'
group by currency order by currency
"""


async def with_order_figures(
    connection: PgConnection, business_id: str, start: datetime, end: datetime,
    figures: MetricsFigures,
) -> MetricsFigures:  # fmt: skip
    """``figures`` with the order metrics of [start, end) filled in."""
    counts = await connection.fetchrow(_ORDER_COUNTS_SQL, business_id, start, end)
    assert counts is not None
    revenue = await connection.fetch(_REVENUE_SQL, business_id, start, end)
    recommended = counts["recommended"]
    return msgspec.structs.replace(
        figures,
        orders=counts["placed"], confirmed_orders=counts["confirmed"],
        revenue=[RevenueView(currency=r["currency"], amount=r["amount"]) for r in revenue],
        recommendations_sent=counts["recommendations"],
        recommended_conversations=recommended,
        converted_conversations=counts["converted"],
        recommendation_conversion=(
            round(counts["converted"] / recommended, 4) if recommended else None
        ),
    )  # fmt: skip
