"""The sandbox's customer phone, played through the in-process Cloud API simulator.

What the customer writes goes out as the simulator's signed webhook, exactly as Meta would
post it; what the business sends is read back from the Graph API calls the simulator took.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from adapters.whatsapp.simulator.app import CloudApiSimulator
from adapters.whatsapp.simulator.state import RecordedRequest, SimulatorState, customer_key
from application.sandbox_phone import (
    CartItem,
    PhoneChoice,
    PhoneCustomer,
    PhoneMessage,
    SandboxPhoneError,
)

MAX_TEXT: Final = 4096
MAX_CART_LINES: Final = 30
MAX_HOURS_AGO: Final = 24 * 7
MAX_WRITTEN: Final = 2000  # what the phone remembers having written, across customers
_PLACEHOLDER: Final = re.compile(r"\{\{(\d{1,3})\}\}")
DEFAULT_CUSTOMER: Final = PhoneCustomer(phone="33612345678", name="Camille Martin")


class DeliveryFailedError(SandboxPhoneError):
    """The webhook did not take the customer's message (the server refused or is down)."""


@dataclass(frozen=True, slots=True)
class _Written:
    customer: str
    message: PhoneMessage


class SimulatorPhone:
    """SandboxPhone over a CloudApiSimulator serving this process's Graph API calls."""

    def __init__(
        self, simulator: CloudApiSimulator, customer: PhoneCustomer = DEFAULT_CUSTOMER
    ) -> None:
        self._simulator = simulator
        self._customer = customer
        self._written: list[_Written] = []

    @property
    def default_customer(self) -> PhoneCustomer:
        return self._customer

    async def send_text(self, customer: PhoneCustomer, text: str, *, hours_ago: int = 0) -> None:
        text = text.strip()
        if not text:
            raise SandboxPhoneError("Write something first: the message is empty.")
        if len(text) > MAX_TEXT:
            raise SandboxPhoneError(f"WhatsApp messages hold at most {MAX_TEXT} characters.")
        if not 0 <= hours_ago <= MAX_HOURS_AGO:
            raise SandboxPhoneError(f"A message can be dated at most {MAX_HOURS_AGO} hours back.")
        at = time.time() - hours_ago * 3600
        message = {"type": "text", "text": {"body": text}}
        await self._write(customer, message, "text", text, at=at)

    async def tap(
        self, customer: PhoneCustomer, message_id: str, choice: PhoneChoice, *, kind: str
    ) -> None:
        received = self._received(customer, message_id)
        offered = {c.id: c for c in received.choices} if received else {}
        if received is None or choice.id not in offered:
            raise SandboxPhoneError("That button or row is not in a message this customer got.")
        shown = offered[choice.id]
        if kind == "button":
            reply: dict[str, Any] = {"type": "button_reply", "button_reply": {"id": shown.id,
                                     "title": shown.title}}  # fmt: skip
        elif kind == "list":
            row = {"id": shown.id, "title": shown.title}
            if shown.description:
                row["description"] = shown.description
            reply = {"type": "list_reply", "list_reply": row}
        else:
            raise SandboxPhoneError(f"unknown kind of tap {kind!r}: button or list")
        message = {"type": "interactive", "interactive": reply, "context": {"id": message_id}}
        await self._write(customer, message, "text", shown.title)

    async def send_cart(self, customer: PhoneCustomer, items: list[CartItem]) -> None:
        if not items:
            raise SandboxPhoneError("The cart is empty: add at least one product.")
        if len(items) > MAX_CART_LINES:
            raise SandboxPhoneError(f"A cart holds at most {MAX_CART_LINES} products.")
        lines = []
        for item in items:
            if not 1 <= item.quantity <= 999:
                raise SandboxPhoneError("Each quantity must be a whole number from 1 to 999.")
            lines.append({"product_retailer_id": item.product_retailer_id,
                          "quantity": item.quantity, "item_price": item.item_price,
                          "currency": item.currency})  # fmt: skip
        message = {"type": "order", "order": {"catalog_id": "sandbox", "product_items": lines}}
        shown = ", ".join(f"{item.quantity} x {item.name or item.product_retailer_id}"
                          for item in items)  # fmt: skip
        await self._write(customer, message, "order", f"🛒 {shown}")

    def chat(self, customer: PhoneCustomer) -> list[PhoneMessage]:
        key = customer_key(customer.phone)
        mine = [w.message for w in self._written if w.customer == key]
        state = self._simulator.state
        received = [
            m for r in self._simulator.requests if (m := _received(r, key, state)) is not None
        ]
        return sorted([*mine, *received], key=lambda m: m.at)

    async def _write(
        self,
        customer: PhoneCustomer,
        message: dict[str, Any],
        kind: str,
        shown: str,
        at: float | None = None,
    ) -> None:
        wamid, delivery = await self._simulator.customer_sends(
            message, phone=customer.phone, name=customer.name, at=at
        )
        if not delivery.ok:
            reason = delivery.error or f"the webhook answered {delivery.status_code}"
            raise DeliveryFailedError(f"The message did not reach WazyBot ({reason}).")
        written = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
        bubble = PhoneMessage(id=wamid, direction="from_customer", kind=kind, text=shown,
                              at=written)  # fmt: skip
        self._written.append(_Written(customer_key(customer.phone), bubble))
        del self._written[:-MAX_WRITTEN]

    def _received(self, customer: PhoneCustomer, message_id: str) -> PhoneMessage | None:
        """The message ``message_id`` if the business sent it to this customer."""
        key = customer_key(customer.phone)
        for request in self._simulator.requests:
            if request.wamid == message_id:
                return _received(request, key, self._simulator.state)
        return None


