"""The 24-hour customer service window.

A business may send free-form messages to a customer only within 24 hours of that
customer's last message (by Meta's timestamp); outside it, only approved templates go
out. WazyBot decides this itself, at queue time and again right before sending, so
the window is never discovered through Meta's error 131047.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from domain.outbound import OutboundMessage, TemplateMessage

SERVICE_WINDOW: Final = timedelta(hours=24)
WINDOW_CLOSED_REASON: Final = (
    "the 24-hour customer service window is closed: only a template can reach this customer now"
)


def needs_open_window(message: OutboundMessage) -> bool:
    """Every kind but a template is free-form and needs the window open."""
    return not isinstance(message, TemplateMessage)


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    """When the window closes; None when the customer never wrote."""
    return None if last_inbound_at is None else last_inbound_at + SERVICE_WINDOW


def may_send(message: OutboundMessage, last_inbound_at: datetime | None, now: datetime) -> bool:
    """True when ``message`` may go out at ``now`` given the customer's last message time."""
    if not needs_open_window(message):
        return True
    closes_at = window_closes_at(last_inbound_at)
    return closes_at is not None and now < closes_at
