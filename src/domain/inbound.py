"""What customers and Meta tell a business, as plain values (no transport format).

These are the payloads of the inbound domain events: a received message with
its content, a delivery status, a marketing preference, and the account-level
notices (templates, account changes). The webhook adapter builds them from
Meta's JSON; nothing here knows about HTTP or JSON field names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class Value(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the inbound value objects: immutable, compact when encoded."""


class WhatsAppError(Value, frozen=True):
    """An error Meta attached to a message, a status or a whole update."""

    code: int
    title: str = ""
    message: str = ""
    details: str = ""
    href: str = ""


# --- message content: one tagged union, the tag is "kind" ------------------------------


class Content(Value, frozen=True, tag_field="kind"):
    """Base of every kind of message content."""


class TextContent(Content, frozen=True, tag="text"):
    body: str


class MediaContent(Content, frozen=True, tag="media"):
    """Image, video, audio (voice notes too), document or sticker, by ``media_type``."""

    media_type: Literal["image", "video", "audio", "document", "sticker"]
    media_id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    voice: bool = False
    animated: bool = False


class LocationContent(Content, frozen=True, tag="location"):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class CustomerIdentity(Value, frozen=True):
    """Every identifier Meta gave for one WhatsApp user; any of them may be withheld.

    ``phone`` is the wa_id (absent when the user hides their number behind a
    username), ``user_id`` the business-scoped user id (BSUID, e.g.
    ``US.13491208655302741918``), ``parent_user_id`` the parent BSUID shared across
    a managed business's portfolios, ``username`` the user's WhatsApp username.
    """

    phone: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None

    def merged(self, other: CustomerIdentity | None) -> CustomerIdentity:
        """This identity with the gaps filled from ``other``."""
        if other is None:
            return self
        return CustomerIdentity(
            phone=self.phone or other.phone,
            user_id=self.user_id or other.user_id,
            parent_user_id=self.parent_user_id or other.parent_user_id,
            username=self.username or other.username,
        )


class SharedPhone(Value, frozen=True):
    phone: str = ""
    wa_id: str | None = None
    type: str | None = None


class SharedContact(Value, frozen=True):
    formatted_name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    phones: tuple[SharedPhone, ...] = ()
    emails: tuple[str, ...] = ()
    organization: str | None = None
    origin: str | None = None  # "contact_request": the customer shared it when asked


class ContactsContent(Content, frozen=True, tag="contacts"):
    contacts: tuple[SharedContact, ...]


class ChoiceContent(Content, frozen=True, tag="choice"):
    """The customer tapped a reply button or picked a list row of an interactive message."""

    choice: Literal["button", "list"]
    reply_id: str
    title: str
    description: str | None = None


class FlowReplyContent(Content, frozen=True, tag="flow_reply"):
    """A WhatsApp Flow was completed; ``response_json`` is the form data as Meta sent it."""

    name: str = ""
    body: str = ""
    response_json: str = ""
    flow_token: str | None = None


class QuickReplyContent(Content, frozen=True, tag="quick_reply"):
    """The customer tapped a quick-reply button of a template message."""

    payload: str
    text: str


class ReactionContent(Content, frozen=True, tag="reaction"):
    """An emoji reaction to a message; no emoji means the reaction was removed."""

    target_wamid: str
    emoji: str | None = None

    @property
    def removed(self) -> bool:
        return not self.emoji


class OrderItem(Value, frozen=True):
    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str


class OrderContent(Content, frozen=True, tag="order"):
    """A cart sent from the business's catalog."""

    catalog_id: str
    items: tuple[OrderItem, ...]
    text: str = ""


class SystemContent(Content, frozen=True, tag="system"):
    """A notice WhatsApp sends about the customer, e.g. a changed number or identity."""

    system_type: str
    body: str = ""
    new_wa_id: str | None = None
    identity_hash: str | None = None
    user_id: str | None = None  # the customer's new BSUID (user_changed_number/_user_id)
    previous_user_id: str | None = None
    parent_user_id: str | None = None
    previous_parent_user_id: str | None = None

    @property
    def changes_identity(self) -> bool:
        return self.system_type in ("user_changed_number", "user_changed_user_id")

    @property
    def new_identity(self) -> CustomerIdentity:
        """The identifiers the customer has from now on (a changed number or user id)."""
        if not self.changes_identity:
            return CustomerIdentity()
        return CustomerIdentity(
            phone=self.new_wa_id, user_id=self.user_id, parent_user_id=self.parent_user_id
        )

    @property
    def previous_identity(self) -> CustomerIdentity:
        return CustomerIdentity(
            user_id=self.previous_user_id, parent_user_id=self.previous_parent_user_id
        )


class RevokeContent(Content, frozen=True, tag="revoke"):
    """The customer deleted one of their messages."""

    original_wamid: str


class EditContent(Content, frozen=True, tag="edit"):
    """The customer edited one of their messages; ``content`` is the new version."""

    original_wamid: str
    content: MessageContent


class UnsupportedContent(Content, frozen=True, tag="unsupported"):
    """A message this product cannot represent; kept whole so nothing is lost."""

    original_type: str
    errors: tuple[WhatsAppError, ...] = ()
    raw: dict[str, Any] = {}


MessageContent = (
    TextContent
    | MediaContent
    | LocationContent
    | ContactsContent
    | ChoiceContent
    | FlowReplyContent
    | QuickReplyContent
    | ReactionContent
    | OrderContent
    | SystemContent
    | RevokeContent
    | EditContent
    | UnsupportedContent
)


