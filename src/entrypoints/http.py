"""The Litestar application: health, readiness, the webhook, the API and the dashboard."""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated

import msgspec
import structlog
from litestar import Litestar, Response, get, head
from litestar.enums import ScopeType
from litestar.openapi import ResponseSpec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.postgres.migrations import default_migrations_dir, load_migrations, pending_migrations
from entrypoints.api import ApiSlot, api_router
from entrypoints.container import (
    Container,
    prepare_database,
    resolve,
    start_workers,
    stop_workers,
)
from entrypoints.dashboard import DashboardSlot, dashboard_router, template_config
from entrypoints.errors import EXCEPTION_HANDLERS, REQUEST_ID_HEADER
from entrypoints.openapi import documentation_assets, error_responses, openapi_config
from entrypoints.sandbox import SANDBOX_BUSINESS_ID, Sandbox, banner
from entrypoints.webhook import IngestorSlot, WebhookConfig, webhook_handlers

log = structlog.get_logger(__name__)
# A caller's request id is echoed and logged only when it cannot forge a log line or a header.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class Health(msgspec.Struct, frozen=True):
    status: Annotated[str, msgspec.Meta(description="Always ok while the process answers.")]


class Readiness(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Annotated[str, msgspec.Meta(description="ready, or not_ready (with the reason).")]
    pending_migrations: Annotated[
        list[str], msgspec.Meta(description="Migrations not applied yet; absent when none.")
    ] = []
    reason: Annotated[
        str | None, msgspec.Meta(description="Why the server is not ready; absent when ready.")
    ] = None


def correlation_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a correlation id to every log line of a request, echo it back, log the request.

    It wraps the whole application, the router's own answers (404, 405) included.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        correlation_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), correlation_id.encode("latin-1")),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

    return middleware


async def _open_sandbox(sandbox: Sandbox, container: Container, dashboard: DashboardSlot) -> str:
    """The demo business ready, the customer phone on the dashboard; the sign-in link."""
    await sandbox.prepare(container)
    dashboard.phone_business_id = SANDBOX_BUSINESS_ID
    dashboard.phone = sandbox.phone
    return await sandbox.sign_in_path(container, dashboard.ready_access())


def create_app(
    container: Container,
    *,
    run_workers: bool,
    sandbox: Sandbox | None = None,
    live_heartbeat_seconds: float = 15.0,
) -> Litestar:
    settings = container.settings()
    slot = IngestorSlot()
    api = ApiSlot()
    dashboard = DashboardSlot(live_heartbeat_seconds=live_heartbeat_seconds)

    @get("/health", sync_to_thread=False, responses=error_responses())
    def health() -> Health:
        """The process is up."""
        return Health(status="ok")

    async def readiness() -> Response[Readiness]:
        try:
            pool = await container.pool()
            async with pool.acquire() as connection:
                pending = await pending_migrations(
                    connection, load_migrations(default_migrations_dir())
                )
        except Exception as error:
            log.warning("ready.database_unreachable", error=str(error))
            return Response(Readiness("not_ready", reason="database unreachable"), status_code=503)
        if pending:
            return Response(Readiness("not_ready", pending_migrations=pending), status_code=503)
        return Response(Readiness("ready"), status_code=200)

    @get(
        "/ready",
        responses={
            **error_responses(),
            503: ResponseSpec(Readiness, description="Not ready: the reason."),
        },
    )
    async def ready() -> Response[Readiness]:
        """The database answers and every migration is applied."""
        return await readiness()

    # Load balancers and uptime checks often probe with HEAD: same status, no body.
    @head("/health", sync_to_thread=False, include_in_schema=False)
    def health_probe() -> None:
        return None

    @head("/ready", include_in_schema=False)
    async def ready_probe() -> Response[None]:
        return Response(None, status_code=(await readiness()).status_code)

    async def start(_: Litestar) -> None:
        await resolve(container.init_resources())
        await prepare_database(container)
        slot.ingestor = await resolve(container.webhook_ingestor())
        api.queries = await resolve(container.read_model_queries())
        api.authority = await resolve(container.api_authority())
        api.sending = await resolve(container.message_sending())
        api.retries = await resolve(container.outbox_retries())
        api.templates = await resolve(container.template_book())
        api.media = await resolve(container.media_service())
        api.assistant_settings = await resolve(container.assistant_settings())
        api.handoff = await resolve(container.conversation_handoff())
        api.orders = await resolve(container.order_desk())
        api.order_queries = await resolve(container.order_queries())
        api.catalog = await resolve(container.catalog_queries())
        dashboard.queries = api.queries
        dashboard.handoff = api.handoff
        dashboard.sending = api.sending
        dashboard.retries = api.retries
        dashboard.templates = api.templates
        dashboard.orders = api.orders
        dashboard.order_queries = api.order_queries
        dashboard.access = await resolve(container.dashboard_access())
        api.connection_status = await resolve(container.connection_status())
        dashboard.status = api.connection_status
        dashboard.catalog = api.catalog
        dashboard.live = await resolve(container.live_hub())
        if run_workers:
            await start_workers(container)
        sign_in_link = None
        if sandbox is not None:
            sign_in_link = await _open_sandbox(sandbox, container, dashboard)
        log.info("app.started", workers=run_workers, sandbox=sandbox is not None)
        if sandbox is not None:
            print(banner(settings, sign_in_link), flush=True)

    async def stop(_: Litestar) -> None:
        if dashboard.live is not None:
            await dashboard.live.close()
        if run_workers:
            await stop_workers(container)
        await resolve(container.shutdown_resources())
        log.info("app.stopped")

    app = Litestar(
        route_handlers=[
            health,
            ready,
            health_probe,
            ready_probe,
            api_router(api),
            dashboard_router(dashboard),
            documentation_assets(),
            *webhook_handlers(
                WebhookConfig.from_settings(settings),
                slot,
                signature_probe=settings.benchmark_endpoints,
            ),
        ],
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(),
        template_config=template_config(),
        logging_config=None,
    )
    # Route middleware would miss the answers the router gives before any route is matched
    # (404, 405): the correlation id is bound around the application's whole handler instead.
    app.asgi_handler = correlation_middleware(app.asgi_handler)
    return app
