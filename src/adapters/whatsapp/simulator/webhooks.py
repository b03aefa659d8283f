"""Webhooks the simulator sends as Meta would: status updates and customers' messages, signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import structlog

from adapters.whatsapp.simulator.errors import webhook_error
from domain.privacy import mask_customer_id

log = structlog.get_logger(__name__)
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"


def signature(app_secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Business:
    """Who the webhooks speak for: the WhatsApp Business Account and the phone number."""

    waba_id: str = "100000000000001"
    phone_number_id: str = "100000000000002"
    display_phone_number: str = "15550000000"


@dataclass(frozen=True)
class Customer:
    """A WhatsApp user: by phone number, by business-scoped user id, or both."""

    phone: str | None = None
    user_id: str | None = None
    name: str = "Simulated Customer"

    def __post_init__(self) -> None:
        if self.phone is None and self.user_id is None:
            raise ValueError("a customer needs a phone number or a business-scoped user id")

    @property
    def key(self) -> str:
        return self.phone or self.user_id or ""

    def contact(self) -> dict[str, Any]:
        contact: dict[str, Any] = {"profile": {"name": self.name}}
        if self.phone is not None:
            contact["wa_id"] = self.phone
        if self.user_id is not None:
            contact["user_id"] = self.user_id
        return contact

    def sender_fields(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        if self.phone is not None:
            fields["from"] = self.phone
        if self.user_id is not None:
            fields["from_user_id"] = self.user_id
        return fields


def envelope(business: Business, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": business.waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": business.display_phone_number,
                                "phone_number_id": business.phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str  # sent | delivered | read | failed
    recipient_phone: str | None
    recipient_user_id: str | None
    category: str
    conversation_id: str
    at: int
    error_code: int | None = None
    error_details: str = ""
    callback_data: str | None = None


def status_body(business: Business, update: StatusUpdate) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": update.wamid,
        "status": update.status,
        "timestamp": str(update.at),
    }
    if update.recipient_phone is not None:
        status["recipient_id"] = update.recipient_phone
    if update.recipient_user_id is not None:
        status["recipient_user_id"] = update.recipient_user_id
    if update.callback_data is not None:
        status["biz_opaque_callback_data"] = update.callback_data
    if update.status == "failed":
        status["errors"] = [webhook_error(update.error_code or 131000, update.error_details)]
    else:
        status["conversation"] = _conversation(update)
        status["pricing"] = _pricing(update.category)
    return envelope(business, {"statuses": [status]})


def _conversation(update: StatusUpdate) -> dict[str, Any]:
    conversation: dict[str, Any] = {
        "id": update.conversation_id,
        "origin": {"type": update.category},
    }
    if update.status == "sent":
        conversation["expiration_timestamp"] = str(update.at + 24 * 3600)
    return conversation


def _pricing(category: str) -> dict[str, Any]:
    if category == "service":
        return {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
    return {"billable": True, "pricing_model": "PMP", "type": "regular", "category": category}


def inbound_body(
    business: Business, customer: Customer, message: dict[str, Any], *, wamid: str, at: int
) -> dict[str, Any]:
    full = {**customer.sender_fields(), "id": wamid, "timestamp": str(at), **message}
    return envelope(business, {"contacts": [customer.contact()], "messages": [full]})


def new_inbound_wamid() -> str:
    return "wamid.SIM" + secrets.token_urlsafe(24)


@dataclass
class Delivery:
    """One webhook post and how it went."""

    body: dict[str, Any]
    status_code: int | None = None
    attempts: int = 0
    error: str | None = None
    sent_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """Posts signed bodies to the webhook URL, retrying a few times; never raises."""

    def __init__(
        self,
        url: str | None,
        app_secret: bytes,
        *,
        attempts: int = 4,
        backoff: float = 0.2,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._secret = app_secret
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout)
        self.deliveries: list[Delivery] = []

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, body: dict[str, Any]) -> Delivery:
        delivery = Delivery(body)
        self.deliveries.append(delivery)
        if self.url is None:
            delivery.error = "no webhook URL configured"
            return delivery
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = {
            SIGNATURE_HEADER: signature(self._secret, raw),
            "Content-Type": "application/json",
        }
        for attempt in range(1, self._attempts + 1):
            delivery.attempts = attempt
            try:
                response = await self._client.post(self.url, content=raw, headers=headers)
                delivery.status_code, delivery.error = response.status_code, None
                if delivery.ok:
                    return delivery
                delivery.error = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                delivery.error = f"{type(error).__name__}: {error}"
            log.warning(
                "simulator.webhook_failed",
                attempt=attempt,
                error=delivery.error,
                what=_describe(body),
            )
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        log.error("simulator.webhook_gave_up", attempts=self._attempts, what=_describe(body))
        return delivery


def _describe(body: dict[str, Any]) -> str:
    value = body["entry"][0]["changes"][0]["value"]
    if "statuses" in value:
        status = value["statuses"][0]
        who = status.get("recipient_id") or status.get("recipient_user_id") or ""
        return f"status {status['status']} for {mask_customer_id(who)}"
    message = value["messages"][0]
    who = message.get("from") or message.get("from_user_id") or ""
    return f"{message.get('type')} message from {mask_customer_id(who)}"
