from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

from domain.privacy import mask_customer_id, mask_phone, mask_phones_in
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


PHONE = "15551234567"
BSUID = "US.13491208655302741918"
PARENT_BSUID = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    "key", ["customer_id", "conversation_id", "stream_id", "user_id", "id", "detail", "x"]
)
def test_phone_numbers_are_masked_whatever_the_key_is_called(key: str) -> None:
    redacted = redact_value(key, f"conversation-1122334455667-{PHONE}")
    assert PHONE not in redacted
    assert "***4567" in redacted


@pytest.mark.parametrize(
    ("bsuid", "masked"),
    [
        (BSUID, "US.***1918"),
        (PARENT_BSUID, "US.ENT.***4830"),
        ("BR.abcXYZ0123", "BR.***0123"),
        ("GB." + "a1" * 64, "GB.***a1a1"),  # 128 alphanumerics, the longest Meta documents
        ("IN.ab", "IN.***"),
    ],
)
def test_bsuids_keep_their_country_prefix_and_last_four(bsuid: str, masked: str) -> None:
    assert mask_customer_id(bsuid) == masked
    assert redact_value("from_user_id", bsuid) == masked
    assert redact_value("note", f"customer {bsuid} wrote") == f"customer {masked} wrote"
    assert redact_value("anything_id", [bsuid]) == [masked]


def test_bsuid_lookalikes_inside_names_are_left_alone() -> None:
    text = "asyncpg.exceptions.DB.Error at wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUI"
    assert redact_value("error", text) == text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("phone_number_id", "106540352242922"),
        ("phone_number_ids", ["106540352242922", "106540352242923"]),
        ("account_id", "102290129340398"),
        ("wamid", "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUIzRjM0"),
        ("event_id", "5f2b0c1e-0000-5000-8000-000000000001"),
        ("correlation_id", "wamid.ID.15551234567"),
        ("token_id", "a1b2c3d4e5f6"),
    ],
)
def test_meta_and_our_own_ids_stay_readable(key: str, value: object) -> None:
    assert redact_value(key, value) == value


def test_the_same_digits_under_any_other_key_are_masked() -> None:
    assert redact_value("number", "106540352242922") == "***2922"
    assert redact_value("value", {"phone_number_id": "106540352242922", "to": BSUID}) == {
        "phone_number_id": "106540352242922",
        "to": "US.***1918",
    }


def test_bsuids_and_phones_are_masked_in_real_log_output(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging(production=True, level="info")
    try:
        structlog.get_logger("t").warning(
            "webhook.unrouted", customer_id=PHONE, user_id=BSUID, parent=PARENT_BSUID,
            phone_number_id="106540352242922", error=f"no route for {PHONE} / {BSUID}",
        )  # fmt: skip
        logging.getLogger("lib").warning("library saw %s and %s", PHONE, BSUID)
    finally:
        structlog.reset_defaults()
    text = out.getvalue()
    assert PHONE not in text
    assert BSUID not in text
    assert PARENT_BSUID not in text
    assert "US.***1918" in text
    assert "US.ENT.***4830" in text
    assert "106540352242922" in text
