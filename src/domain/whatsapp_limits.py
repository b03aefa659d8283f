"""WhatsApp's limits on outgoing messages, checked before anything is queued.

``check_message`` returns the message when it fits and raises ``MessageLimitError``
naming every field at fault (``buttons[1].title``) otherwise. With ``truncate=True``
the texts a reader sees (bodies, headers, footers, titles, descriptions, captions) are
cut to their limit instead, never inside a grapheme (an emoji with its modifiers or
joiners, a flag, a letter with its combining accents); identifiers are never cut.

Lengths are counted in UTF-16 code units, which is how Meta's servers count characters:
a letter of the Basic Multilingual Plane counts one, an emoji outside it two. This is
never less than the number of code points, so a message that fits here fits Meta
whichever of the two counts it applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final, TypeVar

import msgspec
import regex

from domain.outbound import (
    CAPTIONED_MEDIA,
    ContactRequestMessage,
    ListMessage,
    ListRow,
    ListSection,
    MediaMessage,
    OutboundMessage,
    ReactionMessage,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
    TextMessage,
)

TEXT_BODY_MAX: Final = 4096
CAPTION_MAX: Final = 1024
INTERACTIVE_BODY_MAX: Final = 1024
INTERACTIVE_HEADER_MAX: Final = 60
INTERACTIVE_FOOTER_MAX: Final = 60
LIST_BUTTON_MAX: Final = 20
LIST_ROWS_MAX: Final = 10
LIST_SECTIONS_MAX: Final = 10
LIST_ROW_TITLE_MAX: Final = 24
LIST_ROW_DESCRIPTION_MAX: Final = 72
LIST_SECTION_TITLE_MAX: Final = 24
LIST_ROW_ID_MAX: Final = 200
REPLY_BUTTONS_MAX: Final = 3
REPLY_BUTTON_TITLE_MAX: Final = 20
REPLY_BUTTON_ID_MAX: Final = 256
TEMPLATE_BUTTONS_MAX: Final = 10
TEMPLATE_COUPON_CODE_MAX: Final = 20

_GRAPHEME: Final = regex.compile(r"\X")
M = TypeVar("M", bound=msgspec.Struct)


class LimitViolation(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field} {self.problem}"


class MessageLimitError(ValueError):
    """A message breaks WhatsApp's rules; ``field`` names the first field at fault."""

    def __init__(self, violations: Iterable[LimitViolation]) -> None:
        self.violations = tuple(violations)
        if not self.violations:
            raise ValueError("a MessageLimitError needs at least one violation")
        super().__init__("; ".join(str(v) for v in self.violations))

    @property
    def field(self) -> str:
        return self.violations[0].field


