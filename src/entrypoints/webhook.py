"""The WhatsApp webhook: Meta's verification handshake and the signed update deliveries."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter

from adapters.whatsapp_signature import SIGNATURE_HEADER, signature_is_valid
from adapters.whatsapp_webhook import parse_webhook
from application.inbound_updates import WebhookFormatError
from application.webhook_ingest import WebhookIngestor
from domain.inbound import UnreadableChange
from entrypoints.settings import Settings

log = structlog.get_logger(__name__)

WEBHOOK_PATH: Final = "/webhooks/whatsapp"
SIGNATURE_PROBE_PATH: Final = "/bench/signature-only"


class Acknowledged(msgspec.Struct, frozen=True):
    status: str
    appended: int
    duplicates: int


class Problem(msgspec.Struct, frozen=True):
    error: str


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    verify_token: str | None
    app_secret: bytes | None
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        token = settings.whatsapp_verify_token
        secret = settings.whatsapp_app_secret
        return cls(
            verify_token=token.value if token else None,
            app_secret=secret.value.encode() if secret else None,
            max_bytes=settings.webhook_max_bytes,
        )


def _problem(status: int, message: str) -> Response[Any]:
    return Response(Problem(message), status_code=status)


@dataclass(slots=True)
class IngestorSlot:
    """Filled at application start-up, once the database and event store are up."""

    ingestor: WebhookIngestor | None = None


def webhook_handlers(
    config: WebhookConfig, slot: IngestorSlot, *, signature_probe: bool = False
) -> list[HTTPRouteHandler]:

    @get(WEBHOOK_PATH, sync_to_thread=False, media_type="text/plain")
    def verify(
        mode: str | None = Parameter(query="hub.mode", default=None),
        token: str | None = Parameter(query="hub.verify_token", default=None),
        challenge: str = Parameter(query="hub.challenge", default=""),
    ) -> Response[str]:
        """Meta's subscription handshake: echo the challenge when the token matches."""
        if config.verify_token is None:
            log.error("webhook.verify_refused", reason="WHATSAPP_VERIFY_TOKEN is not set")
            return Response("verification is not configured", status_code=403)
        if mode != "subscribe" or not _same_token(token, config.verify_token):
            log.warning("webhook.verify_refused", reason="wrong mode or verify token")
            return Response("forbidden", status_code=403)
        log.info("webhook.verified")
        return Response(challenge, status_code=200)

    @post(WEBHOOK_PATH, request_max_body_size=config.max_bytes, status_code=200)
    async def deliver(request: Request[Any, Any, Any]) -> Response[Any]:
        """A signed delivery: answered 200 only once every update in it is durable."""
        ingestor = slot.ingestor
        if config.app_secret is None or ingestor is None:
            log.error("webhook.not_configured", reason="WHATSAPP_APP_SECRET is not set")
            return _problem(503, "the webhook is not configured on this server")
        body = await request.body()
        if not signature_is_valid(config.app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook.bad_signature", bytes=len(body))
            return _problem(401, "missing or invalid X-Hub-Signature-256")
        try:
            updates = parse_webhook(body, datetime.now(UTC))
        except WebhookFormatError as error:
            log.warning("webhook.bad_payload", error=str(error), bytes=len(body))
            return _problem(400, f"not a WhatsApp webhook payload: {error}")
        delivery_id = str(structlog.contextvars.get_contextvars().get("correlation_id", ""))
        try:
            outcome = await ingestor.ingest(updates, delivery_id or "unknown")
        except Exception as error:  # storage trouble of any kind: Meta must retry, never a 500
            log.error("webhook.not_stored", error=str(error), error_type=type(error).__name__,
                      updates=len(updates))  # fmt: skip
            return _problem(503, "the delivery could not be stored; it is safe to retry")
        log.info(
            "webhook.stored", updates=len(updates), appended=outcome.appended,
            duplicates=outcome.duplicates, unrouted=outcome.unrouted,
            throttled=outcome.throttled,
            unreadable=sum(isinstance(u.payload, UnreadableChange) for u in updates),
        )  # fmt: skip
        return Response(Acknowledged("ok", outcome.appended, outcome.duplicates))

    @post(SIGNATURE_PROBE_PATH, request_max_body_size=config.max_bytes, status_code=200)
    async def signature_only(
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """The benchmark's baseline: read and verify the body, store nothing."""
        body = await request.body()
        if config.app_secret is None or not signature_is_valid(
            config.app_secret, body, request.headers.get(SIGNATURE_HEADER)
        ):
            return _problem(401, "missing or invalid X-Hub-Signature-256")
        return Response(Acknowledged("ok", 0, 0))

    handlers: list[HTTPRouteHandler] = [verify, deliver]
    if signature_probe:
        handlers.append(signature_only)
    return handlers


def _same_token(supplied: str | None, expected: str) -> bool:
    return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())
