"""Meta's WhatsApp Cloud API webhook format, decoded with msgspec and translated.

The structs below mirror the JSON Meta posts (only the fields this product
reads; unknown fields are ignored by msgspec). ``parse_webhook`` turns a raw
body into routed updates holding domain values. Every entry, change, message
and status is translated; a message type or field this product does not know
is kept as an unsupported or unrecognized record instead of being dropped, and
a change (or entry) the parser cannot read becomes an ``UnreadableChange``
holding its raw JSON, so the rest of the delivery is still recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from application.inbound_updates import (
    AccountUpdate,
    InboundUpdate,
    NumberUpdate,
    WebhookFormatError,
)
from domain.inbound import (
    AccountNotice,
    AdReferral,
    ChoiceContent,
    ContactsContent,
    CustomerIdentity,
    DeliveryStatus,
    EchoedMessage,
    EditContent,
    FlowReplyContent,
    InboundMessage,
    LocationContent,
    MarketingPreference,
    MediaContent,
    MessageContent,
    MessageContext,
    OrderContent,
    OrderItem,
    QuickReplyContent,
    ReactionContent,
    ReferredProduct,
    RevokeContent,
    SharedContact,
    SharedPhone,
    SystemContent,
    TemplateCategory,
    TemplateCategoryChangeComing,
    TemplateQuality,
    TemplateStatus,
    TextContent,
    UnreadableChange,
    UnrecognizedUpdate,
    UnsupportedContent,
    WebhookProblem,
    WhatsAppError,
)

WHATSAPP_OBJECT: Final = "whatsapp_business_account"
# BSUIDs are a country code, a period and up to 128 alphanumerics; parent ids add "ENT.".
MAX_ID_LENGTH: Final = 256
Identifier = str | int  # Meta sends most ids as strings, some (template ids) as numbers


class _Struct(msgspec.Struct):
    pass


# --- envelope --------------------------------------------------------------------------


class _Change(_Struct):
    field: str
    value: msgspec.Raw


class _Entry(_Struct):
    """An entry; its changes are decoded one by one, so one bad change spoils no other."""

    id: Identifier
    changes: list[msgspec.Raw] = []
    time: int | None = None


class _Envelope(_Struct):
    object: str
    entry: list[msgspec.Raw]


# --- shared pieces -----------------------------------------------------------------------


class _ErrorData(_Struct):
    details: str = ""


class _Error(_Struct):
    code: int
    title: str = ""
    message: str = ""
    error_data: _ErrorData | None = None
    href: str = ""


class _Metadata(_Struct):
    phone_number_id: Identifier
    display_phone_number: str = ""


class _Profile(_Struct):
    name: str | None = None
    username: str | None = None


class _Contact(_Struct):
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile: _Profile | None = None


# --- message bodies ----------------------------------------------------------------------


class _Text(_Struct):
    body: str


class _Media(_Struct):
    id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    voice: bool = False
    animated: bool = False


class _Location(_Struct):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class _ContactName(_Struct):
    formatted_name: str = ""
    first_name: str | None = None
    last_name: str | None = None


class _ContactPhone(_Struct):
    phone: str = ""
    wa_id: str | None = None
    type: str | None = None


class _ContactEmail(_Struct):
    email: str = ""


class _ContactOrg(_Struct):
    company: str | None = None


class _SharedContact(_Struct):
    name: _ContactName | None = None
    phones: list[_ContactPhone] = []
    emails: list[_ContactEmail] = []
    org: _ContactOrg | None = None
    origin: str | None = None


class _Reply(_Struct):
    id: str
    title: str
    description: str | None = None


class _FlowReply(_Struct):
    response_json: str = ""
    body: str = ""
    name: str = ""


class _Interactive(_Struct):
    type: str
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None
    nfm_reply: _FlowReply | None = None


class _Button(_Struct):
    payload: str = ""
    text: str = ""


class _Reaction(_Struct):
    message_id: str
    emoji: str | None = None


class _ProductItem(_Struct):
    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str


class _Order(_Struct):
    catalog_id: str
    product_items: list[_ProductItem] = []
    text: str = ""


class _System(_Struct):
    type: str = ""
    body: str = ""
    wa_id: str | None = None
    new_wa_id: str | None = None
    user_id: str | None = None
    previous_user_id: str | None = None
    parent_user_id: str | None = None
    previous_parent_user_id: str | None = None


class _Identity(_Struct):
    hash: str | None = None


class _Revoke(_Struct):
    original_message_id: str


class _ReferredProduct(_Struct):
    catalog_id: str
    product_retailer_id: str


class _Context(_Struct):
    id: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: _ReferredProduct | None = None
    from_: str | None = msgspec.field(default=None, name="from")


class _Body(_Struct, kw_only=True):
    """The content part of a message; an edit carries one of these without an id."""

    type: str = "unknown"
    context: _Context | None = None
    errors: list[_Error] = []
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    audio: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    contacts: list[_SharedContact] | None = None
    interactive: _Interactive | None = None
    button: _Button | None = None
    reaction: _Reaction | None = None
    order: _Order | None = None
    system: _System | None = None
    identity: _Identity | None = None
    revoke: _Revoke | None = None
    edit: _Edit | None = None


class _Edit(_Struct):
    original_message_id: str
    message: _Body


class _Message(_Body, kw_only=True):
    id: str
    timestamp: Identifier
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    group_id: str | None = None
    referral: AdReferral | None = None  # same field names as Meta's


class _Echo(_Body, kw_only=True):
    """A message the business sent from the WhatsApp Business app (coexistence)."""

    id: str
    timestamp: Identifier
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None


# --- statuses and other number-level values ----------------------------------------------


class _Origin(_Struct):
    type: str | None = None


class _Conversation(_Struct):
    id: str | None = None
    origin: _Origin | None = None
    expiration_timestamp: Identifier | None = None


class _Pricing(_Struct):
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class _Status(_Struct):
    id: str
    status: str
    timestamp: Identifier
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    recipient_type: str = "individual"
    recipient_participant_id: str | None = None
    recipient_participant_user_id: str | None = None
    errors: list[_Error] = []
    conversation: _Conversation | None = None
    pricing: _Pricing | None = None
    biz_opaque_callback_data: str | None = None


class _MessagesValue(_Struct):
    metadata: _Metadata
    contacts: list[_Contact] = []
    messages: list[_Message] = []
    statuses: list[_Status] = []
    errors: list[_Error] = []


class _EchoesValue(_Struct):
    metadata: _Metadata
    contacts: list[_Contact] = []
    message_echoes: list[_Echo] = []


class _RawMessages(_Struct):
    """The messages of a value as Meta sent them, for keeping an unsupported one whole."""

    messages: list[msgspec.Raw] = []


class _Preference(_Struct):
    category: str
    value: str
    timestamp: Identifier
    detail: str = ""
    signup_id: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class _PreferencesValue(_Struct):
    metadata: _Metadata
    user_preferences: list[_Preference] = []


class _NumberScopedValue(_Struct):
    """Just enough of an unknown field's value to tell which number it concerns."""

    metadata: _Metadata | None = None


