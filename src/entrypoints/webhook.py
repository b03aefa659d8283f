"""The WhatsApp webhook: Meta's verification handshake and the signed update deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec
import structlog
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from adapters.whatsapp.signature import SIGNATURE_HEADER, signature_is_valid
from adapters.whatsapp.webhook import parse_webhook, unreadable_delivery
from application.api_tokens import same_token
from application.event_log import InvalidAppendError
from application.inbound_updates import InboundUpdate, WebhookFormatError
from application.webhook_ingest import IngestOutcome, WebhookIngestor
from domain.inbound import UnreadableChange
from entrypoints.errors import ApiError
from entrypoints.openapi import error_responses
from entrypoints.settings import Settings

log = structlog.get_logger(__name__)

WEBHOOK_PATH: Final = "/webhooks/whatsapp"
SIGNATURE_PROBE_PATH: Final = "/bench/signature-only"


class Acknowledged(msgspec.Struct, frozen=True):
    status: Annotated[str, msgspec.Meta(description="Always ok: every update is durable.")]
    appended: Annotated[int, msgspec.Meta(description="Events this delivery added to the log.")]
    duplicates: Annotated[
        int, msgspec.Meta(description="Events already stored by an earlier delivery (redelivery).")
    ]


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


def _not_configured() -> ApiError:
    return ApiError(
        "not_configured",
        "The webhook is not configured on this server (WHATSAPP_APP_SECRET is not set).",
    )


def _bad_signature(body: bytes) -> ApiError:
    return ApiError(
        "bad_signature",
        "The X-Hub-Signature-256 header is missing or does not sign this body.",
        log_fields={"bytes": len(body)},
    )


def _unreadable(body: bytes, error: WebhookFormatError) -> ApiError:
    """Invalid JSON is told apart from JSON of the wrong shape (only on this error path)."""
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError as invalid:
        return ApiError("invalid_json", f"The body is invalid JSON: {invalid}.",
                        log_fields={"bytes": len(body)})  # fmt: skip
    return ApiError("bad_payload", f"The body is not a WhatsApp webhook payload: {error}.",
                    log_fields={"bytes": len(body)})  # fmt: skip


async def store_delivery(
    ingestor: WebhookIngestor,
    body: bytes,
    updates: list[InboundUpdate],
    received_at: datetime,
    delivery_id: str,
) -> tuple[IngestOutcome, list[InboundUpdate]]:
    """Store a delivery's updates; one whose data the store refuses is kept raw instead.

    A refusal would repeat on every redelivery until Meta gives up and the delivery is
    lost, so the entries are stored as unreadable (the errors API lists them) and the
    delivery is acknowledged.
    """
    try:
        return await ingestor.ingest(updates, delivery_id), updates
    except InvalidAppendError as refused:
        log.error("webhook.refused_by_store", reason=str(refused), updates=len(updates))
        kept = unreadable_delivery(body, received_at, f"the event store refused it: {refused}")
        return await ingestor.ingest(kept, delivery_id), kept


@dataclass(slots=True)
class IngestorSlot:
    """Filled at application start-up, once the database and event store are up."""

    ingestor: WebhookIngestor | None = None


def webhook_handlers(
    config: WebhookConfig, slot: IngestorSlot, *, signature_probe: bool = False
) -> list[HTTPRouteHandler]:

    @get(WEBHOOK_PATH, sync_to_thread=False, media_type="text/plain",
         responses=error_responses(400, 403))  # fmt: skip
    def verify(
        mode: Annotated[
            str | None, QueryParameter(name="hub.mode", description="Must be subscribe.")
        ] = None,
        token: Annotated[
            str | None,
            QueryParameter(
                name="hub.verify_token", description="Must equal WHATSAPP_VERIFY_TOKEN."
            ),
        ] = None,
        challenge: Annotated[
            str,
            QueryParameter(name="hub.challenge", description="Echoed back when the token matches."),
        ] = "",
    ) -> Response[str]:
        """Meta's subscription handshake: echo the challenge when the token matches."""
        if config.verify_token is None:
            raise ApiError(
                "forbidden",
                "Webhook verification is not configured on this server"
                " (WHATSAPP_VERIFY_TOKEN is not set).",
            )
        if mode != "subscribe" or token is None or not same_token(token, config.verify_token):
            raise ApiError("forbidden", "The verify token or hub.mode is wrong.")
        log.info("webhook.verified")
        return Response(challenge, status_code=200)

    @post(WEBHOOK_PATH, request_max_body_size=config.max_bytes, status_code=200,
          responses=error_responses(400, 401, 413, 503))  # fmt: skip
    async def deliver(request: Request[Any, Any, Any]) -> Response[Any]:
        """A signed delivery: answered 200 only once every update in it is durable."""
        ingestor = slot.ingestor
        if config.app_secret is None:
            raise _not_configured()
        if ingestor is None:
            raise ApiError("unavailable", "The server is starting; the delivery may be retried.")
        body = await request.body()
        if not signature_is_valid(config.app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise _bad_signature(body)
        received_at = datetime.now(UTC)
        try:
            updates = parse_webhook(body, received_at)
        except WebhookFormatError as error:
            raise _unreadable(body, error) from None
        delivery_id = str(structlog.contextvars.get_contextvars().get("correlation_id", ""))
        try:
            outcome, updates = await store_delivery(
                ingestor, body, updates, received_at, delivery_id or "unknown"
            )
        except Exception as error:  # storage trouble of any kind: Meta must retry, never a 500
            raise ApiError(
                "unavailable",
                "The delivery could not be stored; it is safe to retry.",
                log_fields={"reason": str(error), "error_type": type(error).__name__,
                            "updates": len(updates)},
            ) from None  # fmt: skip
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
        if config.app_secret is None:
            raise _not_configured()
        if not signature_is_valid(config.app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise _bad_signature(body)
        return Response(Acknowledged("ok", 0, 0))

    handlers: list[HTTPRouteHandler] = [verify, deliver]
    if signature_probe:
        handlers.append(signature_only)
    return handlers
