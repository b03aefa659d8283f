"""A new template in Meta's create shape, checked here before Meta sees it.

``validate_new_template`` takes the JSON a user wrote (the body of Meta's
``POST /{waba_id}/message_templates``) and raises ``TemplateDefinitionError`` naming
the first field at fault, so a typo costs no round trip and no rejected template.
The rules are Meta's documented ones: names, languages, categories, one component of
each type, text lengths, numbered variables with examples, button kinds and counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from domain.templates import COPY_CODE_MAX, MEDIA_FORMATS, placeholders

NAME: Final = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE: Final = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
CATEGORIES: Final = ("MARKETING", "UTILITY", "AUTHENTICATION")
COMPONENT_TYPES: Final = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_FORMATS: Final = ("TEXT", *MEDIA_FORMATS, "LOCATION")
BUTTON_TYPES: Final = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW",
                       "CATALOG", "MPM", "VOICE_CALL")  # fmt: skip
BODY_MAX: Final = 1024
HEADER_TEXT_MAX: Final = 60
FOOTER_MAX: Final = 60
BUTTON_TEXT_MAX: Final = 25
BUTTONS_MAX: Final = 10
URL_MAX: Final = 2000
PHONE_MAX: Final = 20


class TemplateDefinitionError(ValueError):
    """A template Meta would refuse; ``field`` is a path into the JSON (``components[1].text``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True, slots=True)
class NewTemplate:
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """The create request's body."""
        return {"name": self.name, "language": self.language, "category": self.category,
                "components": self.components}  # fmt: skip


def validate_new_template(data: Any) -> NewTemplate:
    if not isinstance(data, dict):
        raise TemplateDefinitionError("(file)", "must be a JSON object in Meta's create shape")
    name = _text(data, "name", "name")
    if not NAME.match(name):
        raise TemplateDefinitionError("name", "lowercase letters, digits and underscores only "
                                      "(at most 512)")  # fmt: skip
    language = _text(data, "language", "language")
    if not LANGUAGE.match(language):
        raise TemplateDefinitionError("language", "a language code such as en, fr or en_US")
    category = _text(data, "category", "category").upper()
    if category not in CATEGORIES:
        raise TemplateDefinitionError("category", f"one of {', '.join(CATEGORIES)}")
    components = data.get("components")
    if not isinstance(components, list) or not components:
        raise TemplateDefinitionError("components", "a non-empty list of components")
    _check_components(components, category)
    return NewTemplate(name, language, category, components)


