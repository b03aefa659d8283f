"""Meta's WhatsApp Cloud API webhook format, decoded with msgspec and translated.

The structs below mirror the JSON Meta posts (only the fields this product
reads; unknown fields are ignored by msgspec). ``parse_webhook`` turns a raw
body into routed updates holding domain values. Every entry, change, message
and status is translated; a message type or field this product does not know
is kept as an unsupported or unrecognized record instead of being dropped.
"""

from __future__ import annotations

import hashlib
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
    DeliveryStatus,
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
    TemplateQuality,
    TemplateStatus,
    TextContent,
    UnrecognizedUpdate,
    UnsupportedContent,
    WebhookProblem,
    WhatsAppError,
)

WHATSAPP_OBJECT: Final = "whatsapp_business_account"
MAX_ID_LENGTH: Final = 64  # phone number ids, wa_ids and user ids are far shorter
Identifier = str | int  # Meta sends most ids as strings, some (template ids) as numbers


class _Struct(msgspec.Struct):
    pass


# --- envelope --------------------------------------------------------------------------


class _Change(_Struct):
    field: str
    value: msgspec.Raw


class _Entry(_Struct):
    id: Identifier
    changes: list[_Change] = []
    time: int | None = None


class _Envelope(_Struct):
    object: str
    entry: list[_Entry]


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


class _Contact(_Struct):
    wa_id: str | None = None
    user_id: str | None = None
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
    referral: AdReferral | None = None  # same field names as Meta's


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


class _Status(_Struct):
    id: str
    status: str
    timestamp: Identifier
    recipient_id: str
    recipient_type: str = "individual"
    recipient_participant_id: str | None = None
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


class _RawMessages(_Struct):
    """The messages of a value as Meta sent them, for keeping an unsupported one whole."""

    messages: list[msgspec.Raw] = []


class _Preference(_Struct):
    wa_id: str
    category: str
    value: str
    timestamp: Identifier
    detail: str = ""
    signup_id: str | None = None


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
    new_category: str
    previous_category: str | None = None
    message_template_name: str = ""
    message_template_language: str = ""


# Account-level fields recorded as notices: their details are kept as Meta sent them.
ACCOUNT_NOTICE_FIELDS: Final = frozenset({
    "account_update", "account_review_update", "account_alerts", "business_capability_update",
    "business_status_update", "phone_number_name_update", "phone_number_quality_update",
    "security", "message_template_components_update", "partner_solutions",
})  # fmt: skip

