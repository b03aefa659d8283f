"""The sandbox's customer phone: a person plays a WhatsApp customer from the dashboard.

In sandbox mode WazyBot talks to a built-in Cloud API simulator instead of Meta. This port
lets the dashboard write as a customer (through the simulator, so the message arrives as a
signed webhook like a real one) and show what that customer's phone received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class PhoneCustomer:
    """Who the person plays: a phone number (digits), a profile name."""

    phone: str
    name: str


@dataclass(frozen=True, slots=True)
class PhoneChoice:
    """A reply button or a list row the customer can tap: the id sent back, the label shown."""

    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CartItem:
    """One line of a catalog order: the product's retailer id, how many, and the price the
    customer's catalog showed (WhatsApp sends it; WazyBot prices from its own catalog)."""

    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str
    name: str = ""  # what the customer's cart shows; the retailer id when empty


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    """One bubble of the customer's chat, either way.

    ``kind`` is text, buttons (reply buttons), list (an interactive list, its rows in
    ``choices``), product (a product message), template, media or other. ``status`` is what
    the customer's side shows for a message it sent (sent, delivered, read) and None for one
    it received.
    """

    id: str
    direction: Literal["from_customer", "to_customer"]
    kind: str
    text: str
    at: datetime
    choices: tuple[PhoneChoice, ...] = field(default=())
    list_button: str | None = None
    image_url: str | None = None


class SandboxPhoneError(ValueError):
    """A message the phone cannot send (empty text, unknown product, bad quantity...)."""


class SandboxPhone(Protocol):
    """The customer's side of the sandbox."""

    @property
    def default_customer(self) -> PhoneCustomer: ...

    async def send_text(self, customer: PhoneCustomer, text: str, *, hours_ago: int = 0) -> None:
        """Write ``text``; ``hours_ago`` plays a message WhatsApp timestamps that long ago (a
        late delivery): 25 closes the customer's 24-hour window, to try templates."""
        ...

    async def tap(
        self, customer: PhoneCustomer, message_id: str, choice: PhoneChoice, *, kind: str
    ) -> None:
        """Tap a reply button (``kind`` "button") or pick a list row (``kind`` "list") of the
        message ``message_id`` (a PhoneMessage's id): the reply quotes that message, as
        WhatsApp's does."""
        ...

    async def send_cart(self, customer: PhoneCustomer, items: list[CartItem]) -> None: ...

    def chat(self, customer: PhoneCustomer) -> list[PhoneMessage]:
        """The customer's chat, oldest first: what they sent and what the business sent."""
        ...
