"""A business's order settings: which approved templates reach a customer about an order once
the 24-hour window has closed, and in which template language for each customer language.

The settings live in their own stream (``orders-settings-<business id>``) as
``OrderSettingsChanged`` events holding only the fields that changed, like the assistant
settings. A template named here is filled with two body parameters: the order's reference,
then the total (confirmation) or the new status in the customer's language (status notice).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Final, Literal, TypeAlias

import msgspec

from domain.events import DomainEvent, deterministic_event_id
from domain.setting_changes import SettingChanges

ORDER_SETTINGS_STREAM_PREFIX: Final = "orders-settings-"
TEMPLATE_NAME_MAX: Final = 512
LANGUAGE_CODE: Final = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_TEMPLATE_NAME: Final = re.compile(r"^[a-z0-9_]+$")

Language: TypeAlias = Literal["fr", "en"]
NoticeKind: TypeAlias = Literal["confirmation", "status"]


class OrderSettingsError(ValueError):
    """A setting's value is refused; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class OrderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """None for a template: no template is configured, so outside the window the customer
    cannot be told (the order changes all the same)."""

    confirmation_template: str | None = None
    status_template: str | None = None
    template_language_fr: str = "fr"
    template_language_en: str = "en"

    def template(self, kind: NoticeKind) -> str | None:
        return self.confirmation_template if kind == "confirmation" else self.status_template

    def template_language(self, language: Language) -> str:
        return self.template_language_fr if language == "fr" else self.template_language_en


UNSET: Final = msgspec.UNSET
Unset: TypeAlias = msgspec.UnsetType


class OrderSettingsChanges(SettingChanges, frozen=True, kw_only=True):
    """Some settings' new values; a field left UNSET keeps its value. An empty template name
    given by a person means "none" and is stored as None."""

    confirmation_template: str | Unset | None = UNSET
    status_template: str | Unset | None = UNSET
    template_language_fr: str | Unset = UNSET
    template_language_en: str | Unset = UNSET


class OrderSettingsChanged(DomainEvent, frozen=True, tag="orders.settings_changed"):
    business_id: str
    changes: OrderSettingsChanges


def order_settings_stream(business_id: str) -> str:
    return f"{ORDER_SETTINGS_STREAM_PREFIX}{business_id}"


def order_settings_event_id(
    business_id: str, version: int, changes: OrderSettingsChanges
) -> uuid.UUID:
    digest = hashlib.sha256(msgspec.json.encode(changes)).hexdigest()
    return deterministic_event_id("orders_settings", business_id, str(version), digest)


def order_settings_of(events: list[DomainEvent]) -> OrderSettings:
    settings = OrderSettings()
    for event in events:
        if isinstance(event, OrderSettingsChanged):
            settings = msgspec.structs.replace(settings, **event.changes.given())
    return settings


def validated(changes: OrderSettingsChanges) -> OrderSettingsChanges:
    """The changes tidied; OrderSettingsError names the first wrong field."""
    tidy: dict[str, Any] = {}
    for name, value in changes.given().items():
        if name.endswith("_template"):
            tidy[name] = _template_name(name, value)
        else:
            tidy[name] = _language_code(name, value)
    return OrderSettingsChanges(**tidy)


def _template_name(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OrderSettingsError(field, "must be a template name")
    name = value.strip()
    if not name:
        return None
    if len(name) > TEMPLATE_NAME_MAX or not _TEMPLATE_NAME.match(name):
        raise OrderSettingsError(
            field,
            f"must be a template name of lowercase letters, digits and underscores "
            f"(at most {TEMPLATE_NAME_MAX} characters)",
        )
    return name


def _language_code(field: str, value: object) -> str:
    if not isinstance(value, str) or not LANGUAGE_CODE.match(value.strip()):
        raise OrderSettingsError(field, "must be a template language code such as fr, en or en_US")
    return value.strip()
