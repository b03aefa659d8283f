"""Orders through the API: list and read them, and move them along as the business ships."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter, SkipValidation

from application.order_views import (
    OrderPage,
    OrderQueries,
    OrderStatusChange,
    OrderView,
    order_status,
    order_view_of,
)
from application.orders import (
    ContentionError,
    OrderDesk,
    OrderRefusal,
    OrderRefusedError,
    StatusCommand,
)
from application.read_models import doc, page_size
from domain.orders import is_order_id
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError, request_id_of
from entrypoints.idempotency import checked_key, key_header
from entrypoints.openapi import error_responses

Desk = NamedDependency[SkipValidation[OrderDesk]]
Orders = NamedDependency[SkipValidation[OrderQueries]]

_NOT_FOUND: Final = "This business has no order with that id."


class StatusRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Annotated[
        Literal["shipped", "delivered", "cancelled"],
        doc("shipped (a confirmed order), delivered (a shipped one) or cancelled (a pending or "
            "confirmed one)."),
    ]  # fmt: skip


ORDER_KEY_HEADER: Final[Any] = key_header("changes nothing and tells the customer nothing new")
STATUS: Final[Any] = QueryParameter(
    name="status",
    description="Only orders in this status: pending, confirmed, cancelled, shipped, delivered.",
)
LIMIT: Final[Any] = QueryParameter(
    name="limit", description="Items per page: 1 to 200 (default 50)."
)
CURSOR: Final[Any] = QueryParameter(
    name="cursor", description="The next_cursor of the previous page."
)


@get("/orders", responses=error_responses(400, 401, 503))
async def list_orders(
    business_id: BusinessId,
    order_queries: Orders,
    status: Annotated[str | None, STATUS] = None,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> OrderPage:
    """The business's orders, newest placed first."""
    return await order_queries.orders(business_id, order_status(status), page_size(limit), cursor)


@get("/orders/{order_id:str}", responses=error_responses(400, 401, 404, 503))
async def get_order(
    order_id: FromPath[str], business_id: BusinessId, order_queries: Orders
) -> OrderView:
    """One order: its items and total as priced when placed, and its status."""
    if not is_order_id(order_id):
        raise ApiError("not_found", _NOT_FOUND)
    found = await order_queries.order(business_id, order_id)
    if found is None:
        raise ApiError("not_found", _NOT_FOUND)
    return found


_REFUSALS: Final = {
    OrderRefusal.NOT_FOUND: "not_found",
    OrderRefusal.MOVE_NOT_ALLOWED: "order_status_conflict",
    OrderRefusal.KEY_REUSED: "idempotency_key_reused",
}


@post(
    "/orders/{order_id:str}/status",
    status_code=200,
    responses=error_responses(400, 401, 404, 409, 422, 503),
)
async def change_order_status(
    order_id: FromPath[str],
    business_id: BusinessId,
    orders: Desk,
    data: JSONBody[StatusRequest],
    request: Request[Any, Any, Any],
    idempotency: Annotated[str | None, ORDER_KEY_HEADER] = None,
) -> OrderStatusChange:
    """Mark the order shipped, delivered or cancelled, and tell the customer (a text inside
    the 24-hour window, the business's order status template outside it)."""
    if not is_order_id(order_id):
        raise ApiError("not_found", _NOT_FOUND)
    command = StatusCommand(
        business_id=business_id, order_id=order_id, status=data.status,
        cause="api:" + request_id_of(request), idempotency_key=checked_key(idempotency),
        request_fingerprint=hashlib.sha256(f"{order_id}\x1f{data.status}".encode()).hexdigest(),
    )  # fmt: skip
    try:
        changed = await orders.change_status(command)
    except OrderRefusedError as refused:
        parameter = "Idempotency-Key" if refused.refusal is OrderRefusal.KEY_REUSED else None
        raise ApiError(_REFUSALS[refused.refusal], refused.message, parameter=parameter) from None
    except ContentionError:
        raise ApiError("unavailable", "The order kept changing; try again.") from None
    return OrderStatusChange(order=order_view_of(changed.order),
                             customer_notice=changed.notice.value)  # fmt: skip


ORDER_HANDLERS: Final = (list_orders, get_order, change_order_status)
