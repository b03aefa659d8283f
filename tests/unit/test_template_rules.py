"""A template send checked against the template's stored components; a new template checked
against Meta's creation rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.outbound import (
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
)
from domain.template_definitions import TemplateDefinitionError, validate_new_template
from domain.templates import TemplateMismatchError, check_template_request

SHIPPED: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "IMAGE"},
    {"type": "BODY", "text": "Hi {{1}}, order {{2}} left; {{1}}, track it below."},
    {"type": "FOOTER", "text": "Acme"},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://acme.test/track/{{1}}"},
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "COPY_CODE", "example": "SAVE10"},
        {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
        {"type": "URL", "text": "Shop", "url": "https://acme.test/"},
    ]},
]  # fmt: skip


def shipped(**changes: Any) -> TemplateMessage:
    fields: dict[str, Any] = {
        "name": "order_shipped",
        "language": "en_US",
        "body_parameters": ("Ada", "A-1"),
        "header": TemplateMediaHeader(media_type="image", link="https://acme.test/box.png"),
        "buttons": (
            TemplateButton(index=0, sub_type="url", parameter="A-1"),
            TemplateButton(index=2, sub_type="copy_code", parameter="SAVE10"),
        ),
    }
    fields.update(changes)
    return TemplateMessage(**fields)


def refusal(components: list[dict[str, Any]], message: TemplateMessage) -> TemplateMismatchError:
    with pytest.raises(TemplateMismatchError) as raised:
        check_template_request(components, message)
    return raised.value


def test_a_request_that_fills_every_variable_passes() -> None:
    check_template_request(SHIPPED, shipped())
    quick = TemplateButton(index=1, sub_type="quick_reply", parameter="stop-A-1")
    check_template_request(SHIPPED, shipped(buttons=(*shipped().buttons, quick)))


@pytest.mark.parametrize("parameters", [(), ("Ada",), ("Ada", "A-1", "extra")])
def test_the_body_needs_one_value_per_distinct_variable(parameters: tuple[str, ...]) -> None:
    error = refusal(SHIPPED, shipped(body_parameters=parameters))

    assert error.field == "template.body_parameters"
    assert "2 variable(s)" in str(error)


@pytest.mark.parametrize(
    "header",
    [
        None,
        TemplateTextHeader(text="Hi"),
        TemplateMediaHeader(media_type="video", link="https://acme.test/v.mp4"),
    ],
)
def test_a_media_header_needs_media_of_its_format(header: Any) -> None:
    error = refusal(SHIPPED, shipped(header=header))

    assert error.field == "template.header"
    assert "image" in str(error)


def test_a_media_header_needs_exactly_one_source() -> None:
    both = TemplateMediaHeader(media_type="image", media_id="1", link="https://acme.test/a.png")

    assert refusal(SHIPPED, shipped(header=both)).field == "template.header.image"


@pytest.mark.parametrize("fmt", ["VIDEO", "DOCUMENT"])
def test_video_and_document_headers(fmt: str) -> None:
    components = [{"type": "HEADER", "format": fmt}, {"type": "BODY", "text": "Here"}]
    kind = fmt.lower()
    media = TemplateMediaHeader(media_type=kind, media_id="4490")  # type: ignore[arg-type]

    check_template_request(components, TemplateMessage(name="n", language="en", header=media))
    assert refusal(components, TemplateMessage(name="n", language="en")).field == "template.header"


def test_text_headers_with_and_without_a_variable() -> None:
    variable = [
        {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
        {"type": "BODY", "text": "x"},
    ]
    fixed = [{"type": "HEADER", "format": "TEXT", "text": "Hello"}, {"type": "BODY", "text": "x"}]
    text = TemplateTextHeader(text="Ada")

    check_template_request(variable, TemplateMessage(name="n", language="en", header=text))
    check_template_request(fixed, TemplateMessage(name="n", language="en"))
    assert "variable" in str(refusal(variable, TemplateMessage(name="n", language="en")))
    assert "fixed header" in str(
        refusal(fixed, TemplateMessage(name="n", language="en", header=text))
    )
    assert "no header" in str(
        refusal(
            [{"type": "BODY", "text": "x"}], TemplateMessage(name="n", language="en", header=text)
        )
    )


@pytest.mark.parametrize(
    ("button", "field", "words"),
    [
        (TemplateButton(index=9, sub_type="url", parameter="x"), "template.buttons[2].index",
         "5 button(s)"),
        (TemplateButton(index=1, sub_type="url", parameter="x"), "template.buttons[2].sub_type",
         "'quick_reply'"),
        (TemplateButton(index=3, sub_type="url", parameter="x"), "template.buttons[2].index",
         "PHONE_NUMBER"),
        (TemplateButton(index=4, sub_type="url", parameter="x"), "template.buttons[2].parameter",
         "fixed URL"),
        (TemplateButton(index=0, sub_type="url", parameter="again"), "template.buttons[2].index",
         "twice"),
    ],
)  # fmt: skip
def test_buttons_must_match_the_stored_ones(button: TemplateButton, field: str, words: str) -> None:
    error = refusal(SHIPPED, shipped(buttons=(*shipped().buttons, button)))

    assert error.field == field
    assert words in str(error)


def test_a_copy_code_is_at_most_20_characters() -> None:
    long_code = (shipped().buttons[0], TemplateButton(index=2, sub_type="copy_code",
                                                      parameter="C" * 21))  # fmt: skip
    code_20 = (shipped().buttons[0], TemplateButton(index=2, sub_type="copy_code",
                                                    parameter="C" * 20))  # fmt: skip

    check_template_request(SHIPPED, shipped(buttons=code_20))
    error = refusal(SHIPPED, shipped(buttons=long_code))
    assert (error.field, "20 characters" in str(error)) == ("template.buttons[1].parameter", True)


@pytest.mark.parametrize("missing", [0, 2])
def test_dynamic_url_and_copy_code_buttons_need_a_parameter(missing: int) -> None:
    kept = tuple(b for b in shipped().buttons if b.index != missing)

    error = refusal(SHIPPED, shipped(buttons=kept))

    assert error.field == "template.buttons"
    assert f"button {missing}" in str(error)


def test_named_variables_are_refused_clearly() -> None:
    named = [{"type": "BODY", "text": "Hi {{first_name}}"}]

    error = refusal(named, TemplateMessage(name="n", language="en", body_parameters=("Ada",)))

    assert "named variables" in str(error)


# --- a new template ----------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "name": "order_shipped",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1h"]}},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} left.",
         "example": {"body_text": [["Ada", "A-1"]]}},
        {"type": "FOOTER", "text": "Acme"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track", "url": "https://acme.test/t/{{1}}",
             "example": ["https://acme.test/t/A-1"]},
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "COPY_CODE", "example": "SAVE10"},
        ]},
    ],
}  # fmt: skip


def test_a_good_template_passes_unchanged() -> None:
    new = validate_new_template(copy.deepcopy(GOOD))

    assert new.as_json() == GOOD


def broken(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("name", "Order Shipped", "name"),
        ("name", KeyError, "name"),
        ("language", "english", "language"),
        ("category", "PROMO", "category"),
        ("components", [], "components"),
        ("components.2", {"type": "BODY", "text": "again"}, "components[2].type"),
        ("components.1.text", "x" * 1025, "components[1].text"),
        ("components.1.text", "Hi {{2}}", "components[1].text"),
        ("components.1.example", KeyError, "components[1].example"),
        ("components.0.example", KeyError, "components[0].example.header_handle"),
        ("components.0.format", "GIF", "components[0].format"),
        ("components.2.text", "F" * 61, "components[2].text"),
        ("components.3.buttons.0.url", "https://acme.test/{{1}}/x", "components[3].buttons[0].url"),
        ("components.3.buttons.0.example", KeyError, "components[3].buttons[0].example"),
        ("components.3.buttons.1.text", "T" * 26, "components[3].buttons[1].text"),
        ("components.3.buttons.2.example", "C" * 21, "components[3].buttons[2].example"),
        ("components.3.buttons.1.type", "TELEPORT", "components[3].buttons[1].type"),
        ("components.3.buttons", [], "components[3].buttons"),
    ],
)  # fmt: skip
def test_a_broken_template_names_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(TemplateDefinitionError) as raised:
        validate_new_template(broken(path, value))

    assert raised.value.field == field


def test_a_body_is_required() -> None:
    data = {**GOOD, "components": [{"type": "FOOTER", "text": "Acme"}]}

    with pytest.raises(TemplateDefinitionError, match="BODY"):
        validate_new_template(data)


def test_not_an_object() -> None:
    with pytest.raises(TemplateDefinitionError):
        validate_new_template(["not", "an", "object"])