# --- template values ---------------------------------------------------------------------


class _RejectionInfo(_Struct):
    reason: str | None = None
    recommendation: str | None = None


class _OtherInfo(_Struct):
    title: str | None = None
    description: str | None = None


class _TemplateStatusValue(_Struct):
    event: str
    message_template_id: Identifier
    message_template_name: str = ""
    message_template_language: str = ""
    reason: str | None = None
    message_template_category: str | None = None
    rejection_info: _RejectionInfo | None = None
    other_info: _OtherInfo | None = None


class _TemplateQualityValue(_Struct):
    message_template_id: Identifier
    new_quality_score: str
    previous_quality_score: str = ""
    message_template_name: str = ""
    message_template_language: str = ""


class _TemplateCategoryValue(_Struct):
    message_template_id: Identifier
    new_category: str | None = None
    previous_category: str | None = None
    message_template_name: str = ""
    message_template_language: str = ""
    correct_category: str | None = None  # only in the notice of an impending change
    category_update_timestamp: Identifier | None = None


# Account-level fields recorded as notices: their details are kept as Meta sent them.
ACCOUNT_NOTICE_FIELDS: Final = frozenset({
    "account_update", "account_review_update", "account_alerts", "business_capability_update",
    "business_status_update", "phone_number_name_update", "phone_number_quality_update",
    "security", "message_template_components_update", "partner_solutions",
})  # fmt: skip

