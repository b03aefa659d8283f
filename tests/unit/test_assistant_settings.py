"""The assistant settings: defaults, validation naming the field, and the fold of changes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from domain.assistant_settings import (
    MAX_INSTRUCTIONS_LENGTH,
    AssistantSettings,
    AssistantSettingsChanged,
    AssistantSettingsError,
    SettingsChanges,
    evolve,
    settings_changed_event_id,
    validated,
)
from entrypoints.cli_assistant import AssistantCommandError, duration_of, minutes_of


def test_defaults_answer_in_the_customers_language_and_hand_off_after_two_failures() -> None:
    settings = AssistantSettings()
    assert settings.auto_reply is True
    assert settings.language == "auto"
    assert settings.max_consecutive_failures == 2
    assert settings.pause_after_human_minutes == 12 * 60
    assert settings.group_auto_replies is False
    assert settings.escalation_keywords == ()
    assert "Désolé" in settings.fallback_message("fr")
    assert settings.fallback_message("en").startswith("Sorry")
    assert "équipe" in settings.handoff_message("fr")
    assert "team" in settings.handoff_message("en")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("max_consecutive_failures", 0, "from 1 to 10"),
        ("max_consecutive_failures", 11, "from 1 to 10"),
        ("max_consecutive_failures", True, "whole number"),
        ("language", "de", "auto"),
        ("auto_reply", "yes", "true or false"),
        ("instructions", "x" * (MAX_INSTRUCTIONS_LENGTH + 1), "at most 4000"),
        ("fallback_message_fr", "   ", "must not be empty"),
        ("handoff_message_en", "", "must not be empty"),
        ("business_hours", "9h\x00-18h", "control characters"),
        ("escalation_keywords", "humain", "list"),
        ("escalation_keywords", ["x" * 61], "longer than 60"),
        ("escalation_keywords", [f"k{n}" for n in range(51)], "at most 50"),
        ("pause_after_human_minutes", -1, "from 0 to 10080 minutes"),
        ("group_auto_replies", True, "cannot be turned on"),
        ("group_auto_replies", "no", "true or false"),
    ],
)
def test_a_wrong_value_is_refused_naming_its_field(field: str, value: Any, problem: str) -> None:
    with pytest.raises(AssistantSettingsError) as refused:
        validated(SettingsChanges(**{field: value}))
    assert refused.value.field == field
    assert problem in str(refused.value)
    assert str(refused.value).startswith(f"{field}: ")


def test_text_is_trimmed_and_keywords_tidied() -> None:
    tidy = validated(SettingsChanges(
        instructions="  Be brief.\nUse tu.  ",
        escalation_keywords=("  parler   à un humain ", "", "Humain", "humain", "agent"),
    ))  # fmt: skip
    assert tidy.instructions == "Be brief.\nUse tu."
    assert tidy.escalation_keywords == ("parler à un humain", "Humain", "agent")


def test_changes_apply_in_order_and_leave_other_fields_at_their_default() -> None:
    first = AssistantSettingsChanged(business_id="acme", changes=SettingsChanges(
        auto_reply=False, language="fr"))  # fmt: skip
    second = AssistantSettingsChanged(business_id="acme", changes=SettingsChanges(
        language="en", max_consecutive_failures=3))  # fmt: skip
    settings = evolve(evolve(AssistantSettings(), first), second)
    assert (settings.auto_reply, settings.language, settings.max_consecutive_failures) == (
        False, "en", 3,
    )  # fmt: skip
    assert settings.fallback_message_en == AssistantSettings().fallback_message_en


def test_groups_stay_off_and_an_old_change_that_turned_them_on_still_loads() -> None:
    assert validated(SettingsChanges(group_auto_replies=False)).group_auto_replies is False
    stored = b'{"type": "assistant.settings_changed", "business_id": "acme",' \
             b' "changes": {"group_auto_replies": true}}'  # fmt: skip
    event = msgspec.json.decode(stored, type=AssistantSettingsChanged)
    assert evolve(AssistantSettings(), event).group_auto_replies is True  # no effect: see turns


def test_the_event_carries_only_the_changed_fields() -> None:
    event = AssistantSettingsChanged(business_id="acme", changes=SettingsChanges(auto_reply=False))
    encoded = msgspec.json.decode(msgspec.json.encode(event))
    assert encoded == {"type": "assistant.settings_changed", "business_id": "acme",
                       "changes": {"auto_reply": False}}  # fmt: skip
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=AssistantSettingsChanged)
    assert decoded == event


def test_a_change_to_the_current_value_is_no_change() -> None:
    current = AssistantSettings(language="fr")
    wanted = SettingsChanges(language="fr", auto_reply=False)
    assert wanted.against(current) == SettingsChanges(auto_reply=False)
    assert SettingsChanges(language="fr").against(current).empty


def test_the_event_id_is_the_same_for_the_same_change_at_the_same_version() -> None:
    change = SettingsChanges(auto_reply=False)
    assert settings_changed_event_id("acme", 3, change) == settings_changed_event_id(
        "acme", 3, SettingsChanges(auto_reply=False)
    )
    assert settings_changed_event_id("acme", 3, change) != settings_changed_event_id(
        "acme", 4, change
    )
    assert settings_changed_event_id("acme", 3, change) != settings_changed_event_id(
        "acme", 3, SettingsChanges(auto_reply=True)
    )


@pytest.mark.parametrize(
    ("text", "minutes", "shown"),
    [("12h", 720, "12h"), ("90m", 90, "1h30m"), ("1d6h", 1800, "30h"), ("0", 0, "0"),
     (" 2H ", 120, "2h"), ("7d", 10080, "168h")],
)  # fmt: skip
def test_pause_durations_read_and_shown_by_the_command_line(
    text: str, minutes: int, shown: str
) -> None:
    assert minutes_of(text) == minutes
    assert duration_of(minutes) == shown


@pytest.mark.parametrize("text", ["", "12", "12 hours", "h", "1h2d", "8d", "-1h"])
def test_a_pause_that_is_no_duration_or_too_long_is_refused(text: str) -> None:
    with pytest.raises(AssistantCommandError, match="--pause-after-human"):
        minutes_of(text)


def test_the_reply_language_is_the_customers_unless_the_business_fixed_one() -> None:
    assert AssistantSettings().reply_language("en") == "en"
    assert AssistantSettings(language="fr").reply_language("en") == "fr"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Je veux faire une RÉCLAMATION !", "réclamation"),
        ("un conseiller svp", None),  # the whole phrase, not part of it
        ("Je voudrais parler a un conseiller.", "parler à un conseiller"),
        ("les réclamations", None),  # whole words only
        ("bonjour", None),
    ],
)
def test_an_escalation_keyword_is_found_as_whole_words_whatever_the_case_and_accents(
    text: str, found: str | None
) -> None:
    settings = AssistantSettings(escalation_keywords=("réclamation", "parler à un conseiller"))
    assert settings.escalation_keyword_in(text) == found
