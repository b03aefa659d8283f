"""The API under /api/v1: each bearer token sees exactly one business's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import structlog
from litestar import MediaType, Request, Router, get
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, QueryParameter, SkipValidation

from adapters.postgres.api_tokens import ApiTokenAuthority
from application.assistant_settings import AssistantSettingsService
from application.catalog import CatalogQueries
from application.connection_status import ConnectionStatusService
from application.handoff import ConversationHandoff
from application.media import MediaService
from application.order_views import OrderQueries
from application.orders import OrderDesk
from application.read_models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    SEARCH_WINDOW,
    ConversationFilter,
    ConversationPage,
    ConversationView,
    ErrorPage,
    MessagePage,
    MetricsComparison,
    ReadModelQueries,
    Timeseries,
    bucket_of,
    check_points,
    conversation_status,
    page_size,
    search_text,
    time_range,
)
from application.sending import MessageSending, OutboxRetries
from entrypoints.api_assistant import ASSISTANT_HANDLERS
from entrypoints.api_catalog import CATALOG_HANDLERS
from entrypoints.api_handoff import HANDOFF_HANDLERS
from entrypoints.api_media import media_router
from entrypoints.api_messages import MESSAGE_HANDLERS
from entrypoints.api_orders import ORDER_HANDLERS
from entrypoints.api_params import BusinessId
from entrypoints.api_status import STATUS_HANDLERS
from entrypoints.api_templates import TemplateListing, list_templates
from entrypoints.errors import ApiError
from entrypoints.openapi import SECURITY, error_responses

log = structlog.get_logger(__name__)

API_PATH: Final = "/api/v1"


@dataclass(slots=True)
class ApiSlot:
    """Filled at application start-up, once the database is up."""

    queries: ReadModelQueries | None = None
    authority: ApiTokenAuthority | None = None
    sending: MessageSending | None = None
    retries: OutboxRetries | None = None
    templates: TemplateListing | None = None
    media: MediaService | None = None
    assistant_settings: AssistantSettingsService | None = None
    handoff: ConversationHandoff | None = None
    orders: OrderDesk | None = None
    order_queries: OrderQueries | None = None
    catalog: CatalogQueries | None = None
    connection_status: ConnectionStatusService | None = None

    def media_service(self) -> MediaService:
        if self.media is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return self.media

    def ready(self) -> tuple[ReadModelQueries, ApiTokenAuthority]:
        if self.queries is None or self.authority is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return self.queries, self.authority


def api_router(slot: ApiSlot) -> Router:
    async def business_of(request: Request[Any, Any, Any]) -> str:
        _, authority = slot.ready()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        business_id = None
        if scheme.lower() == "bearer" and token.strip():
            business_id = await authority.business_of(token.strip())
        if business_id is None:
            raise ApiError(
                "unauthorized",
                "A valid bearer token is required: send 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return business_id

    def queries() -> ReadModelQueries:
        return slot.ready()[0]

    def sending() -> MessageSending:
        slot.ready()
        assert slot.sending is not None
        return slot.sending

    def retries() -> OutboxRetries:
        slot.ready()
        assert slot.retries is not None
        return slot.retries

    def template_listing() -> TemplateListing:
        if slot.templates is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.templates

    def assistant_settings() -> AssistantSettingsService:
        if slot.assistant_settings is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.assistant_settings

    def handoff() -> ConversationHandoff:
        if slot.handoff is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.handoff

    def orders() -> OrderDesk:
        if slot.orders is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.orders

    def order_queries() -> OrderQueries:
        if slot.order_queries is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.order_queries

    def catalog() -> CatalogQueries:
        if slot.catalog is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.catalog

    def connection_status() -> ConnectionStatusService:
        if slot.connection_status is None:
            raise ApiError("unavailable", "The API is starting; try again in a few seconds.")
        return slot.connection_status

    async def agent_name(request: Request[Any, Any, Any]) -> str | None:
        """The name of the bearer token (already accepted by business_of), if it has one."""
        _, authority = slot.ready()
        _, _, token = request.headers.get("authorization", "").partition(" ")
        return await authority.name_of(token.strip())

    return Router(
        path=API_PATH,
        route_handlers=[
            _tagged(
                "read models",
                list_conversations,
                get_conversation,
                list_messages,
                get_metrics,
                get_timeseries,
                list_errors,
            ),
            _tagged("sending", *MESSAGE_HANDLERS),
            _tagged("templates", list_templates),
            media_router(lambda: slot.media_service()),  # a bound method would be deep-copied
            _tagged("assistant", *ASSISTANT_HANDLERS),
            _tagged("handoff", *HANDOFF_HANDLERS),
            _tagged("orders", *ORDER_HANDLERS),
            _tagged("catalog", *CATALOG_HANDLERS),
            _tagged("status", *STATUS_HANDLERS),
        ],
        dependencies={
            "business_id": Provide(business_of),
            "read_models": Provide(queries, sync_to_thread=False),
            "sending": Provide(sending, sync_to_thread=False),
            "retries": Provide(retries, sync_to_thread=False),
            "template_listing": Provide(template_listing, sync_to_thread=False),
            "assistant_settings": Provide(assistant_settings, sync_to_thread=False),
            "handoff": Provide(handoff, sync_to_thread=False),
            "catalog": Provide(catalog, sync_to_thread=False),
            "agent_name": Provide(agent_name),
            "orders": Provide(orders, sync_to_thread=False),
            "order_queries": Provide(order_queries, sync_to_thread=False),
            "connection_status": Provide(connection_status, sync_to_thread=False),
        },
        security=SECURITY,
    )


def _tagged(tag: str, *handlers: HTTPRouteHandler) -> Router:
    """Handlers grouped under one tag of the API docs."""
    return Router(path="/", route_handlers=list(handlers), tags=[tag])


def _query(name: str, description: str) -> Any:
    return QueryParameter(name=name, description=description)


LIMIT: Final = _query(
    "limit", f"Items per page: 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
)
CURSOR: Final = _query("cursor", "The next_cursor of the previous page; omit it for the first.")
STATUS: Final = _query("status", "Only conversations in this status: bot, escalated or closed.")
SEARCH: Final = _query(
    "search",
    "Part of the customer's name, or of any phone number, business-scoped user id or username"
    " they ever had (@name too), or of a group id, ignoring case and accents (helene finds"
    f" Hélène; at most {MAX_SEARCH_LENGTH} characters). A search without three letters or"
    f" digits in a row looks through at most {SEARCH_WINDOW:,} conversations per page,"
    " newest activity first: such a page may hold fewer items than limit, even none, with a"
    " next_cursor to look further.",
)
RANGE: Final = _query(
    "range", "24h, 7d or 30d, ending with the current hour (default 24h); or give from/to."
)
FROM: Final = _query("from", "Start of the range (ISO 8601), rounded down to the hour.")
TO: Final = _query("to", "End of the range (ISO 8601), rounded up to the hour; default: now.")
BUCKET: Final = _query("bucket", "hour (default) or day (24-hour periods from the range's start).")


# The queries object comes from the router's dependencies and is not a value to validate.
Queries = NamedDependency[SkipValidation[ReadModelQueries]]


def _now() -> datetime:
    return datetime.now(UTC)


@get("/conversations", responses=error_responses(400, 401, 503))
async def list_conversations(
    business_id: BusinessId,
    read_models: Queries,
    status: Annotated[str | None, STATUS] = None,
    search: Annotated[str | None, SEARCH] = None,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> ConversationPage:
    """Conversations, newest activity first; filter by status, search by name or number."""
    filter_ = ConversationFilter(conversation_status(status), search_text(search))
    return await read_models.conversations(business_id, filter_, page_size(limit), cursor)


@get("/conversations/{conversation_id:str}", responses=error_responses(400, 401, 404, 503))
async def get_conversation(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    read_models: Queries,
) -> ConversationView:
    """One conversation of this business."""
    found = await read_models.conversation(business_id, conversation_id)
    if found is None:
        raise _no_such_conversation()
    return found


@get(
    "/conversations/{conversation_id:str}/messages",
    responses=error_responses(400, 401, 404, 503),
)
async def list_messages(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    read_models: Queries,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> MessagePage:
    """A conversation's timeline, newest first; follow next_cursor for older messages."""
    size = page_size(limit)
    page = await read_models.messages(business_id, conversation_id, size, cursor)
    if page is None:
        raise _no_such_conversation()
    return page