class ReferredProduct(Value, frozen=True):
    catalog_id: str
    product_retailer_id: str


class MessageContext(Value, frozen=True):
    """What a message refers to: the message it replies to, forwarding, a product."""

    reply_to_wamid: str | None = None
    reply_to_from: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: ReferredProduct | None = None


class AdReferral(Value, frozen=True):
    """The click-to-WhatsApp ad or post that started the conversation."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


class InboundMessage(Value, frozen=True):
    """A message a customer sent to one of the business's numbers."""

    phone_number_id: str
    customer_id: str  # the customer's wa_id (or Meta's user id when no wa_id is given)
    wamid: str
    sent_at: datetime
    type: str  # Meta's message type as given, e.g. "image" or an unknown new type
    content: MessageContent
    customer_name: str | None = None
    customer_user_id: str | None = None
    context: MessageContext | None = None
    referral: AdReferral | None = None
    customer: CustomerIdentity | None = None  # every identifier of the sender Meta gave
    group_id: str | None = None  # set when the message was written in a group

    @property
    def identity(self) -> CustomerIdentity:
        """The sender's identifiers (events stored before they were kept: the wa_id)."""
        if self.customer is not None:
            return self.customer
        return CustomerIdentity(phone=self.customer_id, user_id=self.customer_user_id)


class EchoedMessage(Value, frozen=True):
    """A message the business sent from the WhatsApp Business app (coexistence echo)."""

    phone_number_id: str
    customer_id: str  # the recipient's wa_id, or their BSUID when the number is withheld
    wamid: str
    sent_at: datetime
    type: str
    content: MessageContent
    customer: CustomerIdentity = CustomerIdentity()
    context: MessageContext | None = None


DeliveryState = Literal["sent", "delivered", "read", "played", "failed"]


class DeliveryStatus(Value, frozen=True):
    """What happened to a message the business sent: sent, delivered, read, played, failed."""

    phone_number_id: str
    recipient_id: str
    wamid: str
    status: str  # a DeliveryState, or a newer state Meta introduced (kept as given)
    at: datetime
    recipient_type: str = "individual"
    participant_id: str | None = None
    errors: tuple[WhatsAppError, ...] = ()
    conversation_id: str | None = None
    conversation_origin: str | None = None
    conversation_expires_at: datetime | None = None
    billable: bool | None = None
    pricing_model: str | None = None
    pricing_category: str | None = None  # e.g. marketing, marketing_lite, utility, service
    callback_data: str | None = None
    pricing_type: str | None = None  # e.g. regular, free_customer_service, free_entry_point
    recipient: CustomerIdentity | None = None  # every identifier Meta gave for the recipient
    participant_user_id: str | None = None  # in a group: the participant's BSUID

    @property
    def in_group(self) -> bool:
        return self.recipient_type == "group"

    @property
    def identity(self) -> CustomerIdentity:
        if self.recipient is not None:
            return self.recipient
        return CustomerIdentity(phone=self.recipient_id)


class MarketingPreference(Value, frozen=True):
    """A customer stopped, resumed or signed up for a category of messages."""

    phone_number_id: str
    customer_id: str
    category: str
    value: str
    at: datetime
    detail: str = ""
    signup_id: str | None = None
    customer: CustomerIdentity | None = None

    @property
    def identity(self) -> CustomerIdentity:
        return (
            self.customer if self.customer is not None else CustomerIdentity(phone=self.customer_id)
        )


class TemplateUpdate(Value, frozen=True):
    """Which template of which account an update is about."""

    account_id: str
    template_id: str
    name: str
    language: str


class TemplateStatus(TemplateUpdate, frozen=True):
    """Meta reviewed or changed the state of a message template (approved, rejected, ...)."""

    status: str
    at: datetime
    reason: str | None = None
    category: str | None = None
    rejection_detail: str | None = None
    recommendation: str | None = None


class TemplateQuality(TemplateUpdate, frozen=True):
    previous_score: str
    new_score: str
    at: datetime


class TemplateCategory(TemplateUpdate, frozen=True):
    new_category: str
    at: datetime
    previous_category: str | None = None


class TemplateCategoryChangeComing(TemplateUpdate, frozen=True):
    """Meta will move a template to another category at ``takes_effect_at`` (not done yet)."""

    current_category: str | None
    correct_category: str
    takes_effect_at: datetime | None
    at: datetime


class AccountNotice(Value, frozen=True):
    """Any other account-level update (restrictions, bans, number quality, partners, ...)."""

    account_id: str
    field: str
    event: str
    at: datetime
    details: dict[str, Any] = {}


class WebhookProblem(Value, frozen=True):
    """Errors Meta reported for a whole update instead of (or next to) its content."""

    phone_number_id: str
    errors: tuple[WhatsAppError, ...]
    at: datetime


class UnrecognizedUpdate(Value, frozen=True):
    """An update of a field this product does not know yet; kept whole, never an error."""

    account_id: str
    field: str
    at: datetime
    value: dict[str, Any] = {}
    fingerprint: str = ""


class UnreadableChange(Value, frozen=True):
    """A part of a delivery the parser could not read, kept exactly as Meta sent it.

    ``raw_json`` is the change (or, for ``scope == "entry"``, the whole entry) as
    the JSON text of the delivery; with the entry's id and time it rebuilds a
    delivery a later parser can read again, with the same event ids.
    """

    account_id: str | None
    raw_json: str
    error: str
    path: str
    at: datetime
    fingerprint: str
    scope: Literal["change", "entry"] = "change"
    field: str | None = None
    phone_number_id: str | None = None
    entry_time: int | None = None