_ENVELOPE = msgspec.json.Decoder(_Envelope)
_ENTRY = msgspec.json.Decoder(_Entry)
_CHANGE = msgspec.json.Decoder(_Change)
_ECHOES_VALUE = msgspec.json.Decoder(_EchoesValue)
_ANY = msgspec.json.Decoder()
_MESSAGES_VALUE = msgspec.json.Decoder(_MessagesValue)
_RAW_MESSAGES = msgspec.json.Decoder(_RawMessages)
_PREFERENCES_VALUE = msgspec.json.Decoder(_PreferencesValue)
_NUMBER_SCOPED = msgspec.json.Decoder(_NumberScopedValue)
_TEMPLATE_STATUS = msgspec.json.Decoder(_TemplateStatusValue)
_TEMPLATE_QUALITY = msgspec.json.Decoder(_TemplateQualityValue)
_TEMPLATE_CATEGORY = msgspec.json.Decoder(_TemplateCategoryValue)
_OBJECT = msgspec.json.Decoder(dict[str, Any])


def parse_webhook(body: bytes, received_at: datetime) -> list[InboundUpdate]:
    """Every update of one webhook delivery, in the order Meta sent them.

    Raises WebhookFormatError only when the body is not JSON or not a WhatsApp
    webhook at all (no ``object``/``entry``). An entry or change that cannot be
    read becomes an ``UnreadableChange`` update in its place.
    """
    try:
        body.decode()  # JSON text is UTF-8 (RFC 8259); the parts kept raw are not checked later
        envelope = _ENVELOPE.decode(storable_json(body))
    except UnicodeDecodeError as error:
        raise WebhookFormatError(f"invalid JSON: not UTF-8 at byte {error.start}") from None
    except msgspec.DecodeError as error:
        raise WebhookFormatError(str(error)) from None
    if envelope.object != WHATSAPP_OBJECT:
        raise WebhookFormatError(f"expected object {WHATSAPP_OBJECT!r}, got {envelope.object!r}")
    return [
        update
        for index, raw_entry in enumerate(envelope.entry)
        for update in _entry_updates(raw_entry, received_at, f"$.entry[{index}]")
    ]


def unreadable_delivery(body: bytes, received_at: datetime, error: str) -> list[InboundUpdate]:
    """Every entry of a delivery kept raw as unreadable, for one whose data cannot be stored.

    The raw JSON travels as text, which the store can always hold, and `webhooks
    reprocess` reads it again once a version stores what it holds.
    """
    envelope = _ENVELOPE.decode(storable_json(body))
    return [
        _unreadable_entry(raw_entry, error, f"$.entry[{index}]", received_at)
        for index, raw_entry in enumerate(envelope.entry)
    ]


# A JSON escape of U+0000 (PostgreSQL refuses it in text and jsonb), preceded by an even
# number of backslashes: after an odd number the backslash is itself escaped text.
_NUL_ESCAPE: Final = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def storable_json(body: bytes) -> bytes:
    """The body with every escaped U+0000 replaced by U+FFFD, so each string can be stored."""
    if b"\\u0000" not in body:
        return body
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", body)


def _entry_updates(raw_entry: msgspec.Raw, received_at: datetime, path: str) -> list[InboundUpdate]:
    try:
        entry = _ENTRY.decode(raw_entry)
        account_id = _text_id(entry.id, "entry id")
        at = _entry_time(entry, received_at)
    except (msgspec.DecodeError, WebhookFormatError) as error:
        return [_unreadable_entry(raw_entry, str(error), path, received_at)]
    updates: list[InboundUpdate] = []
    for index, raw_change in enumerate(entry.changes):
        try:
            change = _CHANGE.decode(raw_change)
            updates.extend(_translate_change(account_id, entry.time, change, at))
        except Exception as error:  # a translator's bug must not cost the delivery either
            updates.append(_unreadable_change(
                account_id, entry.time, raw_change, _problem(error), f"{path}.changes[{index}]", at
            ))  # fmt: skip
    return updates