def _no_such_conversation() -> ApiError:
    return ApiError("not_found", "This business has no conversation with that id.")


@get("/metrics", responses=error_responses(400, 401, 503))
async def get_metrics(
    business_id: BusinessId,
    read_models: Queries,
    range_: Annotated[str | None, RANGE] = None,
    start: Annotated[str | None, FROM] = None,
    end: Annotated[str | None, TO] = None,
) -> MetricsComparison:
    """Figures over a range (24h, 7d, 30d or from/to) and over the equal range before it."""
    window = time_range(range_, start, end, _now())
    return await read_models.metrics(business_id, window)


@get("/metrics/timeseries", responses=error_responses(400, 401, 503))
async def get_timeseries(
    business_id: BusinessId,
    read_models: Queries,
    range_: Annotated[str | None, RANGE] = None,
    start: Annotated[str | None, FROM] = None,
    end: Annotated[str | None, TO] = None,
    bucket: Annotated[str | None, BUCKET] = None,
) -> Timeseries:
    """The same figures per hour or per day (24-hour periods from the range's start)."""
    window = time_range(range_, start, end, _now())
    chosen = bucket_of(bucket)
    check_points(window, chosen)
    return await read_models.timeseries(business_id, window, chosen)


@get("/errors", media_type=MediaType.JSON, responses=error_responses(400, 401, 503))
async def list_errors(
    business_id: BusinessId,
    read_models: Queries,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> ErrorPage:
    """Failed sends and webhook problems, newest first."""
    return await read_models.errors(business_id, page_size(limit), cursor)
