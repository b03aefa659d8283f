"""Message templates: their events, and the rules a template send must follow.

A template is approved by Meta with fixed components (header, body, footer, buttons);
a send only fills in their variables. ``check_template_request`` compares what a
caller asks to send with the stored components, so a mismatch is refused with the
field at fault before anything is queued, rather than coming back later as one of
Meta's 132000-132016 errors. Nothing here knows Meta's wire format for sends (the
Graph adapter builds it); components are kept as Meta returns them (JSON objects).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from domain.events import DomainEvent, deterministic_event_id
from domain.outbound import (
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
)
from domain.whatsapp_limits import TEMPLATE_COUPON_CODE_MAX

Component = dict[str, Any]

APPROVED: Final = "APPROVED"
DELETED: Final = "DELETED"
MEDIA_FORMATS: Final = ("IMAGE", "VIDEO", "DOCUMENT")
# Meta's current reference: a copy code button's code is at most 20 characters (older
# guides say 15). One limit for sending and for creating templates.
COPY_CODE_MAX: Final = TEMPLATE_COUPON_CODE_MAX
PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_SUB_TYPES: Final = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code"}


# --- events (on the business's stream) -------------------------------------------------------


class TemplateSynced(DomainEvent, frozen=True, tag="template.synced"):
    """What Meta holds for one template (name and language), as a sync or a create saw it.

    ``quality`` is None when Meta did not say; the quality already known then stays.
    """

    business_id: str
    template_id: str
    name: str
    language: str
    status: str
    category: str
    components: list[Component]
    at: datetime
    quality: str | None = None


class TemplateRemoved(DomainEvent, frozen=True, tag="template.removed"):
    """A template is gone from Meta: deleted here, or missing from a complete sync."""

    business_id: str
    name: str
    language: str
    at: datetime
    template_id: str | None = None
    reason: str = "missing_from_sync"  # or "deleted"


def content_fingerprint(
    status: str, category: str, quality: str | None, components: Sequence[Component]
) -> str:
    """A short hash of a template's content, stable across key order."""
    text = json.dumps([status, category, quality, list(components)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def template_synced_event_id(
    business_id: str, name: str, language: str, fingerprint: str, basis: str
) -> uuid.UUID:
    """The same content over the same stored state gives the same id: a sync repeated
    before or after the read model caught up appends nothing new. ``basis`` is the id of
    the event the stored row last changed with ("-" when none), so content that returns
    after another change (approved, paused, approved again) is recorded again.
    """
    return deterministic_event_id(business_id, "template_synced", name, language, fingerprint,
                                  basis)  # fmt: skip


def template_removed_event_id(business_id: str, name: str, language: str, basis: str) -> uuid.UUID:
    return deterministic_event_id(business_id, "template_removed", name, language, basis)


# --- the send check --------------------------------------------------------------------------


class TemplateMismatchError(ValueError):
    """A template send that does not fit the template's components; ``field`` names where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def placeholders(text: str) -> list[str]:
    """The distinct variables of a text (``{{1}}``, ``{{2}}``), in order of appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def component_of(components: Sequence[Component], kind: str) -> Component | None:
    for component in components:
        if str(component.get("type", "")).upper() == kind:
            return component
    return None


def check_template_request(components: Sequence[Component], requested: TemplateMessage) -> None:
    """Raise TemplateMismatchError when ``requested`` does not fill these components exactly."""
    _check_body(component_of(components, "BODY"), requested.body_parameters)
    _check_header(component_of(components, "HEADER"), requested)
    buttons = component_of(components, "BUTTONS")
    _check_buttons(list(buttons.get("buttons", [])) if buttons else [], requested.buttons)


def _variables(text: str, where: str) -> int:
    names = placeholders(text)
    if any(not name.isdigit() for name in names):
        raise TemplateMismatchError(
            where, "the template uses named variables, which this version cannot fill"
        )
    return len(names)


def _check_body(body: Component | None, parameters: Sequence[str]) -> None:
    expected = _variables(str((body or {}).get("text", "")), "template.body_parameters")
    if len(parameters) != expected:
        raise TemplateMismatchError(
            "template.body_parameters",
            f"the template's body has {expected} variable(s); {len(parameters)} value(s) given",
        )


def _check_header(header: Component | None, requested: TemplateMessage) -> None:
    given = requested.header
    fmt = str((header or {}).get("format", "TEXT")).upper() if header else None
    if fmt in MEDIA_FORMATS:
        kind = fmt.lower()
        if not isinstance(given, TemplateMediaHeader) or given.media_type != kind:
            raise TemplateMismatchError(
                "template.header", f"the template's header is {kind}: give {{{kind!r}: ...}}"
            )
        if bool(given.media_id) == bool(given.link):
            raise TemplateMismatchError(
                f"template.header.{kind}", "give exactly one of a media id or a link"
            )
        return
    if fmt not in (None, "TEXT"):
        raise TemplateMismatchError(
            "template.header", f"the template's header is {fmt}, which this version cannot fill"
        )
    variables = _variables(str((header or {}).get("text", "")), "template.header")
    if variables and not isinstance(given, TemplateTextHeader):
        raise TemplateMismatchError("template.header", "the template's header has a variable: "
                                    "give {'text': ...}")  # fmt: skip
    if not variables and given is not None:
        what = "has no header" if header is None else "has a fixed header"
        raise TemplateMismatchError("template.header", f"the template {what}: give none")


def _check_buttons(defined: list[Any], requested: Sequence[TemplateButton]) -> None:
    seen: set[int] = set()
    for position, button in enumerate(requested):
        path = f"template.buttons[{position}]"
        if button.index in seen:
            raise TemplateMismatchError(f"{path}.index", f"button {button.index} is given twice")
        seen.add(button.index)
        if not 0 <= button.index < len(defined):
            raise TemplateMismatchError(
                f"{path}.index", f"the template has {len(defined)} button(s), numbered from 0"
            )
        _check_button(path, _as_dict(defined[button.index]), button)
    for index, stored in enumerate(defined):
        needs = _button_needs_parameter(_as_dict(stored))
        if needs and index not in seen:
            raise TemplateMismatchError(
                "template.buttons", f"button {index} ({needs}) needs a parameter"
            )


def _as_dict(value: Any) -> Component:
    return value if isinstance(value, dict) else {}


def _button_needs_parameter(button: Component) -> str | None:
    kind = str(button.get("type", "")).upper()
    if kind == "URL" and placeholders(str(button.get("url", ""))):
        return "a URL with a variable suffix"
    if kind == "COPY_CODE":
        return "a copy code button"
    return None


def _check_button(path: str, stored: Component, button: TemplateButton) -> None:
    kind = str(stored.get("type", "")).upper()
    expected = _SUB_TYPES.get(kind)
    if expected is None:
        raise TemplateMismatchError(
            f"{path}.index", f"button {button.index} is {kind or 'unknown'} and takes no parameter"
        )
    if button.sub_type != expected:
        raise TemplateMismatchError(
            f"{path}.sub_type", f"button {button.index} is {kind}: sub_type must be {expected!r}"
        )
    if kind == "URL" and not placeholders(str(stored.get("url", ""))):
        raise TemplateMismatchError(
            f"{path}.parameter", f"button {button.index} has a fixed URL and takes no parameter"
        )
    if not button.parameter:
        raise TemplateMismatchError(f"{path}.parameter", "must not be empty")
    if kind == "COPY_CODE" and len(button.parameter) > COPY_CODE_MAX:
        raise TemplateMismatchError(
            f"{path}.parameter", f"a copy code is at most {COPY_CODE_MAX} characters"
        )
