"""The notification and secret-key settings are validated, and never echo a secret."""

from __future__ import annotations

import pytest

from entrypoints.container import build_notifiers
from entrypoints.settings import SettingsError, load_settings

SMTP = "smtp://bot:hunter2-secret@smtp.example.com:587"


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("WAZYBOT_NOTIFY_WEBHOOK_URL", "ftp://hooks.example.com/x", "http:// or https://"),
        ("WAZYBOT_NOTIFY_WEBHOOK_URL", "https:///no-host", "http:// or https://"),
        ("WAZYBOT_NOTIFY_SMTP_URL", "smtps://bot:hunter2-secret@host:465", "smtp://"),
        ("WAZYBOT_NOTIFY_SMTP_URL", "smtp://bot:hunter2-secret@host:port", "smtp://"),
        ("WAZYBOT_NOTIFY_EMAIL_FROM", "not-an-address", "email address"),
        ("WAZYBOT_NOTIFY_EMAIL_TO", "a@example.com, nope", "email addresses"),
    ],
)
def test_malformed_notification_settings_are_refused(name: str, raw: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: raw})
    (problem,) = raised.value.problems
    assert name in problem
    assert says in problem
    assert "hunter2" not in problem


def test_smtp_needs_a_sender_and_recipients() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"WAZYBOT_NOTIFY_SMTP_URL": SMTP})
    assert raised.value.problems == [
        "WAZYBOT_NOTIFY_SMTP_URL needs WAZYBOT_NOTIFY_EMAIL_FROM too",
        "WAZYBOT_NOTIFY_SMTP_URL needs WAZYBOT_NOTIFY_EMAIL_TO too",
    ]


def test_configured_channels_replace_the_log_channel() -> None:
    settings = load_settings({
        "WAZYBOT_NOTIFY_SMTP_URL": SMTP,
        "WAZYBOT_NOTIFY_EMAIL_FROM": "bot@example.com",
        "WAZYBOT_NOTIFY_EMAIL_TO": "a@example.com,b@example.com",
        "WAZYBOT_NOTIFY_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/secret",
    })  # fmt: skip

    assert [n.channel for n in build_notifiers(settings)] == ["webhook", "email"]
    assert [n.channel for n in build_notifiers(load_settings({}))] == ["log"]
    assert settings.notify_email_to == ("a@example.com", "b@example.com")
    assert "hunter2" not in repr(settings)
    assert "secret" not in repr(settings.notify_webhook_url)
