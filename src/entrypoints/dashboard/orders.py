"""The Orders page at /orders: the business's orders, newest placed first, with their status.

``GET /orders?status=&cursor=`` is the page; ``GET /orders/rows`` (same parameters) is its
table alone, which the page re-fetches on the live ``orders`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from litestar import get
from litestar.params import QueryParameter
from litestar.response import Template

from application.order_views import ORDER_STATUSES, OrderPage, order_status
from application.read_models import QueryError, page_size
from domain.money import format_amount
from entrypoints.dashboard import formatting
from entrypoints.dashboard.i18n import language_of
from entrypoints.dashboard.web import AnyRequest, Services, Session, render


def _query(name: str) -> Any:
    return QueryParameter(name=name, default=None, required=False)


PAGE_SIZE: Final = "25"


def when_for(request: AnyRequest) -> Callable[[datetime | None], str]:
    """Times as the dashboard shows them, in the request's language (UTC, to the minute)."""
    lang = language_of(request)
    return lambda at: formatting.moment(at, lang)


def amount_for(request: AnyRequest) -> Callable[[int, str], str]:
    """Amounts (in the currency's minor unit) as the page's language writes them: 19,90 €."""
    lang = language_of(request)
    return lambda minor, currency: format_amount(minor, currency, lang)


async def _orders(
    session: Session, dashboard: Services, status: str | None, cursor: str | None
) -> dict[str, Any]:
    chosen = status or None
    try:
        page: OrderPage = await dashboard.order_views().orders(
            session.business_id, order_status(chosen), page_size(PAGE_SIZE), cursor or None
        )
    except QueryError as bad:
        return {"bad": bad.parameter, "orders": [], "customers": {}, "next_cursor": None,
                "status": None, "cursor": None}  # fmt: skip
    queries = dashboard.read_models()
    customers: dict[str, str] = {}
    for conversation_id in dict.fromkeys(order.conversation_id for order in page.items):
        found = await queries.conversation(session.business_id, conversation_id)
        if found is not None:
            customers[conversation_id] = (
                " · ".join(part for part in (found.customer_name, found.customer_phone) if part)
                or found.customer_id
            )
    return {"bad": None, "orders": page.items, "customers": customers,
            "next_cursor": page.next_cursor, "status": chosen,
            "cursor": cursor or None}  # fmt: skip


@get("/orders", include_in_schema=False)
async def orders_page(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    status: str | None = _query("status"),
    cursor: str | None = _query("cursor"),
) -> Template:
    return await _render(request, "orders.html", session, dashboard, status, cursor)


@get("/orders/rows", include_in_schema=False)
async def orders_rows(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    status: str | None = _query("status"),
    cursor: str | None = _query("cursor"),
) -> Template:
    return await _render(request, "_orders_rows.html", session, dashboard, status, cursor)


async def _render(
    request: AnyRequest,
    template: str,
    session: Session,
    dashboard: Services,
    status: str | None,
    cursor: str | None,
) -> Template:
    """The page or its table alone: the same orders, the same words."""
    context = await _orders(session, dashboard, status, cursor)
    return render(request, template, status_code=400 if context["bad"] else 200,
                  statuses=ORDER_STATUSES, when=when_for(request),
                  amount=amount_for(request), **context)  # fmt: skip


ORDERS_HANDLERS: Final = (orders_page, orders_rows)
