from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from domain.privacy import mask_phone, mask_phones_in
from entrypoints.logging import REDACTED, configure_logging, redact_value


@pytest.mark.parametrize(
    "key", ["access_token", "app_secret", "password", "OPENAI_API_KEY", "Authorization"]
)
def test_secret_keys_are_redacted(key: str) -> None:
    assert redact_value(key, "EAAG-very-secret") == REDACTED


def test_secrets_inside_nested_values_are_redacted() -> None:
    value = {"graph": {"access_token": "EAAG", "phone_number_id": "1122334455667"}}

    assert redact_value("config", value) == {
        "graph": {"access_token": REDACTED, "phone_number_id": "1122334455667"}
    }


def test_passwords_in_urls_and_bearer_tokens_in_text_are_redacted() -> None:
    text = "connect postgresql://app:s3cr3t@db:5432/x failed; header Bearer EAAGabc.def"

    redacted = redact_value("error", text)

    assert "s3cr3t" not in redacted
    assert "EAAGabc" not in redacted
    assert "postgresql://app:***@db:5432/x" in redacted


@pytest.mark.parametrize("key", ["wa_id", "phone", "customer_phone", "from", "to"])
def test_phone_keys_are_masked(key: str) -> None:
    assert redact_value(key, "+15551234567") == "***4567"


def test_phone_numbers_in_free_text_are_masked() -> None:
    assert mask_phones_in("recipient 15551234567 is not on WhatsApp") == (
        "recipient ***4567 is not on WhatsApp"
    )
    assert mask_phone("12") == "***"


def test_production_logs_are_json_with_bound_context_and_no_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging(production=True, level="info")
    try:
        with structlog.contextvars.bound_contextvars(correlation_id="wamid.X"):
            structlog.get_logger("t").info("sent", wa_id="15551234567", access_token="EAAG")
            structlog.get_logger("t").debug("hidden at info level")
    finally:
        structlog.reset_defaults()

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "sent"
    assert lines[0]["correlation_id"] == "wamid.X"
    assert lines[0]["wa_id"] == "***4567"
    assert lines[0]["access_token"] == REDACTED
    assert lines[0]["level"] == "info"
