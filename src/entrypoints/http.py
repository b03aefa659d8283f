"""The Litestar application: health, readiness, and (later) the webhook and read-model API."""

from __future__ import annotations

import time
import uuid

import msgspec
import structlog
from litestar import Litestar, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.postgres_migrations import default_migrations_dir, load_migrations, pending_migrations
from entrypoints.api import ApiSlot, api_router
from entrypoints.container import Container, resolve
from entrypoints.webhook import IngestorSlot, WebhookConfig, webhook_handlers

log = structlog.get_logger(__name__)
REQUEST_ID_HEADER = "x-request-id"


class Health(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    pending_migrations: list[str] = []
    reason: str | None = None


def correlation_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a correlation id to every log line of a request, echo it back, log the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")[:128]
        correlation_id = supplied or uuid.uuid4().hex
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


async def log_unhandled(error: Exception, scope: Scope) -> None:
    """Litestar answers 500 for anything unhandled; the log must say what happened."""
    if isinstance(error, HTTPException) and error.status_code < 500:
        return
    log.error("http.unhandled_error", path=scope.get("path"), error_type=type(error).__name__,
              exc_info=error)  # fmt: skip


def create_app(container: Container, *, run_workers: bool) -> Litestar:
    settings = container.settings()
    slot = IngestorSlot()
    api = ApiSlot()

    @get("/health", sync_to_thread=False)
    def health() -> Health:
        """The process is up."""
        return Health(status="ok")

    @get("/ready")
    async def ready() -> Response[Readiness]:
        """The database answers and every migration is applied."""
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

    async def start(_: Litestar) -> None:
        await resolve(container.init_resources())
        slot.ingestor = await resolve(container.webhook_ingestor())
        api.queries = await resolve(container.read_model_queries())
        api.authority = await resolve(container.api_authority())
        if run_workers:
            runners = await resolve(container.runners())
            runners.start()
        log.info("app.started", workers=run_workers)

    async def stop(_: Litestar) -> None:
        if run_workers:
            await (await resolve(container.runners())).stop()
        await resolve(container.shutdown_resources())
        log.info("app.stopped")

    return Litestar(
        route_handlers=[
            health,
            ready,
            api_router(api),
            *webhook_handlers(
                WebhookConfig.from_settings(settings),
                slot,
                signature_probe=settings.benchmark_endpoints,
            ),
        ],
        on_startup=[start],
        on_shutdown=[stop],
        middleware=[correlation_middleware],
        after_exception=[log_unhandled],
        logging_config=None,
    )
