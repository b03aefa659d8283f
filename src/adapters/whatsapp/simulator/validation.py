"""Checks a request body the way the Graph API does, raising Meta's error for the first fault.

Codes follow Meta's usage: 100 for a missing or malformed top-level parameter, 131008 for a
required field missing inside a message object, 131009 for a value outside WhatsApp's
limits, 132000/132001/132012 for template problems. Lengths count characters (code points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from adapters.whatsapp.simulator.errors import GraphError, invalid, missing, required
from adapters.whatsapp.simulator.state import SimulatorState, Template

MEDIA_TYPES: Final = ("image", "document", "audio", "video", "sticker")
CAPTIONED: Final = frozenset({"image", "document", "video"})
MESSAGE_TYPES: Final = (
    "text",
    *MEDIA_TYPES,
    "interactive",
    "template",
    "reaction",
    "location",
    "contacts",
)
TEXT_BODY_MAX: Final = 4096
CAPTION_MAX: Final = 1024
INTERACTIVE_BODY_MAX: Final = 1024
HEADER_FOOTER_MAX: Final = 60
LIST_BUTTON_MAX: Final = 20
LIST_ROWS_MAX: Final = 10
LIST_SECTIONS_MAX: Final = 10
ROW_ID_MAX: Final = 200
ROW_TITLE_MAX: Final = 24
ROW_DESCRIPTION_MAX: Final = 72
SECTION_TITLE_MAX: Final = 24
REPLY_BUTTONS_MAX: Final = 3
BUTTON_TITLE_MAX: Final = 20
BUTTON_ID_MAX: Final = 256
COUPON_CODE_MAX: Final = 20  # a copy code button's code, in Meta's current docs (once 15)
BSUID: Final = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")
PHONE: Final = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")
PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True)
class Recipient:
    input: str
    wa_id: str | None  # phone digits when sent by phone
    user_id: str | None  # the BSUID when sent by business-scoped user id

    @property
    def key(self) -> str:
        return self.wa_id or self.user_id or self.input

    def contact(self) -> dict[str, str]:
        if self.wa_id is not None:
            return {"input": self.input, "wa_id": self.wa_id}
        return {"input": self.input, "user_id": self.user_id or self.input}


@dataclass(frozen=True)
class ValidSend:
    recipient: Recipient
    type: str
    category: str  # pricing category: "service" for free-form, the template's otherwise
    callback_data: str | None = None  # biz_opaque_callback_data, echoed in status webhooks

    @property
    def free_form(self) -> bool:
        return self.type != "template"


@dataclass(frozen=True)
class ValidRead:
    message_id: str


def validate_message_request(body: Any, state: SimulatorState) -> ValidSend | ValidRead:
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    _messaging_product(body)
    if "status" in body:
        return _read_receipt(body)
    recipient = _recipient(body)
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise GraphError(
            100, f"Param type must be one of {{{', '.join(MESSAGE_TYPES)}}} - got {kind!r}."
        )
    if kind not in body:
        raise missing(kind)
    content = _object(body, kind)
    if "context" in body:
        _context(body["context"])
    category = "service"
    if kind == "text":
        _text(content)
    elif kind in MEDIA_TYPES:
        _media(kind, content, state)
    elif kind == "interactive":
        _interactive(content)
    elif kind == "template":
        category = _template(content, state, recipient).category.lower()
    elif kind == "reaction":
        _reaction(content)
    elif kind == "location":
        _location(content)
    else:
        _contacts(body[kind])
    callback = _string(body, "biz_opaque_callback_data", "biz_opaque_callback_data",
                       limit=512, required_=False)  # fmt: skip
    return ValidSend(recipient, kind, category, callback)


def _messaging_product(body: dict[str, Any]) -> None:
    product = body.get("messaging_product")
    if product is None:
        raise missing("messaging_product")
    if product != "whatsapp":
        raise GraphError(
            100, f"Param messaging_product must be one of {{WHATSAPP}} - got {product!r}."
        )


def _read_receipt(body: dict[str, Any]) -> ValidRead:
    if body["status"] != "read":
        raise invalid("status", "only 'read' can be set on a message")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise missing("message_id")
    indicator = body.get("typing_indicator")
    if indicator is not None and (
        not isinstance(indicator, dict) or indicator.get("type") != "text"
    ):
        raise invalid("typing_indicator.type", "must be 'text'")
    return ValidRead(message_id)


def _recipient(body: dict[str, Any]) -> Recipient:
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise invalid("recipient_type", f"must be 'individual', got {recipient_type!r}")
    to, user_id = body.get("to"), body.get("recipient")
    if to is not None:  # 'to' wins when both are present, as at Meta
        if not isinstance(to, str) or not PHONE.match(to):
            raise GraphError(100, f"Invalid parameter: to is not a phone number ({to!r})")
        return Recipient(to, re.sub(r"\D", "", to), None)
    if user_id is not None:
        if not isinstance(user_id, str) or not BSUID.match(user_id):
            raise invalid("recipient", "not a business-scoped user id (like 'US.1234567890')")
        return Recipient(user_id, None, user_id)
    raise missing("to")


def _object(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body[field]
    if field == "contacts":
        return {}
    if not isinstance(value, dict):
        raise GraphError(100, f"Param {field} must be a JSON object.")
    return value


def _string(
    container: dict[str, Any],
    key: str,
    path: str,
    *,
    limit: int | None = None,
    required_: bool = True,
    minimum: int = 1,
) -> str | None:
    value = container.get(key)
    if value is None:
        if required_:
            raise required(path)
        return None
    if not isinstance(value, str):
        raise invalid(path, "must be a string")
    if len(value) < minimum:
        raise invalid(path, f"must be at least {minimum} characters long")
    if limit is not None and len(value) > limit:
        raise invalid(path, f"must be at most {limit} characters long (got {len(value)})")
    return value


def _context(context: Any) -> None:
    if not isinstance(context, dict):
        raise invalid("context", "must be an object")
    _string(context, "message_id", "context.message_id")


def _text(text: dict[str, Any]) -> None:
    body = text.get("body")
    if body is None:
        raise missing("text['body']")
    if not isinstance(body, str) or not body:
        raise invalid("text.body", "must be a non-empty string")
    if len(body) > TEXT_BODY_MAX:
        raise GraphError(
            100,
            f"Param text['body'] must be at most {TEXT_BODY_MAX} characters "
            f"long (got {len(body)}).",
        )
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise invalid("text.preview_url", "must be a boolean")


def _media(kind: str, media: dict[str, Any], state: SimulatorState) -> None:
    _media_object(kind, media, state)
    if "caption" in media:
        if kind not in CAPTIONED:
            raise invalid(f"{kind}.caption", f"{kind} messages cannot have a caption")
        _string(media, "caption", f"{kind}.caption", limit=CAPTION_MAX)
    if "filename" in media:
        if kind != "document":
            raise invalid(f"{kind}.filename", "only documents have a filename")
        _string(media, "filename", f"{kind}.filename", limit=240)


def _media_object(kind: str, media: dict[str, Any], state: SimulatorState) -> None:
    has_id, has_link = "id" in media, "link" in media
    if has_id == has_link:
        raise (
            required(f"{kind}.id or {kind}.link (exactly one)")
            if not has_id
            else invalid(kind, "give either id or link, not both")
        )
    if has_id:
        media_id = media["id"]
        if not isinstance(media_id, str) or media_id not in state.media:
            raise invalid(f"{kind}.id", f"unknown media id {media_id!r}")
    else:
        link = media["link"]
        if not isinstance(link, str) or not re.match(r"^https?://\S+$", link):
            raise invalid(f"{kind}.link", "must be an http(s) URL")


def _interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    if kind is None:
        raise required("interactive.type")
    checks = {
        "button": _reply_buttons,
        "list": _list,
        "request_contact_info": _contact_request,
        "cta_url": _cta_url,
        "location_request_message": _location_request,
    }
    if kind not in checks:
        raise invalid("interactive.type", f"unsupported interactive type {kind!r}")
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise required("interactive.action")
    _interactive_body(interactive)
    _footer(interactive)
    checks[kind](interactive, action)


def _interactive_body(interactive: dict[str, Any]) -> None:
    body = interactive.get("body")
    if not isinstance(body, dict):
        raise required("interactive.body")
    _string(body, "text", "interactive.body.text", limit=INTERACTIVE_BODY_MAX)


def _footer(interactive: dict[str, Any]) -> None:
    footer = interactive.get("footer")
    if footer is None:
        return
    if not isinstance(footer, dict):
        raise invalid("interactive.footer", "must be an object")
    _string(footer, "text", "interactive.footer.text", limit=HEADER_FOOTER_MAX)


def _header(interactive: dict[str, Any], allowed: tuple[str, ...]) -> None:
    header = interactive.get("header")
    if header is None:
        return
    if not isinstance(header, dict):
        raise invalid("interactive.header", "must be an object")
    kind = header.get("type")
    if kind not in allowed:
        raise invalid("interactive.header.type", f"must be one of {', '.join(allowed)}")
    if kind == "text":
        _string(header, "text", "interactive.header.text", limit=HEADER_FOOTER_MAX)
        return
    media = header.get(kind)
    if not isinstance(media, dict) or ("id" in media) == ("link" in media):
        raise required(f"interactive.header.{kind}.id or .link")


def _reply_buttons(interactive: dict[str, Any], action: dict[str, Any]) -> None:
    _header(interactive, ("text", "image", "video", "document"))
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise required("interactive.action.buttons")
    if len(buttons) > REPLY_BUTTONS_MAX:
        raise invalid(
            "interactive.action.buttons",
            f"at most {REPLY_BUTTONS_MAX} buttons (got {len(buttons)})",
        )
    ids: set[str] = set()
    titles: set[str] = set()
    for index, button in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]"
        if not isinstance(button, dict) or button.get("type") != "reply":
            raise invalid(f"{path}.type", "must be 'reply'")
        reply = button.get("reply")
        if not isinstance(reply, dict):
            raise required(f"{path}.reply")
        button_id = _string(reply, "id", f"{path}.reply.id", limit=BUTTON_ID_MAX)
        title = _string(reply, "title", f"{path}.reply.title", limit=BUTTON_TITLE_MAX)
        if button_id in ids:
            raise invalid(f"{path}.reply.id", f"duplicate button id {button_id!r}")
        if title in titles:
            raise invalid(f"{path}.reply.title", f"duplicate button title {title!r}")
        ids.add(button_id or "")
        titles.add(title or "")


def _list(interactive: dict[str, Any], action: dict[str, Any]) -> None:
    _header(interactive, ("text",))
    _string(action, "button", "interactive.action.button", limit=LIST_BUTTON_MAX)
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise required("interactive.action.sections")
    if len(sections) > LIST_SECTIONS_MAX:
        raise invalid("interactive.action.sections", f"at most {LIST_SECTIONS_MAX} sections")
    row_ids: set[str] = set()
    for s, section in enumerate(sections):
        path = f"interactive.action.sections[{s}]"
        if not isinstance(section, dict):
            raise invalid(path, "must be an object")
        _string(
            section, "title", f"{path}.title", limit=SECTION_TITLE_MAX, required_=len(sections) > 1
        )
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise required(f"{path}.rows")
        for r, row in enumerate(rows):
            _row(row, f"{path}.rows[{r}]", row_ids)
    if len(row_ids) > LIST_ROWS_MAX:
        raise invalid(
            "interactive.action.sections",
            f"at most {LIST_ROWS_MAX} rows in all (got {len(row_ids)})",
        )


def _row(row: Any, path: str, row_ids: set[str]) -> None:
    if not isinstance(row, dict):
        raise invalid(path, "must be an object")
    row_id = _string(row, "id", f"{path}.id", limit=ROW_ID_MAX) or ""
    _string(row, "title", f"{path}.title", limit=ROW_TITLE_MAX)
    _string(row, "description", f"{path}.description", limit=ROW_DESCRIPTION_MAX, required_=False)
    if row_id in row_ids:
        raise invalid(f"{path}.id", f"duplicate row id {row_id!r}")
    row_ids.add(row_id)


def _contact_request(interactive: dict[str, Any], action: dict[str, Any]) -> None:
    if "header" in interactive:
        raise invalid("interactive.header", "a contact request has no header")
    if action.get("name") != "request_contact_info":
        raise invalid("interactive.action.name", "must be 'request_contact_info'")


def _cta_url(interactive: dict[str, Any], action: dict[str, Any]) -> None:
    _header(interactive, ("text", "image", "video", "document"))
    parameters = action.get("parameters")
    if action.get("name") != "cta_url" or not isinstance(parameters, dict):
        raise required("interactive.action.name 'cta_url' and interactive.action.parameters")
    _string(parameters, "display_text", "interactive.action.parameters.display_text", limit=20)
    _string(parameters, "url", "interactive.action.parameters.url")


def _location_request(interactive: dict[str, Any], action: dict[str, Any]) -> None:
    if action.get("name") != "send_location":
        raise invalid("interactive.action.name", "must be 'send_location'")


def _reaction(reaction: dict[str, Any]) -> None:
    _string(reaction, "message_id", "reaction.message_id")
    # An empty emoji removes a reaction.
    _string(reaction, "emoji", "reaction.emoji", limit=10, minimum=0)


def _location(location: dict[str, Any]) -> None:
    for key in ("latitude", "longitude"):
        value = location.get(key)
        if value is None:
            raise required(f"location.{key}")
        try:
            float(value)
        except (TypeError, ValueError):
            raise invalid(f"location.{key}", "must be a number") from None


def _contacts(contacts: Any) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise required("contacts")
    for index, contact in enumerate(contacts):
        name = contact.get("name") if isinstance(contact, dict) else None
        if not isinstance(name, dict) or not name.get("formatted_name"):
            raise required(f"contacts[{index}].name.formatted_name")


# -- templates --------------------------------------------------------------------------------


def _template(template: dict[str, Any], state: SimulatorState, recipient: Recipient) -> Template:
    name = _string(template, "name", "template.name") or ""
    language = template.get("language")
    if not isinstance(language, dict):
        raise required("template.language")
    code = _string(language, "code", "template.language.code") or ""
    stored = state.find_template(name, code)
    if stored is None or stored.status not in ("APPROVED", "PAUSED", "DISABLED"):
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    if stored.status == "PAUSED":
        raise GraphError(132015, f"template {name} is paused")
    if stored.status == "DISABLED":
        raise GraphError(132016, f"template {name} is disabled")
    if recipient.wa_id is None and stored.category == "AUTHENTICATION":
        raise GraphError(131062, "authentication templates need a phone number recipient")
    sent = template.get("components", [])
    if not isinstance(sent, list):
        raise invalid("template.components", "must be a list")
    _template_components(stored, sent)
    return stored


def _template_components(stored: Template, sent: list[Any]) -> None:
    by_type: dict[str, dict[str, Any]] = {}
    buttons: dict[int, dict[str, Any]] = {}
    for index, component in enumerate(sent):
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            raise required(f"template.components[{index}].type")
        kind = component["type"].lower()
        if kind == "button":
            buttons[_button_index(component, index)] = component
        elif kind in ("header", "body"):
            by_type[kind] = component
        else:
            raise invalid(f"template.components[{index}].type", f"unknown type {kind!r}")
    defined = {c.get("type", "").upper(): c for c in stored.components}
    _header_parameters(defined.get("HEADER"), by_type.get("header"))
    _body_parameters(defined.get("BODY"), by_type.get("body"))
    _button_parameters(defined.get("BUTTONS"), buttons)


def _parameters(component: dict[str, Any] | None, path: str) -> list[dict[str, Any]]:
    if component is None:
        return []
    parameters = component.get("parameters", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise invalid(f"{path}.parameters", "must be a list of objects")
    return parameters


def _placeholders(text: str) -> int:
    return len(set(PLACEHOLDER.findall(text)))


def _count_error(where: str, expected: int, got: int) -> GraphError:
    return GraphError(
        132000,
        f"{where}: number of localizable_params ({got}) does not match the "
        f"expected number of params ({expected})",
    )


def _header_parameters(defined: dict[str, Any] | None, sent: dict[str, Any] | None) -> None:
    parameters = _parameters(sent, "template.header")
    fmt = (defined or {}).get("format", "TEXT").upper() if defined else None
    if fmt in ("IMAGE", "VIDEO", "DOCUMENT"):
        if len(parameters) != 1:
            raise _count_error("header", 1, len(parameters))
        _typed_parameter(parameters[0], fmt.lower(), "template.header.parameters[0]")
        return
    expected = _placeholders(str((defined or {}).get("text", "")))
    if len(parameters) != expected:
        raise _count_error("header", expected, len(parameters))
    for i, parameter in enumerate(parameters):
        _typed_parameter(parameter, "text", f"template.header.parameters[{i}]")


def _body_parameters(defined: dict[str, Any] | None, sent: dict[str, Any] | None) -> None:
    parameters = _parameters(sent, "template.body")
    expected = _placeholders(str((defined or {}).get("text", "")))
    if len(parameters) != expected:
        raise _count_error("body", expected, len(parameters))
    for i, parameter in enumerate(parameters):
        kind = parameter.get("type")
        if kind not in ("text", "currency", "date_time"):
            raise GraphError(
                132012, f"template.body.parameters[{i}].type must be text, currency or date_time"
            )
        if kind == "text":
            _string(parameter, "text", f"template.body.parameters[{i}].text", limit=32768)


def _typed_parameter(parameter: dict[str, Any], kind: str, path: str) -> None:
    if parameter.get("type") != kind:
        raise GraphError(132012, f"{path}.type must be {kind!r}, got {parameter.get('type')!r}")
    if kind == "text":
        _string(parameter, "text", f"{path}.text")
        return
    media = parameter.get(kind)
    if not isinstance(media, dict) or ("id" in media) == ("link" in media):
        raise required(f"{path}.{kind}.id or .link (exactly one)")


def _button_index(component: dict[str, Any], position: int) -> int:
    index = component.get("index")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 10:
        raise invalid(f"template.components[{position}].index", "must be 0 to 9")
    return index


_SUB_TYPES: Final = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code"}


def _button_parameters(defined: dict[str, Any] | None, sent: dict[int, dict[str, Any]]) -> None:
    buttons = list((defined or {}).get("buttons", []))
    for index, component in sent.items():
        path = f"template.button[{index}]"
        if index >= len(buttons):
            raise invalid(f"{path}.index", f"the template has {len(buttons)} button(s)")
        expected = _SUB_TYPES.get(str(buttons[index].get("type", "")).upper())
        # Meta's own examples write it either way: "url", "quick_reply", "COPY_CODE".
        if str(component.get("sub_type", "")).lower() != expected:
            raise invalid(f"{path}.sub_type", f"must be {expected!r} for this button")
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper()
        needs = (kind == "URL" and _placeholders(str(button.get("url", ""))) > 0) or (
            kind == "COPY_CODE"
        )
        given = _parameters(sent.get(index), f"template.button[{index}]")
        if needs and len(given) != 1:
            raise _count_error(f"button {index}", 1, len(given))
        if not needs and kind != "QUICK_REPLY" and given:
            raise _count_error(f"button {index}", 0, len(given))
        for parameter in given:
            _button_parameter(kind, parameter, f"template.button[{index}].parameters[0]")


def _button_parameter(kind: str, parameter: dict[str, Any], path: str) -> None:
    expected = {"URL": "text", "QUICK_REPLY": "payload", "COPY_CODE": "coupon_code"}.get(kind)
    if expected is None or parameter.get("type") != expected:
        raise GraphError(132012, f"{path}.type must be {expected!r}")
    limit = COUPON_CODE_MAX if kind == "COPY_CODE" else 2000
    _string(parameter, expected, f"{path}.{expected}", limit=limit)


# -- template management ----------------------------------------------------------------------

TEMPLATE_NAME: Final = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES: Final = ("MARKETING", "UTILITY", "AUTHENTICATION")


def validate_new_template(body: Any) -> Template:
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    name = body.get("name")
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise GraphError(
            100,
            "name: lowercase letters, digits and underscores only",
            message="(#100) Invalid parameter",
        )
    language = body.get("language")
    if not isinstance(language, str) or not re.match(r"^[a-z]{2,3}(_[A-Z]{2})?$", language):
        raise GraphError(
            100, "language: a language code like en_US", message="(#100) Invalid parameter"
        )
    category = str(body.get("category", "")).upper()
    if category not in CATEGORIES:
        raise GraphError(
            100,
            f"category must be one of {', '.join(CATEGORIES)}",
            message="(#100) Invalid parameter",
        )
    components = body.get("components")
    if not isinstance(components, list) or not any(
        isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
    ):
        raise GraphError(
            100, "components must include a BODY component", message="(#100) Invalid parameter"
        )
    return Template(name=name, language=language, category=category, components=components)
