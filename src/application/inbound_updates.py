"""What one webhook delivery contains, once decoded: updates to route to businesses.

The webhook adapter produces these from Meta's JSON; the ingestion service
routes each to the business that owns its number or account and records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.inbound import (
    AccountNotice,
    DeliveryStatus,
    EchoedMessage,
    InboundMessage,
    MarketingPreference,
    TemplateCategory,
    TemplateCategoryChangeComing,
    TemplateQuality,
    TemplateStatus,
    UnreadableChange,
    UnrecognizedUpdate,
    WebhookProblem,
)

NumberPayload = (
    InboundMessage | EchoedMessage | DeliveryStatus | MarketingPreference | WebhookProblem
)
AccountPayload = (
    TemplateStatus | TemplateQuality | TemplateCategory | TemplateCategoryChangeComing
    | AccountNotice
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NumberUpdate:
    """Something that happened on one business phone number (routed by its id)."""

    account_id: str
    phone_number_id: str
    field: str
    payload: NumberPayload | UnrecognizedUpdate | UnreadableChange
    fingerprint: str  # hash of the change's exact bytes, for updates without an id of their own


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Something that happened on a WhatsApp Business Account (routed by its id)."""

    account_id: str
    field: str
    payload: AccountPayload | UnrecognizedUpdate | UnreadableChange
    fingerprint: str
    timed: bool  # Meta gave the entry a time, so the payload's identity is stable


InboundUpdate = NumberUpdate | AccountUpdate


class WebhookFormatError(ValueError):
    """A body, or a part of one, this product cannot read; the message says where and why."""
