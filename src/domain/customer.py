"""Who a customer is: one key per customer of a business number, whatever Meta calls them.

Meta names a WhatsApp user by a phone number (wa_id), a business-scoped user id
(BSUID), a parent BSUID and a username, and may withhold any of them. A
customer's key is fixed by the first identifier seen (the phone number when
there is one, so conversations that began before BSUIDs keep their stream ids);
each identifier is claimed for that key by a link event in a stream named after
the identifier. The conversation stream is named after the key.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

from domain.events import DomainEvent, deterministic_event_id
from domain.inbound import CustomerIdentity

CUSTOMER_STREAM_PREFIX: Final = "customer-"
USERNAME_MARK: Final = "@"  # usernames may look like anything; the mark keeps them apart
GROUP_MARK: Final = "group:"  # a group conversation's key: never a customer's
MAX_NAME_LENGTH: Final = 200  # the event store's limit on stream ids
FIRST_SEEN: Final = "first_seen"
TAKEN_OVER: Final = "taken_over_at_version_"  # + the version the previous owner had


class CustomerIdentifierLinked(DomainEvent, frozen=True, tag="customer.identifier_linked"):
    """``identifier`` names the customer ``customer`` of this number from now on.

    The last event of an identifier's stream is its current owner. ``cause`` is
    the wamid of a system message that moved it (changed number or user id), or
    ``first_seen``.
    """

    business_id: str
    phone_number_id: str
    identifier: str
    customer: str
    cause: str = FIRST_SEEN


def lookup_identifiers(identity: CustomerIdentity) -> list[str]:
    """Every identifier of a customer, most specific first.

    A BSUID names one user for good (a changed number gets a new one), a phone
    number may pass to someone else, a parent BSUID spans businesses, a username
    can be given up and taken by another user.
    """
    candidates = (
        identity.user_id,
        identity.phone,
        identity.parent_user_id,
        username_identifier(identity.username) if identity.username else None,
    )
    return [c for c in candidates if c]


def username_identifier(username: str) -> str:
    return USERNAME_MARK + username


def routes_alone(identifier: str) -> bool:
    """May this identifier decide who a customer is when others were given too?

    A username may have passed from another user, so it names the customer only
    when Meta gave nothing else.
    """
    return not identifier.startswith(USERNAME_MARK)


def first_key(identity: CustomerIdentity) -> str:
    """The key of a customer seen for the first time: the phone number when Meta gave one."""
    for candidate in (identity.phone, identity.user_id, identity.parent_user_id):
        if candidate:
            return candidate
    if identity.username:
        return username_identifier(identity.username)
    raise ValueError("a customer needs at least one identifier")


def group_key(group_id: str) -> str:
    return GROUP_MARK + group_id


def customer_stream(phone_number_id: str, identifier: str) -> str:
    return bounded_name(CUSTOMER_STREAM_PREFIX, phone_number_id, identifier)


def bounded_name(prefix: str, phone_number_id: str, key: str) -> str:
    """``<prefix><number>-<key>``, with an over-long key replaced by its hash."""
    name = f"{prefix}{phone_number_id}-{key}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    return f"{prefix}{phone_number_id}-#{hashlib.sha256(key.encode()).hexdigest()}"


def link_event_id(phone_number_id: str, identifier: str, customer: str, cause: str) -> uuid.UUID:
    return deterministic_event_id(phone_number_id, "identifier", identifier, customer, cause)
