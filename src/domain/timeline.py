"""How a conversation reads on a dashboard: message summaries, status order, the service window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from domain.inbound import (
    ChoiceContent,
    ContactsContent,
    EditContent,
    FlowReplyContent,
    LocationContent,
    MediaContent,
    MessageContent,
    OrderContent,
    QuickReplyContent,
    ReactionContent,
    RevokeContent,
    SystemContent,
    TextContent,
    UnsupportedContent,
)
from domain.outbound import (
    ContactRequestMessage,
    ListMessage,
    MediaMessage,
    OutboundMessage,
    ReactionMessage,
    ReplyButtonsMessage,
    TemplateMessage,
    TextMessage,
)

# Meta lets a business answer freely for 24 hours after the customer's last message.
SERVICE_WINDOW: Final = timedelta(hours=24)
PREVIEW_LENGTH: Final = 160

# A delivery status only moves forward. "failed" ends a message that was never delivered.
_STATUS_RANK: Final = {"sent": 1, "delivered": 2, "read": 3, "played": 4}
FAILED: Final = "failed"


def status_moves_forward(current: str | None, new: str) -> bool:
    """Does ``new`` replace ``current`` as a message's status?

    sent < delivered < read < played; a failure replaces only a status short of
    delivered, and nothing replaces a failure. Unknown states never replace a known one.
    """
    if current == FAILED:
        return False
    current_rank = _STATUS_RANK.get(current, 0) if current is not None else 0
    if new == FAILED:
        return current_rank < _STATUS_RANK["delivered"]
    new_rank = _STATUS_RANK.get(new)
    if new_rank is None:
        return current is None
    return new_rank > current_rank


def service_window_closes(last_customer_message_at: datetime) -> datetime:
    return last_customer_message_at + SERVICE_WINDOW


def summarize(content: MessageContent) -> str:
    """A one-line, human-readable rendering of a message for lists and timelines."""
    return _shorten(_summary(content))


def _summary(content: MessageContent) -> str:
    match content:
        case TextContent(body=body):
            return body
        case MediaContent(media_type=media_type, caption=caption, filename=filename):
            label = "Voice message" if content.voice else media_type.capitalize()
            return _labelled(label, caption or filename)
        case LocationContent(name=name, address=address, latitude=lat, longitude=lon):
            return _labelled("Location", name or address or f"{lat:.5f}, {lon:.5f}")
        case ContactsContent(contacts=contacts):
            return _labelled(
                "Contact", ", ".join(c.formatted_name for c in contacts if c.formatted_name)
            )
        case ChoiceContent(title=title):
            return _labelled("Choice", title)
        case QuickReplyContent(text=text):
            return _labelled("Button", text)
        case FlowReplyContent(name=name, body=body):
            return _labelled("Form", body or name)
        case ReactionContent(emoji=emoji):
            return _labelled("Reaction", emoji) if emoji else "[Reaction removed]"
        case OrderContent(items=items, text=text):
            count = sum(item.quantity for item in items)
            return _labelled("Order", text or f"{count} item{'s' if count != 1 else ''}")
        case SystemContent(body=body, system_type=system_type):
            return _labelled("System", body or system_type)
        case RevokeContent():
            return "[Message deleted]"
        case EditContent(content=edited):
            return _labelled("Edited", _summary(edited))
        case UnsupportedContent(original_type=original_type):
            return f"[Unsupported: {original_type}]"
    return f"[{type(content).__name__}]"


def _labelled(label: str, detail: str | None) -> str:
    return f"[{label}] {detail}" if detail else f"[{label}]"


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"


def outbound_type(message: OutboundMessage) -> str:
    """WhatsApp's type of a message the business sends (as its statuses and echoes name it)."""
    match message:
        case TextMessage():
            return "text"
        case MediaMessage(media_type=media_type):
            return media_type
        case TemplateMessage():
            return "template"
        case ReactionMessage():
            return "reaction"
    return "interactive"


def outbound_summary(message: OutboundMessage) -> str:
    """A one-line rendering of a message the business sends, like ``summarize``."""
    return _shorten(_outbound_summary(message))


def _outbound_summary(message: OutboundMessage) -> str:
    match message:
        case TextMessage(body=body):
            return body
        case MediaMessage(media_type=media_type, caption=caption, filename=filename):
            return _labelled(media_type.capitalize(), caption or filename)
        case ReplyButtonsMessage(body=body):
            return _labelled("Buttons", body)
        case ListMessage(body=body):
            return _labelled("List", body)
        case TemplateMessage(name=name, language=language):
            return _labelled("Template", f"{name} ({language})")
        case ReactionMessage(emoji=emoji):
            return _labelled("Reaction", emoji) if emoji else "[Reaction removed]"
        case ContactRequestMessage(body=body):
            return _labelled("Contact request", body)
    return f"[{type(message).__name__}]"