def text_length(text: str) -> int:
    """Characters as Meta counts them: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def truncate_text(text: str, limit: int) -> str:
    """The longest run of whole graphemes from the start that fits ``limit``."""
    if text_length(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for grapheme in _GRAPHEME.findall(text):
        size = text_length(grapheme)
        if used + size > limit:
            break
        kept.append(grapheme)
        used += size
    return "".join(kept)


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def check_message(message: OutboundMessage, *, truncate: bool = False) -> OutboundMessage:
    """The message (its long texts cut when ``truncate``), or MessageLimitError."""
    check = _Checker(truncate)
    if message.reply_to is not None:
        check.required("reply_to", message.reply_to)
    checked = _check_kind(check, message)
    check.raise_if_any()
    return checked


def _check_kind(check: _Checker, message: OutboundMessage) -> OutboundMessage:
    match message:
        case TextMessage():
            return _replace(message, body=check.text("body", message.body, TEXT_BODY_MAX))
        case MediaMessage():
            return _check_media(check, message)
        case ReplyButtonsMessage():
            return _check_buttons(check, message)
        case ListMessage():
            return _check_list(check, message)
        case TemplateMessage():
            return _check_template(check, message)
        case ReactionMessage():
            return _check_reaction(check, message)
        case ContactRequestMessage():
            body = check.text("body", message.body, INTERACTIVE_BODY_MAX)
            return _replace(message, body=body)


def _check_media(check: _Checker, message: MediaMessage) -> MediaMessage:
    check.one_source("media_id", message.media_id, "link", message.link)
    caption = message.caption
    if caption is not None:
        if message.media_type in CAPTIONED_MEDIA:
            caption = check.text("caption", caption, CAPTION_MAX)
        else:
            check.fail("caption", f"is not allowed on {message.media_type} messages")
    if message.filename is not None and message.media_type != "document":
        check.fail("filename", "is allowed on documents only")
    return _replace(message, caption=caption)


def _check_buttons(check: _Checker, message: ReplyButtonsMessage) -> ReplyButtonsMessage:
    body = check.text("body", message.body, INTERACTIVE_BODY_MAX)
    header = check.optional_text("header", message.header, INTERACTIVE_HEADER_MAX)
    footer = check.optional_text("footer", message.footer, INTERACTIVE_FOOTER_MAX)
    check.count("buttons", len(message.buttons), 1, REPLY_BUTTONS_MAX)
    buttons = tuple(
        ReplyButton(
            id=check.identifier(f"buttons[{i}].id", button.id, REPLY_BUTTON_ID_MAX),
            title=check.text(f"buttons[{i}].title", button.title, REPLY_BUTTON_TITLE_MAX),
        )
        for i, button in enumerate(message.buttons)
    )
    check.unique("buttons", "id", [b.id for b in buttons])
    check.unique("buttons", "title", [b.title for b in buttons])
    image = message.header_image
    if image is not None and header is not None:
        check.fail("header_image", "give either a text header or an image header, not both")
    elif image is not None and not image.startswith(("https://", "http://")):
        check.fail("header_image", "must be an http(s) URL")
    return _replace(message, body=body, header=header, footer=footer, buttons=buttons)


def _check_list(check: _Checker, message: ListMessage) -> ListMessage:
    body = check.text("body", message.body, INTERACTIVE_BODY_MAX)
    header = check.optional_text("header", message.header, INTERACTIVE_HEADER_MAX)
    footer = check.optional_text("footer", message.footer, INTERACTIVE_FOOTER_MAX)
    button = check.text("button", message.button, LIST_BUTTON_MAX)
    check.count("sections", len(message.sections), 1, LIST_SECTIONS_MAX)
    total_rows = sum(len(section.rows) for section in message.sections)
    if total_rows > LIST_ROWS_MAX:
        check.fail("sections", f"hold {total_rows} rows in all, at most {LIST_ROWS_MAX}")
    sections = tuple(
        _check_section(check, f"sections[{i}]", section, titled=len(message.sections) > 1)
        for i, section in enumerate(message.sections)
    )
    rows = [row for section in sections for row in section.rows]
    check.unique("sections[].rows", "id", [row.id for row in rows])
    return _replace(
        message, body=body, header=header, footer=footer, button=button, sections=sections
    )


def _check_section(
    check: _Checker, path: str, section: ListSection, *, titled: bool
) -> ListSection:
    if titled and section.title is None:
        check.fail(f"{path}.title", "is required when a list has several sections")
    title = check.optional_text(f"{path}.title", section.title, LIST_SECTION_TITLE_MAX)
    if not section.rows:
        check.fail(f"{path}.rows", "must hold at least one row")
    rows = tuple(
        ListRow(
            id=check.identifier(f"{path}.rows[{j}].id", row.id, LIST_ROW_ID_MAX),
            title=check.text(f"{path}.rows[{j}].title", row.title, LIST_ROW_TITLE_MAX),
            description=check.optional_text(
                f"{path}.rows[{j}].description", row.description, LIST_ROW_DESCRIPTION_MAX
            ),
        )
        for j, row in enumerate(section.rows)
    )
    return ListSection(rows=rows, title=title)


def _check_template(check: _Checker, message: TemplateMessage) -> TemplateMessage:
    check.required("name", message.name)
    check.required("language", message.language)
    for i, parameter in enumerate(message.body_parameters):
        check.required(f"body_parameters[{i}]", parameter)
    match message.header:
        case TemplateTextHeader(text=text):
            check.required("header.text", text)
        case TemplateMediaHeader(media_id=media_id, link=link):
            check.one_source("header.media_id", media_id, "header.link", link)
        case None:
            pass
    check.count("buttons", len(message.buttons), 0, TEMPLATE_BUTTONS_MAX)
    for i, button in enumerate(message.buttons):
        _check_template_button(check, f"buttons[{i}]", button)
    check.unique("buttons", "index", [str(b.index) for b in message.buttons])
    return message


def _check_template_button(check: _Checker, path: str, button: TemplateButton) -> None:
    if not 0 <= button.index < TEMPLATE_BUTTONS_MAX:
        check.fail(f"{path}.index", f"must be from 0 to {TEMPLATE_BUTTONS_MAX - 1}")
    if button.sub_type == "copy_code":  # a code is never cut: a shorter one would not work
        check.identifier(f"{path}.parameter", button.parameter, TEMPLATE_COUPON_CODE_MAX)
    else:
        check.required(f"{path}.parameter", button.parameter)


def _check_reaction(check: _Checker, message: ReactionMessage) -> ReactionMessage:
    check.required("message_id", message.message_id)
    if message.emoji and grapheme_count(message.emoji) != 1:
        check.fail("emoji", "must be one emoji, or empty to remove the reaction")
    if message.reply_to is not None:
        check.fail("reply_to", "is not allowed on a reaction (it names its message itself)")
    return message


def _replace(struct: M, **changes: object) -> M:
    return msgspec.structs.replace(struct, **changes)


class _Checker:
    """Collects every violation of one message; cuts texts when asked to."""

    def __init__(self, truncate: bool) -> None:
        self._truncate = truncate
        self._violations: list[LimitViolation] = []

    def fail(self, field: str, problem: str) -> None:
        self._violations.append(LimitViolation(field=field, problem=problem))

    def raise_if_any(self) -> None:
        if self._violations:
            raise MessageLimitError(self._violations)

    def required(self, field: str, value: str) -> bool:
        if value.strip():
            return True
        self.fail(field, "must not be empty")
        return False

    def text(self, field: str, value: str, limit: int) -> str:
        if not self.required(field, value):
            return value
        length = text_length(value)
        if length <= limit:
            return value
        if self._truncate:
            return truncate_text(value, limit)
        self.fail(field, f"is {length} characters long, at most {limit}")
        return value

    def optional_text(self, field: str, value: str | None, limit: int) -> str | None:
        return None if value is None else self.text(field, value, limit)

    def identifier(self, field: str, value: str, limit: int) -> str:
        if self.required(field, value) and text_length(value) > limit:
            self.fail(field, f"is {text_length(value)} characters long, at most {limit}")
        return value

    def count(self, field: str, count: int, low: int, high: int) -> None:
        if count < low:
            self.fail(field, f"must hold at least {low}, got {count}")
        elif count > high:
            self.fail(field, f"hold {count}, at most {high}")

    def unique(self, field: str, attribute: str, values: list[str]) -> None:
        repeated = sorted(value for value, n in Counter(values).items() if n > 1)
        if repeated:
            self.fail(field, f"repeat the {attribute} {', '.join(map(repr, repeated))}")

    def one_source(self, id_field: str, media_id: str | None, link_field: str,
                   link: str | None) -> None:  # fmt: skip
        if bool(media_id) == bool(link):
            self.fail(id_field, f"or {link_field}: give exactly one of them")
        elif link and not link.startswith(("https://", "http://")):
            self.fail(link_field, "must be an http(s) URL")
