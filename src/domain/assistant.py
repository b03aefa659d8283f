"""What the assistant sees and decides, as plain data.

A turn answers one or more customer messages of a conversation that arrived while no turn
ran for it. The assistant reads an ``AssistantContext`` and returns a ``Decision``: a
message to queue (any outbound kind WhatsApp allows, a list of recommended products among
them), an order to place, or a handoff to a person. Decisions
are recorded as events, so they are msgspec Structs on a tagged union.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

import msgspec

from domain.outbound import OutboundMessage, TextMessage

Language: TypeAlias = Literal["fr", "en"]
Speaker: TypeAlias = Literal["customer", "assistant", "agent"]


class Said(msgspec.Struct, frozen=True, kw_only=True):
    """One earlier message of the conversation, as text (oldest first in a history)."""

    speaker: Speaker
    text: str
    at: datetime


class CustomerInput(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A message the turn answers, rendered for the assistant.

    ``text`` is what the customer said: the body, a caption, the title of a tapped button
    or list row (its id in ``choice_id``), a location's name and address, shared contacts.
    ``unseen_media`` names media the assistant cannot look at (``image``, ``audio``...), so
    it can say so politely instead of guessing.
    """

    wamid: str
    kind: str
    text: str
    at: datetime
    choice_id: str | None = None
    unseen_media: str | None = None


class AssistantContext(msgspec.Struct, frozen=True, kw_only=True):
    business_id: str
    conversation_id: str
    language: Language  # the customer's (detected) or the business's fixed choice
    instructions: str  # the business's own instructions, free text
    customer_name: str | None
    business_hours: str | None
    history: tuple[Said, ...]  # recent messages before the new ones, oldest first
    new_messages: tuple[CustomerInput, ...]  # what this turn answers, oldest first


class Reply(msgspec.Struct, frozen=True, kw_only=True, tag="reply"):
    """Queue this message (text, buttons, list, template...) for the customer."""

    message: OutboundMessage


EscalationCause: TypeAlias = Literal[
    "customer_asked", "assistant_decided", "keyword", "repeated_failures", "agent_took_over"
]


class Escalate(msgspec.Struct, frozen=True, kw_only=True, tag="escalate"):
    """Hand the conversation to a person; ``reason`` is readable, for the team."""

    cause: EscalationCause
    reason: str


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    product_id: str
    quantity: int


class PlaceOrder(msgspec.Struct, frozen=True, kw_only=True, tag="place_order"):
    """Place an order of these catalog products for the customer: the orders process
    manager prices it from the catalog and sends its summary, to be confirmed with a tap."""

    items: tuple[OrderLine, ...]

    @property
    def message(self) -> OutboundMessage:
        """How the decision reads in a transcript: the items asked for, as text (the
        customer is sent the order's summary, or why it cannot be placed)."""
        lines = ", ".join(f"{line.quantity} x {line.product_id}" for line in self.items)
        return TextMessage(body=f"[order placed: {lines}]")


Decision: TypeAlias = Reply | Escalate | PlaceOrder


class AssistantAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A decision and how it was reached (recorded with the turn)."""

    decision: Decision
    provider: str  # "offline", "openai"
    model: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
