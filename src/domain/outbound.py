"""What a business can send on WhatsApp, as plain data.

Every message kind is a frozen msgspec Struct on one tagged union (tag field ``kind``),
so a queued message can travel as the payload of an outbox event and be decoded again
unchanged. Nothing here knows Meta's wire format: the Graph adapter translates. The
limits WhatsApp puts on these fields are checked by ``domain.whatsapp_limits``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec


class Recipient(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who receives a message: the phone number when known, else the business-scoped id.

    A customer who adopted a WhatsApp username may be known only by their BSUID
    (``US.13491208655302741918``), so a phone number is never assumed.
    """

    phone_number: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if not (self.phone_number or self.user_id):
            raise ValueError("a recipient needs a phone number or a business-scoped user id")

    @property
    def uses_phone_number(self) -> bool:
        return bool(self.phone_number)

    @property
    def address(self) -> str:
        """What Meta is given: the phone number when known, otherwise the BSUID."""
        return self.phone_number or self.user_id or ""


def recipient_of(phone: str | None, user_id: str | None, customer_id: str) -> Recipient:
    """Where to reach a customer: their phone number when known, else their BSUID; with
    neither, the id Meta named them by (digits: a phone number, otherwise a BSUID)."""
    if phone or user_id:
        return Recipient(phone_number=phone, user_id=user_id)
    if customer_id.isdigit():
        return Recipient(phone_number=customer_id)
    return Recipient(user_id=customer_id)


class _Outbound(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    """Base of every message kind; ``reply_to`` quotes a message (``context.message_id``)."""

    reply_to: str | None = None


class TextMessage(_Outbound, frozen=True, kw_only=True, tag="text"):
    body: str
    preview_url: bool = False


MediaType: TypeAlias = Literal["image", "document", "audio", "video", "sticker"]
# Meta accepts a caption on these only, and a file name on documents only.
CAPTIONED_MEDIA: tuple[MediaType, ...] = ("image", "document", "video")


class MediaMessage(_Outbound, frozen=True, kw_only=True, tag="media"):
    """A file by the id an upload returned or by a public HTTPS link (exactly one)."""

    media_type: MediaType
    media_id: str | None = None
    link: str | None = None
    caption: str | None = None
    filename: str | None = None


class ReplyButton(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str


class ReplyButtonsMessage(_Outbound, frozen=True, kw_only=True, tag="buttons"):
    """``header`` is a text header; ``header_image`` an image header by public link
    (at most one of them)."""

    body: str
    buttons: tuple[ReplyButton, ...]
    header: str | None = None
    footer: str | None = None
    header_image: str | None = None


class ListRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    title: str
    description: str | None = None


class ListSection(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    rows: tuple[ListRow, ...]
    title: str | None = None


class ListMessage(_Outbound, frozen=True, kw_only=True, tag="list"):
    body: str
    button: str
    sections: tuple[ListSection, ...]
    header: str | None = None
    footer: str | None = None


class TemplateTextHeader(msgspec.Struct, frozen=True, kw_only=True, tag_field="format", tag="text"):
    text: str


TemplateMediaType: TypeAlias = Literal["image", "video", "document"]


class TemplateMediaHeader(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="format", tag="media"
):
    """An image, video or document header by media id or link (exactly one)."""

    media_type: TemplateMediaType
    media_id: str | None = None
    link: str | None = None


TemplateHeader: TypeAlias = TemplateTextHeader | TemplateMediaHeader
TemplateButtonType: TypeAlias = Literal["url", "quick_reply", "copy_code"]


class TemplateButton(msgspec.Struct, frozen=True, kw_only=True):
    """The variable part of one of the template's buttons, by its position in the template.

    ``url``: the suffix appended to the button's dynamic URL; ``quick_reply``: the payload
    the webhook echoes when tapped; ``copy_code``: the coupon code copied.
    """

    index: int
    sub_type: TemplateButtonType
    parameter: str


class TemplateMessage(_Outbound, frozen=True, kw_only=True, tag="template"):
    """An approved template; ``language`` is the caller's choice (``fr``, ``en_US``)."""

    name: str
    language: str
    body_parameters: tuple[str, ...] = ()
    header: TemplateHeader | None = None
    buttons: tuple[TemplateButton, ...] = ()


class ReactionMessage(_Outbound, frozen=True, kw_only=True, tag="reaction"):
    """An emoji on a message (its wamid); an empty emoji removes the reaction."""

    message_id: str
    emoji: str


class ContactRequestMessage(_Outbound, frozen=True, kw_only=True, tag="contact_request"):
    """Asks a customer known only by their BSUID to share their phone number.

    WhatsApp shows a button with a fixed label; a tap sends back a ``contacts`` message
    whose origin is ``contact_request``.
    """

    body: str


OutboundMessage: TypeAlias = (
    TextMessage
    | MediaMessage
    | ReplyButtonsMessage
    | ListMessage
    | TemplateMessage
    | ReactionMessage
    | ContactRequestMessage
)

_ENCODER = msgspec.json.Encoder()
_DECODER: msgspec.json.Decoder[OutboundMessage] = msgspec.json.Decoder(OutboundMessage)


def encode_message(message: OutboundMessage) -> bytes:
    return _ENCODER.encode(message)


def decode_message(data: bytes | str) -> OutboundMessage:
    """A message from its JSON form; raises ``msgspec.ValidationError`` on a bad shape."""
    return _DECODER.decode(data)
