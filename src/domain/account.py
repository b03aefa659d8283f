"""Account-level updates of a business: templates, account notices, unknown updates."""

from __future__ import annotations

import uuid
from typing import Final

from domain.events import DomainEvent, deterministic_event_id
from domain.inbound import (
    AccountNotice,
    TemplateCategory,
    TemplateCategoryChangeComing,
    TemplateQuality,
    TemplateStatus,
    UnreadableChange,
    UnrecognizedUpdate,
)

BUSINESS_STREAM_PREFIX: Final = "business-"
UNROUTED_STREAM: Final = "unrouted"


def business_stream(business_id: str) -> str:
    return f"{BUSINESS_STREAM_PREFIX}{business_id}"


class TemplateStatusUpdated(DomainEvent, frozen=True, tag="template.status_updated"):
    business_id: str
    template: TemplateStatus


class TemplateQualityUpdated(DomainEvent, frozen=True, tag="template.quality_updated"):
    business_id: str
    template: TemplateQuality


class TemplateCategoryUpdated(DomainEvent, frozen=True, tag="template.category_updated"):
    business_id: str
    template: TemplateCategory


class TemplateCategoryChangeAnnounced(
    DomainEvent, frozen=True, tag="template.category_change_announced"
):
    """Meta will recategorize a template at a given time; the category has not changed yet."""

    business_id: str
    template: TemplateCategoryChangeComing


class AccountNoticeReceived(DomainEvent, frozen=True, tag="account.notice_received"):
    business_id: str
    notice: AccountNotice


class UnrecognizedUpdateReceived(
    DomainEvent, frozen=True, tag="webhook.unrecognized_update_received"
):
    """An update of a field this product does not handle yet, kept for later use."""

    business_id: str
    update: UnrecognizedUpdate


class UnroutedUpdateReceived(DomainEvent, frozen=True, tag="webhook.unrouted_update_received"):
    """An update for a number or account no business owns; kept apart from every business."""

    phone_number_id: str | None
    account_id: str
    field: str
    fingerprint: str


class WebhookChangeUnreadable(DomainEvent, frozen=True, tag="webhook.change_unreadable"):
    """A change of a delivery the parser could not read, kept raw for a later parser.

    ``business_id`` is None when no business owns its number or account (it is then
    kept in the unrouted stream, content and all, so it is never lost).
    """

    business_id: str | None
    change: UnreadableChange


class WebhookChangeRecovered(DomainEvent, frozen=True, tag="webhook.change_recovered"):
    """A newer parser read a stored unreadable change; its updates were recorded."""

    business_id: str | None
    unreadable_event_id: str
    updates: int


def template_status_event_id(template: TemplateStatus) -> uuid.UUID:
    return deterministic_event_id(
        template.account_id, "template_status", template.template_id, template.status,
        template.at.isoformat(),
    )  # fmt: skip


def template_quality_event_id(template: TemplateQuality) -> uuid.UUID:
    return deterministic_event_id(
        template.account_id, "template_quality", template.template_id, template.new_score,
        template.at.isoformat(),
    )  # fmt: skip


def template_category_event_id(template: TemplateCategory) -> uuid.UUID:
    return deterministic_event_id(
        template.account_id, "template_category", template.template_id, template.new_category,
        template.at.isoformat(),
    )  # fmt: skip


def template_category_coming_event_id(template: TemplateCategoryChangeComing) -> uuid.UUID:
    takes_effect = template.takes_effect_at.isoformat() if template.takes_effect_at else "-"
    return deterministic_event_id(
        template.account_id, "template_category_coming", template.template_id,
        template.correct_category, takes_effect,
    )  # fmt: skip


def unreadable_event_id(change: UnreadableChange) -> uuid.UUID:
    return deterministic_event_id("unreadable", change.fingerprint)


def recovered_event_id(unreadable_event_id: str) -> uuid.UUID:
    return deterministic_event_id("recovered", unreadable_event_id)


def fingerprint_event_id(kind: str, fingerprint: str) -> uuid.UUID:
    """For updates without an id of their own: the hash of their exact bytes."""
    return deterministic_event_id(kind, fingerprint)
