"""GET and PATCH /api/v1/assistant: the caller's business's assistant settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody, SkipValidation

from application.assistant_settings import (
    AssistantSettingsService,
    SettingsContentionError,
    SettingsState,
)
from application.read_models import View, doc
from domain.assistant_settings import (
    MAX_BUSINESS_HOURS_LENGTH,
    MAX_FAILURES,
    MAX_INSTRUCTIONS_LENGTH,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    MAX_MESSAGE_LENGTH,
    MAX_PAUSE_MINUTES,
    MIN_FAILURES,
    AssistantSettingsError,
    SettingsChanges,
)
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError
from entrypoints.openapi import error_responses

# The service comes from the router's dependencies and is not a value to validate.
Settings = NamedDependency[SkipValidation[AssistantSettingsService]]

_AUTO_REPLY: Final = "Whether the assistant answers customers by itself."
_LANGUAGE: Final = "auto: answer in the customer's language (French or English); fr or en: always."
_KEYWORDS: Final = (
    "Words or phrases that hand a conversation to a person when a customer writes them (at most"
    f" {MAX_KEYWORDS}, each up to {MAX_KEYWORD_LENGTH} characters)."
)
_FAILURES: Final = (
    "Provider failures in a row (each answered by the fallback message) before the conversation"
    f" is handed to a person: {MIN_FAILURES} to {MAX_FAILURES}."
)
_HOURS: Final = (
    f"Opening hours as the assistant tells them, free text (up to {MAX_BUSINESS_HOURS_LENGTH}"
    " characters); empty when not given."
)
_INSTRUCTIONS: Final = (
    f"The business's own instructions to the assistant (up to {MAX_INSTRUCTIONS_LENGTH}"
    " characters): tone, what to say, what never to promise."
)
_FALLBACK: Final = "Sent once when the assistant cannot answer a message, in {}."
_HANDOFF: Final = "Sent once when a person takes the conversation over, in {}."
_PAUSE: Final = (
    "Minutes the assistant stays silent in a conversation after a person answered in it from"
    f" the WhatsApp Business app: 0 to {MAX_PAUSE_MINUTES} (default 720, 12 hours)."
)
_GROUPS: Final = (
    "Always false: group conversations get no automatic replies, as messages cannot be sent"
    " to groups yet; true is refused (400)."
)
_MESSAGE_LIMIT: Final = f" (1 to {MAX_MESSAGE_LENGTH} characters)"
_KEEP: Final = " Omit it (or send null) to keep the current value."


class AssistantSettingsView(View, frozen=True):
    """How the assistant behaves for this business."""

    auto_reply: Annotated[bool, doc(_AUTO_REPLY)]
    language: Annotated[Literal["auto", "fr", "en"], doc(_LANGUAGE)]
    escalation_keywords: Annotated[list[str], doc(_KEYWORDS)]
    max_consecutive_failures: Annotated[int, doc(_FAILURES)]
    business_hours: Annotated[str, doc(_HOURS)]
    instructions: Annotated[str, doc(_INSTRUCTIONS)]
    fallback_message_fr: Annotated[str, doc(_FALLBACK.format("French"))]
    fallback_message_en: Annotated[str, doc(_FALLBACK.format("English"))]
    handoff_message_fr: Annotated[str, doc(_HANDOFF.format("French"))]
    handoff_message_en: Annotated[str, doc(_HANDOFF.format("English"))]
    pause_after_human_minutes: Annotated[int, doc(_PAUSE)]
    group_auto_replies: Annotated[bool, doc(_GROUPS)]
    version: Annotated[
        int, doc("How many changes the settings have had; 0 while all are the defaults.")
    ]
    updated_at: Annotated[
        datetime | None, doc("When they last changed; null while all are the defaults.")
    ]


class AssistantSettingsPatch(msgspec.Struct, frozen=True, kw_only=True,
                             forbid_unknown_fields=True):  # fmt: skip
    """The settings to change; every field is optional and the others keep their value."""

    auto_reply: Annotated[bool | None, doc(_AUTO_REPLY + _KEEP)] = None
    language: Annotated[Literal["auto", "fr", "en"] | None, doc(_LANGUAGE + _KEEP)] = None
    escalation_keywords: Annotated[
        list[str] | None, doc(_KEYWORDS + " The list replaces the current one." + _KEEP)
    ] = None
    max_consecutive_failures: Annotated[int | None, doc(_FAILURES + _KEEP)] = None
    business_hours: Annotated[str | None, doc(_HOURS + " An empty text clears them." + _KEEP)] = (
        None
    )
    instructions: Annotated[str | None, doc(_INSTRUCTIONS + _KEEP)] = None
    fallback_message_fr: Annotated[
        str | None, doc(_FALLBACK.format("French") + _MESSAGE_LIMIT + _KEEP)
    ] = None
    fallback_message_en: Annotated[
        str | None, doc(_FALLBACK.format("English") + _MESSAGE_LIMIT + _KEEP)
    ] = None
    handoff_message_fr: Annotated[
        str | None, doc(_HANDOFF.format("French") + _MESSAGE_LIMIT + _KEEP)
    ] = None
    handoff_message_en: Annotated[
        str | None, doc(_HANDOFF.format("English") + _MESSAGE_LIMIT + _KEEP)
    ] = None
    pause_after_human_minutes: Annotated[int | None, doc(_PAUSE + _KEEP)] = None
    group_auto_replies: Annotated[bool | None, doc(_GROUPS + _KEEP)] = None


def settings_view(state: SettingsState) -> AssistantSettingsView:
    settings = state.settings
    fields = {name: getattr(settings, name) for name in settings.__struct_fields__}
    fields["escalation_keywords"] = list(settings.escalation_keywords)
    return AssistantSettingsView(**fields, version=state.version, updated_at=state.updated_at)


def requested_changes(patch: AssistantSettingsPatch) -> SettingsChanges:
    given: dict[str, Any] = {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not None
    }
    if "escalation_keywords" in given:
        given["escalation_keywords"] = tuple(given["escalation_keywords"])
    return SettingsChanges(**given)


@get("/assistant", responses=error_responses(401, 503))
async def get_assistant_settings(
    business_id: BusinessId, assistant_settings: Settings
) -> AssistantSettingsView:
    """The assistant settings of this business (the defaults until one is changed)."""
    return settings_view(await assistant_settings.current(business_id))


@patch("/assistant", responses=error_responses(400, 401, 503))
async def change_assistant_settings(
    business_id: BusinessId,
    assistant_settings: Settings,
    data: JSONBody[AssistantSettingsPatch],
) -> AssistantSettingsView:
    """Change some assistant settings; the answer is the whole new value.

    Sending the same change again changes nothing (and records nothing).
    """
    try:
        update = await assistant_settings.change(business_id, requested_changes(data))
    except AssistantSettingsError as refused:
        raise ApiError(
            "bad_payload", f"Invalid {refused.field}: {refused.problem}.", parameter=refused.field
        ) from None
    except SettingsContentionError as busy:
        raise ApiError("unavailable", f"{str(busy).capitalize()}.") from None
    return settings_view(update.state)


ASSISTANT_HANDLERS: Final = (get_assistant_settings, change_assistant_settings)