def _received(request: RecordedRequest, key: str, state: SimulatorState) -> PhoneMessage | None:
    """The bubble a Graph API send put on the customer's phone; None for anything else."""
    body = request.body
    if (
        request.method != "POST"
        or request.wamid in state.undelivered  # Meta failed it: it never reached the phone
        or not request.path.endswith("/messages")
        or not isinstance(body, dict)
        or request.wamid is None
        or request.recipient is None
        or customer_key(request.recipient) != key
    ):
        return None
    at = datetime.fromtimestamp(request.received_at, UTC)
    kind = str(body.get("type", "other"))
    if kind == "text":
        text = _text(body.get("text"), "body")
        return PhoneMessage(id=request.wamid, direction="to_customer", kind="text", text=text,
                            at=at)  # fmt: skip
    if kind == "interactive":
        return _interactive(request.wamid, body.get("interactive"), at)
    if kind == "template":
        return PhoneMessage(id=request.wamid, direction="to_customer", kind="template",
                            text=_template_text(body.get("template"), state), at=at)  # fmt: skip
    content = body.get(kind)
    caption = _text(content, "caption") if isinstance(content, dict) else ""
    return PhoneMessage(id=request.wamid, direction="to_customer", kind="media" if kind in
                        ("image", "video", "audio", "document", "sticker") else "other",
                        text=caption or f"[{kind}]", at=at)  # fmt: skip


def _template_text(sent: Any, state: SimulatorState) -> str:
    """The template's body as the customer reads it, its {{n}} filled with what was sent."""
    if not isinstance(sent, dict):
        return ""
    name = str(sent.get("name", ""))
    language = sent.get("language")
    code = str(language.get("code", "")) if isinstance(language, dict) else ""
    template = state.find_template(name, code)
    body = next((c for c in template.components if str(c.get("type")).upper() == "BODY"),
                None) if template else None  # fmt: skip
    if body is None:
        return f"[{name}]"
    values = [
        str(parameter.get("text", ""))
        for component in sent.get("components") or []
        if isinstance(component, dict) and component.get("type") == "body"
        for parameter in component.get("parameters") or []
        if isinstance(parameter, dict)
    ]
    # One pass: a value that itself reads "{{2}}" stays as written.
    return _PLACEHOLDER.sub(
        lambda found: values[int(found.group(1)) - 1]
        if 0 < int(found.group(1)) <= len(values) else found.group(0),
        str(body.get("text", "")),
    )  # fmt: skip


def _interactive(wamid: str, interactive: Any, at: datetime) -> PhoneMessage:
    if not isinstance(interactive, dict):
        return PhoneMessage(id=wamid, direction="to_customer", kind="other", text="", at=at)
    body_text = _text(interactive.get("body"), "text")
    header = interactive.get("header")
    image_url = None
    if isinstance(header, dict) and header.get("type") == "image":
        image = header.get("image")
        link = image.get("link") if isinstance(image, dict) else None
        image_url = link if isinstance(link, str) and link else None
    elif isinstance(header, dict) and header.get("type") == "text":
        body_text = f"{_text(header, 'text')}\n{body_text}".strip()
    action = interactive.get("action") if isinstance(interactive.get("action"), dict) else {}
    assert isinstance(action, dict)
    kind = str(interactive.get("type", "other"))
    if kind == "button":
        choices = tuple(
            PhoneChoice(id=str(b["reply"]["id"]), title=str(b["reply"]["title"]))
            for b in action.get("buttons", [])
            if isinstance(b, dict) and isinstance(b.get("reply"), dict)
        )
        return PhoneMessage(id=wamid, direction="to_customer", kind="buttons", text=body_text,
                            at=at, choices=choices, image_url=image_url)  # fmt: skip
    if kind == "list":
        rows = [
            row
            for section in action.get("sections", [])
            if isinstance(section, dict)
            for row in section.get("rows", [])
            if isinstance(row, dict)
        ]
        choices = tuple(
            PhoneChoice(id=str(r.get("id")), title=str(r.get("title")),
                        description=str(r["description"]) if r.get("description") else None)
            for r in rows
        )  # fmt: skip
        return PhoneMessage(id=wamid, direction="to_customer", kind="list", text=body_text,
                            at=at, choices=choices,
                            list_button=str(action.get("button") or "")or None)  # fmt: skip
    return PhoneMessage(id=wamid, direction="to_customer", kind="product" if "product" in kind
                        else "other", text=body_text, at=at)  # fmt: skip


def _text(container: Any, key: str) -> str:
    if isinstance(container, dict):
        return str(container.get(key) or "")
    return ""