_ENVELOPE = msgspec.json.Decoder(_Envelope)
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

    Raises WebhookFormatError (naming the path of the problem) when the body is
    not JSON or not shaped like a WhatsApp webhook; nothing is partially returned.
    """
    try:
        envelope = _ENVELOPE.decode(body)
        if envelope.object != WHATSAPP_OBJECT:
            raise WebhookFormatError(
                f"expected object {WHATSAPP_OBJECT!r}, got {envelope.object!r}"
            )
        return [
            update
            for entry_index, entry in enumerate(envelope.entry)
            for change_index, change in enumerate(entry.changes)
            for update in _translate_change(
                entry, change, received_at, f"$.entry[{entry_index}].changes[{change_index}]"
            )
        ]
    except msgspec.DecodeError as error:
        raise WebhookFormatError(str(error)) from None


def _translate_change(
    entry: _Entry, change: _Change, received_at: datetime, path: str
) -> Iterator[InboundUpdate]:
    account_id = _text_id(entry.id, "entry id")
    fingerprint = _fingerprint(account_id, entry.time, change)
    at = _entry_time(entry, received_at)
    try:
        translate = _TRANSLATORS.get(change.field)
        if translate is not None:
            yield from translate(_ChangeContext(account_id, change, fingerprint, at))
        elif change.field in ACCOUNT_NOTICE_FIELDS:
            yield _account_notice(account_id, change, fingerprint, at, timed=entry.time is not None)
        else:
            yield _unrecognized(account_id, change, fingerprint, at, timed=entry.time is not None)
    except (msgspec.DecodeError, WebhookFormatError) as error:
        raise WebhookFormatError(f"{error} (in {path}.value, field {change.field!r})") from None


class _ChangeContext(msgspec.Struct):
    account_id: str
    change: _Change
    fingerprint: str
    at: datetime


def _messages(ctx: _ChangeContext) -> Iterator[NumberUpdate]:
    value = _MESSAGES_VALUE.decode(ctx.change.value)
    number = _text_id(value.metadata.phone_number_id, "phone_number_id")
    names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile}

    def update(payload: Any) -> NumberUpdate:
        return NumberUpdate(ctx.account_id, number, ctx.change.field, payload, ctx.fingerprint)

    for index, message in enumerate(value.messages):
        raw = _RawMessage(ctx.change.value, index)
        yield update(_inbound_message(message, raw, number, names))
    for status in value.statuses:
        yield update(_delivery_status(status, number))
    if value.errors:
        yield update(
            WebhookProblem(phone_number_id=number, errors=_errors(value.errors), at=ctx.at)
        )


def _user_preferences(ctx: _ChangeContext) -> Iterator[NumberUpdate]:
    value = _PREFERENCES_VALUE.decode(ctx.change.value)
    number = _text_id(value.metadata.phone_number_id, "phone_number_id")
    for preference in value.user_preferences:
        payload = MarketingPreference(
            phone_number_id=number, customer_id=_text_id(preference.wa_id, "wa_id"),
            category=preference.category,
            value=preference.value, at=_timestamp(preference.timestamp), detail=preference.detail,
            signup_id=preference.signup_id,
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
    payload = TemplateCategory(
        account_id=ctx.account_id, template_id=str(value.message_template_id),
        name=value.message_template_name, language=value.message_template_language,
        new_category=value.new_category, previous_category=value.previous_category, at=ctx.at,
    )  # fmt: skip
    yield _account_update(ctx, payload)


def _account_update(ctx: _ChangeContext, payload: Any) -> AccountUpdate:
    # The time of the entry is part of a template update's identity; Meta always sends it.
    return AccountUpdate(ctx.account_id, ctx.change.field, payload, ctx.fingerprint, timed=True)


_TRANSLATORS: Final[dict[str, Callable[[_ChangeContext], Iterator[InboundUpdate]]]] = {
    "messages": _messages,
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
    message: _Message, raw: _RawMessage, phone_number_id: str, names: dict[str, str | None]
) -> InboundMessage:
    sender = message.from_ or message.from_user_id
    if not sender:
        raise WebhookFormatError(f"message {message.id!r} names no sender (from)")
    customer_id = _text_id(sender, "sender (from)")
    content = _content(message, raw)
    return InboundMessage(
        phone_number_id=phone_number_id,
        customer_id=customer_id,
        wamid=message.id,
        sent_at=_timestamp(message.timestamp),
        type=message.type,
        content=content,
        customer_name=names.get(customer_id) or _only_name(names),
        customer_user_id=message.from_user_id,
        context=_context(message.context),
        referral=message.referral,
    )


def _only_name(names: dict[str, str | None]) -> str | None:
    return next(iter(names.values())) if len(names) == 1 else None


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
        organization=contact.org.company if contact.org else None,
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
        system_type=system.type, body=system.body, new_wa_id=system.wa_id or system.new_wa_id,
        identity_hash=body.identity.hash if body.identity else None,
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


def _delivery_status(status: _Status, phone_number_id: str) -> DeliveryStatus:
    conversation = status.conversation
    pricing = status.pricing or _Pricing()
    expires = conversation.expiration_timestamp if conversation else None
    return DeliveryStatus(
        phone_number_id=phone_number_id, recipient_id=_text_id(status.recipient_id, "recipient_id"),
        wamid=status.id,
        status=status.status, at=_timestamp(status.timestamp),
        recipient_type=status.recipient_type, participant_id=status.recipient_participant_id,
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
