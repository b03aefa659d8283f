"""Businesses: who owns which WhatsApp numbers, and the settings that apply to them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from domain.conversation import DEFAULT_FLOOD_LIMIT
from domain.send_pacing import validate_send_rate

DEFAULT_BUSINESS_ID: Final = "default"
BUSINESS_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_FLOOD_LIMIT: Final = 10_000


class BusinessError(ValueError):
    """A business cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class BusinessRoute:
    """What the webhook needs to know about the business that owns an update."""

    business_id: str
    flood_limit: int = DEFAULT_FLOOD_LIMIT


@dataclass(frozen=True, slots=True)
class Business:
    id: str
    name: str
    phone_number_ids: tuple[str, ...]
    account_id: str | None = None
    flood_limit: int | None = None  # None: the deployment's default (WAZYBOT_FLOOD_LIMIT)
    send_rate: int | None = None  # messages a second per number; None: WAZYBOT_SEND_RATE
    has_access_token: bool = False
    source: str = "database"  # or "environment" for the default business
    access_token: str | None = field(default=None, repr=False)
    removed_at: datetime | None = None  # removed businesses keep their data but route nothing

    def route(self, default_flood_limit: int = DEFAULT_FLOOD_LIMIT) -> BusinessRoute:
        return BusinessRoute(self.id, self.flood_limit or default_flood_limit)


def validate_business(business: Business) -> None:
    """Raise BusinessError naming the first thing wrong with a new business."""
    if not BUSINESS_ID_PATTERN.match(business.id):
        raise BusinessError(
            f"business id {business.id!r} must be 1 to 63 lowercase letters, digits, '-' or '_'"
            ", starting with a letter or digit"
        )
    if not business.name.strip():
        raise BusinessError("a business needs a name")
    if not business.phone_number_ids:
        raise BusinessError("a business needs at least one phone number id")
    for number in (*business.phone_number_ids, business.account_id or "0"):
        if not number.isdigit() or len(number) > 30:
            raise BusinessError(f"{number!r} is not a Meta id (digits only, as Meta shows it)")
    if len(set(business.phone_number_ids)) != len(business.phone_number_ids):
        raise BusinessError("the same phone number id is given twice")
    if business.flood_limit is not None and not 1 <= business.flood_limit <= MAX_FLOOD_LIMIT:
        raise BusinessError(f"the flood limit must be from 1 to {MAX_FLOOD_LIMIT} a minute")
    if business.send_rate is not None:
        try:
            validate_send_rate(business.send_rate)
        except ValueError as error:
            raise BusinessError(str(error)) from None


@dataclass(frozen=True, slots=True)
class BusinessChanges:
    """What `wazybot business update` changes; None (or empty) leaves a setting as it is."""

    name: str | None = None
    add_phone_number_ids: tuple[str, ...] = ()
    remove_phone_number_ids: tuple[str, ...] = ()
    account_id: str | None = None
    flood_limit: int | None = None
    access_token: str | None = field(default=None, repr=False)
    send_rate: int | None = None

    @property
    def empty(self) -> bool:
        return self == BusinessChanges()


def apply_changes(business: Business, changes: BusinessChanges) -> Business:
    """The business after the changes, validated; BusinessError names what is wrong."""
    numbers = list(business.phone_number_ids)
    for number in changes.remove_phone_number_ids:
        if number not in numbers:
            raise BusinessError(f"business {business.id!r} does not own phone number id {number}")
        numbers.remove(number)
    for number in changes.add_phone_number_ids:
        if number in numbers:
            raise BusinessError(f"business {business.id!r} already owns phone number id {number}")
        numbers.append(number)
    if not numbers:
        raise BusinessError("a business needs at least one phone number id (remove it instead)")
    updated = replace(
        business,
        name=business.name if changes.name is None else changes.name.strip(),
        phone_number_ids=tuple(numbers),
        account_id=business.account_id if changes.account_id is None else changes.account_id,
        flood_limit=business.flood_limit if changes.flood_limit is None else changes.flood_limit,
        send_rate=business.send_rate if changes.send_rate is None else changes.send_rate,
        access_token=business.access_token
        if changes.access_token is None
        else changes.access_token,
        has_access_token=business.has_access_token or changes.access_token is not None,
    )
    validate_business(updated)
    return updated
