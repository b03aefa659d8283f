"""The AI provider's settings: validated at start, the key never shown."""

from __future__ import annotations

import pytest

from entrypoints.settings import SettingsError, load_settings


def test_the_provider_settings_are_read_and_the_key_stays_hidden() -> None:
    settings = load_settings({
        "OPENAI_API_KEY": "sk-very-secret-key", "OPENAI_MODEL": "llama3.2",
        "OPENAI_BASE_URL": "http://localhost:11434/v1/", "OPENAI_TIMEOUT_SECONDS": "12.5",
        "OPENAI_MAX_RETRIES": "0",
    })  # fmt: skip

    assert settings.openai_api_key is not None
    assert settings.openai_api_key.value == "sk-very-secret-key"
    assert "sk-very-secret-key" not in repr(settings)
    assert (settings.openai_model, settings.openai_base_url) == (
        "llama3.2", "http://localhost:11434/v1"
    )  # fmt: skip
    assert (settings.openai_timeout_seconds, settings.openai_max_retries) == (12.5, 0)


def test_without_a_key_no_provider_is_configured() -> None:
    settings = load_settings({})
    assert settings.openai_api_key is None
    assert settings.openai_base_url == "https://api.openai.com/v1"


def test_bad_provider_settings_are_all_named() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"OPENAI_API_KEY": " ", "OPENAI_BASE_URL": "localhost:11434",
                       "OPENAI_TIMEOUT_SECONDS": "0", "OPENAI_MAX_RETRIES": "9",
                       "OPENAI_MODEL": ""})  # fmt: skip

    named = " ".join(raised.value.problems)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_TIMEOUT_SECONDS",
                 "OPENAI_MAX_RETRIES", "OPENAI_MODEL"):  # fmt: skip
        assert name in named


def test_the_output_limit_is_optional_and_a_positive_whole_number() -> None:
    assert load_settings({}).openai_max_output_tokens is None
    assert load_settings({"OPENAI_MAX_OUTPUT_TOKENS": "300"}).openai_max_output_tokens == 300
    for bad in ("0", "-5", "12.5", "lots"):
        with pytest.raises(SettingsError) as raised:
            load_settings({"OPENAI_MAX_OUTPUT_TOKENS": bad})
        assert "OPENAI_MAX_OUTPUT_TOKENS" in " ".join(raised.value.problems)
