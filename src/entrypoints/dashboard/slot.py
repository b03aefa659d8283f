"""The services the dashboard's pages use, filled at application start-up (like ApiSlot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from application.catalog import CatalogQueries
from application.dashboard_sessions import DashboardAccess
from application.handoff import ConversationHandoff
from application.live_updates import LiveHub
from application.order_views import OrderQueries
from application.orders import OrderDesk
from application.read_models import ReadModelQueries
from application.sandbox_phone import SandboxPhone
from application.sending import MessageSending, OutboxRetries
from entrypoints.api_templates import TemplateListing

T = TypeVar("T")


class ServiceStartingError(Exception):
    """A page was asked for before start-up filled the slot: a 503 page, try again."""


class ConnectionStatusService(Protocol):
    """The connection status card's source: ``status(business_id)`` gives an object with
    ``mode``, ``connected`` and ``checks`` (each with ``name``, ``state``, ``detail``, and
    ``reason`` and ``facts`` when it has them)."""

    async def status(self, business_id: str) -> Any: ...


@dataclass(slots=True)
class DashboardSlot:
    access: DashboardAccess | None = None
    queries: ReadModelQueries | None = None
    handoff: ConversationHandoff | None = None
    sending: MessageSending | None = None
    retries: OutboxRetries | None = None
    templates: TemplateListing | None = None
    orders: OrderDesk | None = None
    order_queries: OrderQueries | None = None
    status: ConnectionStatusService | None = None  # optional: no card when absent
    phone: SandboxPhone | None = None  # sandbox mode only: the Phone page and its nav entry
    live: LiveHub | None = None  # GET /live: one watcher per process, one subscriber per page
    live_heartbeat_seconds: float = 15.0  # a comment on every idle live stream this often
    catalog: CatalogQueries | None = None  # the Phone page's order form
    phone_business_id: str | None = None  # the business the sandbox phone writes to

    @property
    def sandbox(self) -> bool:
        return self.phone is not None

    def ready_access(self) -> DashboardAccess:
        return _ready(self.access)

    def read_models(self) -> ReadModelQueries:
        return _ready(self.queries)

    def handoff_service(self) -> ConversationHandoff:
        return _ready(self.handoff)

    def message_sending(self) -> MessageSending:
        return _ready(self.sending)

    def outbox_retries(self) -> OutboxRetries:
        return _ready(self.retries)

    def template_listing(self) -> TemplateListing:
        return _ready(self.templates)

    def order_desk(self) -> OrderDesk:
        return _ready(self.orders)

    def order_views(self) -> OrderQueries:
        return _ready(self.order_queries)

    def live_hub(self) -> LiveHub:
        return _ready(self.live)

    def catalog_queries(self) -> CatalogQueries:
        return _ready(self.catalog)


def _ready(service: T | None) -> T:
    if service is None:
        raise ServiceStartingError
    return service