def _problem(error: Exception) -> str:
    if isinstance(error, msgspec.DecodeError | WebhookFormatError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _translate_change(
    account_id: str, time: int | None, change: _Change, at: datetime
) -> list[InboundUpdate]:
    """All updates of one change, or an error: never a part of them."""
    fingerprint = _fingerprint(account_id, time, change)
    translate = _TRANSLATORS.get(change.field)
    if translate is not None:
        return list(translate(_ChangeContext(account_id, change, fingerprint, at)))
    if change.field in ACCOUNT_NOTICE_FIELDS:
        return [_account_notice(account_id, change, fingerprint, at, timed=time is not None)]
    return [_unrecognized(account_id, change, fingerprint, at, timed=time is not None)]


# --- unreadable parts --------------------------------------------------------------------


def _unreadable_change(
    account_id: str,
    time: int | None,
    raw_change: msgspec.Raw,
    error: str,
    path: str,
    at: datetime,
) -> InboundUpdate:
    field, number = _loose_field_and_number(raw_change)
    fingerprint = _raw_fingerprint(account_id, time, raw_change)
    payload = UnreadableChange(
        account_id=account_id, raw_json=bytes(raw_change).decode(), error=error, path=path,
        at=at, fingerprint=fingerprint, field=field, phone_number_id=number, entry_time=time,
    )  # fmt: skip
    if number is not None:
        return NumberUpdate(account_id, number, field or "", payload, fingerprint)
    return AccountUpdate(account_id, field or "", payload, fingerprint, timed=time is not None)


def _unreadable_entry(
    raw_entry: msgspec.Raw, error: str, path: str, received_at: datetime
) -> InboundUpdate:
    loose = _loose_object(raw_entry)
    entry_id = loose.get("id")
    account_id = str(entry_id).strip() if isinstance(entry_id, str | int) else ""
    if len(account_id) > MAX_ID_LENGTH:
        account_id = ""
    fingerprint = _raw_fingerprint(account_id, None, raw_entry)
    payload = UnreadableChange(
        account_id=account_id or None, raw_json=bytes(raw_entry).decode(), error=error,
        path=path, at=received_at, fingerprint=fingerprint, scope="entry",
    )  # fmt: skip
    return AccountUpdate(account_id, "", payload, fingerprint, timed=False)


def _loose_object(raw: msgspec.Raw) -> dict[str, Any]:
    try:
        value = _ANY.decode(raw)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _loose_field_and_number(raw_change: msgspec.Raw) -> tuple[str | None, str | None]:
    """What can still be told of an unreadable change: its field and its business number."""
    change = _loose_object(raw_change)
    field = change.get("field")
    value = change.get("value")
    metadata = value.get("metadata") if isinstance(value, dict) else None
    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    text = str(number).strip() if isinstance(number, str | int) else ""
    return (
        field if isinstance(field, str) else None,
        text if text and len(text) <= MAX_ID_LENGTH else None,
    )


def _raw_fingerprint(account_id: str, time: int | None, raw: msgspec.Raw) -> str:
    digest = hashlib.sha256()
    for part in (b"unreadable", account_id.encode(), str(time).encode()):
        digest.update(part + b"\x1f")
    digest.update(bytes(raw))
    return digest.hexdigest()


class _ChangeContext(msgspec.Struct):
    account_id: str
    change: _Change
    fingerprint: str
    at: datetime


def _messages(ctx: _ChangeContext) -> Iterator[NumberUpdate]:
    value = _MESSAGES_VALUE.decode(ctx.change.value)
    number = _text_id(value.metadata.phone_number_id, "phone_number_id")

    def update(payload: Any) -> NumberUpdate:
        return NumberUpdate(ctx.account_id, number, ctx.change.field, payload, ctx.fingerprint)

    for index, message in enumerate(value.messages):
        raw = _RawMessage(ctx.change.value, index)
        yield update(_inbound_message(message, raw, number, value.contacts))
    for status in value.statuses:
        yield update(_delivery_status(status, number, value.contacts))
    if value.errors:
        yield update(
            WebhookProblem(phone_number_id=number, errors=_errors(value.errors), at=ctx.at)
        )


def _message_echoes(ctx: _ChangeContext) -> Iterator[NumberUpdate]:
    value = _ECHOES_VALUE.decode(ctx.change.value)
    number = _text_id(value.metadata.phone_number_id, "phone_number_id")
    business_number = value.metadata.display_phone_number
    for echo in value.message_echoes:
        payload = _echoed_message(echo, number, business_number, value.contacts)
        yield NumberUpdate(ctx.account_id, number, ctx.change.field, payload, ctx.fingerprint)


def _user_preferences(ctx: _ChangeContext) -> Iterator[NumberUpdate]:
    value = _PREFERENCES_VALUE.decode(ctx.change.value)
    number = _text_id(value.metadata.phone_number_id, "phone_number_id")
    for preference in value.user_preferences:
        identity = CustomerIdentity(
            phone=_optional_id(preference.wa_id, "wa_id"),
            user_id=_optional_id(preference.user_id, "user_id"),
            parent_user_id=_optional_id(preference.parent_user_id, "parent_user_id"),
        )
        payload = MarketingPreference(
            phone_number_id=number, customer_id=_customer_id(identity, "user preference"),
            category=preference.category,
            value=preference.value, at=_timestamp(preference.timestamp), detail=preference.detail,
            signup_id=preference.signup_id, customer=identity,
        )  # fmt: skip
        yield NumberUpdate(ctx.account_id, number, ctx.change.field, payload, ctx.fingerprint)


def _template_status(ctx: _ChangeContext) -> Iterator[AccountUpdate]:
    value = _TEMPLATE_STATUS.decode(ctx.change.value)
    rejection = value.rejection_info or _RejectionInfo()
    other = value.other_info or _OtherInfo()
    payload = TemplateStatus(
        account_id=ctx.account_id, template_id=str(value.message_template_id),
        name=value.message_template_name, language=value.message_template_language,
        status=value.event, at=ctx.at, reason=value.reason,
        category=value.message_template_category,
        rejection_detail=rejection.reason or other.description,
        recommendation=rejection.recommendation,
    )  # fmt: skip
    yield _account_update(ctx, payload)


def _template_quality(ctx: _ChangeContext) -> Iterator[AccountUpdate]:
    value = _TEMPLATE_QUALITY.decode(ctx.change.value)
    payload = TemplateQuality(
        account_id=ctx.account_id, template_id=str(value.message_template_id),
        name=value.message_template_name, language=value.message_template_language,
        previous_score=value.previous_quality_score, new_score=value.new_quality_score,
        at=ctx.at,
    )  # fmt: skip
    yield _account_update(ctx, payload)


def _template_category(ctx: _ChangeContext) -> Iterator[AccountUpdate]:
    value = _TEMPLATE_CATEGORY.decode(ctx.change.value)
    if value.correct_category is not None:
        yield _account_update(ctx, _category_change_coming(ctx, value))
        return
    if value.new_category is None:
        raise WebhookFormatError("a template category update names no new_category")
    payload = TemplateCategory(
        account_id=ctx.account_id, template_id=str(value.message_template_id),
        name=value.message_template_name, language=value.message_template_language,
        new_category=value.new_category, previous_category=value.previous_category, at=ctx.at,
    )  # fmt: skip
    yield _account_update(ctx, payload)


def _category_change_coming(
    ctx: _ChangeContext, value: _TemplateCategoryValue
) -> TemplateCategoryChangeComing:
    when = value.category_update_timestamp
    return TemplateCategoryChangeComing(
        account_id=ctx.account_id, template_id=str(value.message_template_id),
        name=value.message_template_name, language=value.message_template_language,
        current_category=value.new_category, correct_category=value.correct_category or "",
        takes_effect_at=_timestamp(when) if when is not None else None, at=ctx.at,
    )  # fmt: skip


def _account_update(ctx: _ChangeContext, payload: Any) -> AccountUpdate:
    # The time of the entry is part of a template update's identity; Meta always sends it.
    return AccountUpdate(ctx.account_id, ctx.change.field, payload, ctx.fingerprint, timed=True)


_TRANSLATORS: Final[dict[str, Callable[[_ChangeContext], Iterator[InboundUpdate]]]] = {
    "messages": _messages,
    "smb_message_echoes": _message_echoes,
    "user_preferences": _user_preferences,
    "message_template_status_update": _template_status,
    "message_template_quality_update": _template_quality,
    "template_category_update": _template_category,
}


def _account_notice(
    account_id: str, change: _Change, fingerprint: str, at: datetime, *, timed: bool
) -> AccountUpdate:
    details = _object(change.value)
    event = details.pop("event", None) or details.get("decision") or change.field
    notice = AccountNotice(
        account_id=account_id, field=change.field, event=str(event), at=at, details=details
    )
    return AccountUpdate(account_id, change.field, notice, fingerprint, timed=timed)


def _unrecognized(
    account_id: str, change: _Change, fingerprint: str, at: datetime, *, timed: bool
) -> InboundUpdate:
    value = _object(change.value)
    update = UnrecognizedUpdate(
        account_id=account_id, field=change.field, at=at, value=value, fingerprint=fingerprint
    )
    scoped = _NUMBER_SCOPED.decode(change.value)
    if scoped.metadata is not None:
        number = _text_id(scoped.metadata.phone_number_id, "phone_number_id")
        return NumberUpdate(account_id, number, change.field, update, fingerprint)
    return AccountUpdate(account_id, change.field, update, fingerprint, timed=timed)


# --- messages ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RawMessage:
    """Where one message sits in its change's bytes; decoded again only when needed."""

    value: msgspec.Raw
    index: int

    def as_object(self) -> dict[str, Any]:
        return _object(_RAW_MESSAGES.decode(self.value).messages[self.index])


def _inbound_message(
    message: _Message, raw: _RawMessage, phone_number_id: str, contacts: list[_Contact]
) -> InboundMessage:
    phone = _optional_id(message.from_, "sender (from)")
    user_id = _optional_id(message.from_user_id, "sender (from_user_id)")
    contact = _contact_of(contacts, phone, user_id)
    identity = _identity(phone, user_id, message.from_parent_user_id, contact)
    customer_id = _customer_id(identity, f"message {message.id!r}")
    return InboundMessage(
        phone_number_id=phone_number_id,
        customer_id=customer_id,
        wamid=message.id,
        sent_at=_timestamp(message.timestamp),
        type=message.type,
        content=_content(message, raw),
        customer_name=contact.profile.name if contact and contact.profile else None,
        customer_user_id=identity.user_id,
        context=_context(message.context),
        referral=message.referral,
        customer=identity,
        group_id=_optional_id(message.group_id, "group_id"),
    )


def _echoed_message(
    echo: _Echo, phone_number_id: str, business_number: str, contacts: list[_Contact]
) -> EchoedMessage:
    # The customer is the side that is not the business (``to``, normally).
    to_business = bool(business_number) and echo.to == business_number
    phone = _optional_id(echo.from_ if to_business else echo.to, "recipient (to)")
    user_id = _optional_id(echo.to_user_id, "recipient (to_user_id)")
    contact = _contact_of(contacts, phone, user_id)
    identity = _identity(phone, user_id, echo.to_parent_user_id, contact)
    return EchoedMessage(
        phone_number_id=phone_number_id,
        customer_id=_customer_id(identity, f"echo {echo.id!r}"),
        wamid=echo.id,
        sent_at=_timestamp(echo.timestamp),
        type=echo.type,
        content=_content(echo, raw=None),
        customer=identity,
        context=_context(echo.context),
    )


def _contact_of(
    contacts: list[_Contact], phone: str | None, user_id: str | None
) -> _Contact | None:
    """The contact entry that describes this customer (the only one, when none matches)."""
    for contact in contacts:
        if (phone and contact.wa_id == phone) or (user_id and contact.user_id == user_id):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _identity(
    phone: str | None, user_id: str | None, parent_user_id: str | None, contact: _Contact | None
) -> CustomerIdentity:
    profile = contact.profile if contact else None
    return CustomerIdentity(
        phone=phone or _optional_id(contact.wa_id if contact else None, "wa_id"),
        user_id=user_id or _optional_id(contact.user_id if contact else None, "user_id"),
        parent_user_id=_optional_id(
            parent_user_id or (contact.parent_user_id if contact else None), "parent_user_id"
        ),
        username=profile.username or None if profile else None,
    )


def _customer_id(identity: CustomerIdentity, what: str) -> str:
    """The id a payload names its customer by: the wa_id, else the BSUID."""
    customer_id = identity.phone or identity.user_id or identity.parent_user_id
    if not customer_id:
        raise WebhookFormatError(f"{what} names no customer (neither a wa_id nor a user id)")
    return customer_id


def _content(body: _Body, raw: _RawMessage | None) -> MessageContent:
    build = _CONTENT_BUILDERS.get(body.type)
    content = build(body) if build is not None else None
    if content is not None:
        return content
    return UnsupportedContent(
        original_type=body.type,
        errors=_errors(body.errors),
        raw=raw.as_object() if raw is not None else {},
    )


def _media(body: _Body) -> MediaContent | None:
    media: _Media | None = getattr(body, body.type)
    if media is None:
        return None
    return MediaContent(
        media_type=body.type,  # type: ignore[arg-type]  # guarded by _CONTENT_BUILDERS keys
        media_id=media.id, mime_type=media.mime_type, sha256=media.sha256,
        caption=media.caption, filename=media.filename, url=media.url,
        voice=media.voice, animated=media.animated,
    )  # fmt: skip


def _text(body: _Body) -> TextContent | None:
    return TextContent(body=body.text.body) if body.text else None


def _location(body: _Body) -> LocationContent | None:
    loc = body.location
    if loc is None:
        return None
    return LocationContent(
        latitude=loc.latitude, longitude=loc.longitude, name=loc.name, address=loc.address,
        url=loc.url,
    )  # fmt: skip


def _contacts(body: _Body) -> ContactsContent | None:
    if body.contacts is None:
        return None
    return ContactsContent(contacts=tuple(_shared_contact(c) for c in body.contacts))


def _shared_contact(contact: _SharedContact) -> SharedContact:
    name = contact.name or _ContactName()
    return SharedContact(
        formatted_name=name.formatted_name, first_name=name.first_name, last_name=name.last_name,
        phones=tuple(SharedPhone(phone=p.phone, wa_id=p.wa_id, type=p.type)
                     for p in contact.phones),
        emails=tuple(e.email for e in contact.emails),
        organization=contact.org.company if contact.org else None, origin=contact.origin,
    )  # fmt: skip


def _interactive(body: _Body) -> MessageContent | None:
    interactive = body.interactive
    if interactive is None:
        return None
    if interactive.type == "button_reply" and interactive.button_reply:
        return _choice("button", interactive.button_reply)
    if interactive.type == "list_reply" and interactive.list_reply:
        return _choice("list", interactive.list_reply)
    if interactive.type == "nfm_reply" and interactive.nfm_reply:
        flow = interactive.nfm_reply
        return FlowReplyContent(
            name=flow.name, body=flow.body, response_json=flow.response_json,
            flow_token=_flow_token(flow.response_json),
        )  # fmt: skip
    return None


def _choice(kind: str, reply: _Reply) -> ChoiceContent:
    return ChoiceContent(
        choice=kind,  # type: ignore[arg-type]  # "button" or "list", from the caller
        reply_id=reply.id,
        title=reply.title,
        description=reply.description,
    )


def _flow_token(response_json: str) -> str | None:
    try:
        token = _OBJECT.decode(response_json).get("flow_token")
    except msgspec.DecodeError:
        return None
    return token if isinstance(token, str) else None


def _button(body: _Body) -> QuickReplyContent | None:
    return QuickReplyContent(payload=body.button.payload, text=body.button.text) if body.button \
        else None  # fmt: skip


def _reaction(body: _Body) -> ReactionContent | None:
    reaction = body.reaction
    if reaction is None:
        return None
    return ReactionContent(target_wamid=reaction.message_id, emoji=reaction.emoji or None)


def _order(body: _Body) -> OrderContent | None:
    order = body.order
    if order is None:
        return None
    items = tuple(
        OrderItem(
            product_retailer_id=i.product_retailer_id,
            quantity=i.quantity,
            item_price=i.item_price,
            currency=i.currency,
        )
        for i in order.product_items
    )
    return OrderContent(catalog_id=order.catalog_id, items=items, text=order.text)


def _system(body: _Body) -> SystemContent | None:
    system = body.system
    if system is None:
        return None
    return SystemContent(
        system_type=system.type, body=system.body,
        new_wa_id=_optional_id(system.wa_id or system.new_wa_id, "system wa_id"),
        identity_hash=body.identity.hash if body.identity else None,
        user_id=_optional_id(system.user_id, "system user_id"),
        previous_user_id=_optional_id(system.previous_user_id, "system previous_user_id"),
        parent_user_id=_optional_id(system.parent_user_id, "system parent_user_id"),
        previous_parent_user_id=_optional_id(
            system.previous_parent_user_id, "system previous_parent_user_id"
        ),
    )  # fmt: skip


def _revoke(body: _Body) -> RevokeContent | None:
    return RevokeContent(original_wamid=body.revoke.original_message_id) if body.revoke else None


def _edit(body: _Body) -> EditContent | None:
    edit = body.edit
    if edit is None:
        return None
    return EditContent(
        original_wamid=edit.original_message_id, content=_content(edit.message, raw=None)
    )


_CONTENT_BUILDERS: Final[dict[str, Callable[[_Body], MessageContent | None]]] = {
    "text": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "revoke": _revoke,
    "edit": _edit,
}


def _context(context: _Context | None) -> MessageContext | None:
    if context is None:
        return None
    product = context.referred_product
    return MessageContext(
        reply_to_wamid=context.id, reply_to_from=context.from_, forwarded=context.forwarded,
        frequently_forwarded=context.frequently_forwarded,
        referred_product=ReferredProduct(
            catalog_id=product.catalog_id, product_retailer_id=product.product_retailer_id
        ) if product else None,
    )  # fmt: skip


# --- statuses ----------------------------------------------------------------------------


def _delivery_status(
    status: _Status, phone_number_id: str, contacts: list[_Contact]
) -> DeliveryStatus:
    conversation = status.conversation
    pricing = status.pricing or _Pricing()
    expires = conversation.expiration_timestamp if conversation else None
    phone = _optional_id(status.recipient_id, "recipient_id")
    user_id = _optional_id(status.recipient_user_id, "recipient_user_id")
    group = status.recipient_type == "group"
    identity = None
    if not group:  # in a group, recipient_id names the group and contacts its participants
        contact = _contact_of(contacts, phone, user_id)
        identity = _identity(phone, user_id, status.recipient_parent_user_id, contact)
    recipient_id = phone if group else _customer_id(identity or CustomerIdentity(), "status")
    if recipient_id is None:
        raise WebhookFormatError(f"group status {status.id!r} names no group (recipient_id)")
    return DeliveryStatus(
        phone_number_id=phone_number_id, recipient_id=recipient_id,
        wamid=status.id,
        status=status.status, at=_timestamp(status.timestamp),
        recipient_type=status.recipient_type,
        participant_id=_optional_id(status.recipient_participant_id, "recipient_participant_id"),
        participant_user_id=_optional_id(
            status.recipient_participant_user_id, "recipient_participant_user_id"
        ),
        recipient=identity, pricing_type=pricing.type,
        errors=_errors(status.errors),
        conversation_id=conversation.id if conversation else None,
        conversation_origin=conversation.origin.type if conversation and conversation.origin
        else None,
        conversation_expires_at=_timestamp(expires) if expires is not None else None,
        billable=pricing.billable, pricing_model=pricing.pricing_model,
        pricing_category=pricing.category, callback_data=status.biz_opaque_callback_data,
    )  # fmt: skip


# --- small helpers -----------------------------------------------------------------------


def _errors(errors: list[_Error]) -> tuple[WhatsAppError, ...]:
    return tuple(
        WhatsAppError(
            code=e.code,
            title=e.title,
            message=e.message,
            details=e.error_data.details if e.error_data else "",
            href=e.href,
        )
        for e in errors
    )


def _timestamp(value: Identifier) -> datetime:
    """Meta's Unix timestamps, sent as strings or numbers."""
    try:
        seconds = int(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookFormatError(f"timestamp {value!r} is not a Unix time in seconds") from None


def _entry_time(entry: _Entry, received_at: datetime) -> datetime:
    return _timestamp(entry.time) if entry.time is not None else received_at


def _optional_id(value: str | None, what: str) -> str | None:
    return _text_id(value, what) if value else None


def _text_id(value: Identifier, what: str) -> str:
    """An id that names a stream: present and of a sane length."""
    text = str(value).strip()
    if not text:
        raise WebhookFormatError(f"{what} is empty")
    if len(text) > MAX_ID_LENGTH:
        raise WebhookFormatError(f"{what} is longer than {MAX_ID_LENGTH} characters")
    return text


def _object(raw: msgspec.Raw) -> dict[str, Any]:
    try:
        return _OBJECT.decode(raw)
    except msgspec.ValidationError:
        raise WebhookFormatError("a change value must be a JSON object") from None


def _fingerprint(account_id: str, time: int | None, change: _Change) -> str:
    digest = hashlib.sha256()
    for part in (account_id.encode(), str(time).encode(), change.field.encode()):
        digest.update(part + b"\x1f")
    digest.update(bytes(change.value))
    return digest.hexdigest()
