"""Messages a simulated customer can send, in the shape of Meta's `messages[]` entries.

Each function returns the type-specific part; the simulator adds the sender, the id and
the timestamp.
"""

from __future__ import annotations

from typing import Any


def text(body: str, *, reply_to: str | None = None) -> dict[str, Any]:
    return _with_context({"type": "text", "text": {"body": body}}, reply_to)


def media(
    kind: str,
    media_id: str,
    mime_type: str,
    *,
    caption: str | None = None,
    filename: str | None = None,
    sha256: str = "",
) -> dict[str, Any]:
    content: dict[str, Any] = {"id": media_id, "mime_type": mime_type, "sha256": sha256}
    if caption is not None:
        content["caption"] = caption
    if filename is not None:
        content["filename"] = filename
    if kind == "audio":
        content["voice"] = False
    if kind == "sticker":
        content["animated"] = False
    return {"type": kind, kind: content}


def location(
    latitude: float, longitude: float, *, name: str | None = None, address: str | None = None
) -> dict[str, Any]:
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        place["name"] = name
    if address is not None:
        place["address"] = address
    return {"type": "location", "location": place}


def contacts(formatted_name: str, phone: str, *, origin: str | None = None) -> dict[str, Any]:
    """A shared contact card; ``origin="contact_request"`` when it answers a contact request."""
    digits = phone.lstrip("+")
    card: dict[str, Any] = {
        "name": {"formatted_name": formatted_name, "first_name": formatted_name.split()[0]},
        "phones": [{"phone": "+" + digits, "wa_id": digits, "type": "CELL"}],
    }
    message: dict[str, Any] = {"type": "contacts", "contacts": [card]}
    if origin is not None:
        message["origin"] = origin
    return message


def button_reply(button_id: str, title: str, *, reply_to: str) -> dict[str, Any]:
    reply = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return _with_context({"type": "interactive", "interactive": reply}, reply_to)


def list_reply(
    row_id: str, title: str, *, reply_to: str, description: str | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": row_id, "title": title}
    if description is not None:
        row["description"] = description
    reply = {"type": "list_reply", "list_reply": row}
    return _with_context({"type": "interactive", "interactive": reply}, reply_to)


def template_button(payload: str, label: str, *, reply_to: str) -> dict[str, Any]:
    """The tap on a template's quick-reply button."""
    return _with_context(
        {"type": "button", "button": {"payload": payload, "text": label}}, reply_to
    )


def reaction(message_id: str, emoji: str) -> dict[str, Any]:
    return {"type": "reaction", "reaction": {"message_id": message_id, "emoji": emoji}}


def order(
    catalog_id: str, items: list[tuple[str, int, float, str]], note: str = ""
) -> dict[str, Any]:
    """``items`` as (product retailer id, quantity, item price, currency)."""
    product_items = [
        {"product_retailer_id": pid, "quantity": qty, "item_price": price, "currency": currency}
        for pid, qty, price, currency in items
    ]
    content = {"catalog_id": catalog_id, "text": note, "product_items": product_items}
    return {"type": "order", "order": content}


def system_number_change(new_wa_id: str, body: str = "User changed number") -> dict[str, Any]:
    system = {"body": body, "type": "user_changed_number", "new_wa_id": new_wa_id}
    return {"type": "system", "system": system}


def _with_context(message: dict[str, Any], reply_to: str | None) -> dict[str, Any]:
    if reply_to is not None:
        message["context"] = {"id": reply_to}
    return message