def _text(data: dict[str, Any], key: str, path: str, limit: int | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TemplateDefinitionError(path, "required (a non-empty string)")
    if limit is not None and len(value) > limit:
        raise TemplateDefinitionError(path, f"at most {limit} characters ({len(value)} given)")
    return value


def _check_components(components: list[Any], category: str) -> None:
    seen: set[str] = set()
    for index, component in enumerate(components):
        path = f"components[{index}]"
        if not isinstance(component, dict):
            raise TemplateDefinitionError(path, "must be an object")
        kind = str(component.get("type", "")).upper()
        if kind not in COMPONENT_TYPES:
            raise TemplateDefinitionError(f"{path}.type", f"one of {', '.join(COMPONENT_TYPES)}")
        if kind in seen:
            raise TemplateDefinitionError(f"{path}.type", f"only one {kind} component is allowed")
        seen.add(kind)
        _CHECKS[kind](component, path, category)
    if "BODY" not in seen:
        raise TemplateDefinitionError("components", "a BODY component is required")


def _check_variables(text: str, path: str, example: Any, most: int | None = None) -> None:
    """Variables are {{1}}, {{2}}, ... in order, each with an example value."""
    names = placeholders(text)
    if names != [str(n) for n in range(1, len(names) + 1)]:
        raise TemplateDefinitionError(path, "variables must be {{1}}, {{2}}, ... in order")
    if most is not None and len(names) > most:
        raise TemplateDefinitionError(path, f"at most {most} variable(s)")
    if names and (not isinstance(example, list) or len(example) != len(names)):
        raise TemplateDefinitionError(
            f"{path.rsplit('.', 1)[0]}.example",
            f"give one example value per variable ({len(names)})",
        )


def _check_header(component: dict[str, Any], path: str, category: str) -> None:
    fmt = str(component.get("format", "")).upper()
    if fmt not in HEADER_FORMATS:
        raise TemplateDefinitionError(f"{path}.format", f"one of {', '.join(HEADER_FORMATS)}")
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    assert isinstance(example, dict)
    if fmt == "TEXT":
        text = _text(component, "text", f"{path}.text", HEADER_TEXT_MAX)
        _check_variables(text, f"{path}.text", example.get("header_text"), most=1)
    elif fmt in MEDIA_FORMATS:
        handles = example.get("header_handle")
        if not isinstance(handles, list) or not handles:
            raise TemplateDefinitionError(
                f"{path}.example.header_handle", f"a sample {fmt.lower()} (an upload handle)"
            )


def _check_body(component: dict[str, Any], path: str, category: str) -> None:
    if category == "AUTHENTICATION":  # Meta writes the text of authentication templates
        return
    text = _text(component, "text", f"{path}.text", BODY_MAX)
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    assert isinstance(example, dict)
    rows = example.get("body_text")
    first = rows[0] if isinstance(rows, list) and rows else None
    _check_variables(text, f"{path}.text", first)


def _check_footer(component: dict[str, Any], path: str, category: str) -> None:
    if category == "AUTHENTICATION":
        return
    text = _text(component, "text", f"{path}.text", FOOTER_MAX)
    if placeholders(text):
        raise TemplateDefinitionError(f"{path}.text", "a footer has no variables")


def _check_buttons(component: dict[str, Any], path: str, category: str) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS_MAX:
        raise TemplateDefinitionError(f"{path}.buttons", f"a list of 1 to {BUTTONS_MAX} buttons")
    for index, button in enumerate(buttons):
        where = f"{path}.buttons[{index}]"
        if not isinstance(button, dict):
            raise TemplateDefinitionError(where, "must be an object")
        kind = str(button.get("type", "")).upper()
        if kind not in BUTTON_TYPES:
            raise TemplateDefinitionError(f"{where}.type", f"one of {', '.join(BUTTON_TYPES)}")
        _check_button(button, kind, where)


def _check_button(button: dict[str, Any], kind: str, where: str) -> None:
    if kind in ("QUICK_REPLY", "URL", "PHONE_NUMBER"):
        _text(button, "text", f"{where}.text", BUTTON_TEXT_MAX)
    if kind == "URL":
        url = _text(button, "url", f"{where}.url", URL_MAX)
        if not url.startswith(("https://", "http://")):
            raise TemplateDefinitionError(f"{where}.url", "must start with https:// or http://")
        names = placeholders(url)
        if names and (names != ["1"] or not url.rstrip().endswith("}}")):
            raise TemplateDefinitionError(f"{where}.url", "one variable at most, {{1}}, at the end")
        example = button.get("example")
        if names and (not isinstance(example, list) or not example):
            raise TemplateDefinitionError(f"{where}.example", "give an example full URL")
    elif kind == "PHONE_NUMBER":
        _text(button, "phone_number", f"{where}.phone_number", PHONE_MAX)
    elif kind == "COPY_CODE":
        example = button.get("example")
        if not isinstance(example, str) or not 1 <= len(example) <= COPY_CODE_MAX:
            raise TemplateDefinitionError(
                f"{where}.example", f"an example code of 1 to {COPY_CODE_MAX} characters"
            )


_CHECKS: Final = {
    "HEADER": _check_header,
    "BODY": _check_body,
    "FOOTER": _check_footer,
    "BUTTONS": _check_buttons,
}
