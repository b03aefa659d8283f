"""The dashboard's words and figures: both languages complete, the browser's language
honoured, numbers written the way each language writes them."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from application.connection_status import REASONS, SENTENCES, sentence
from entrypoints.dashboard import formatting
from entrypoints.dashboard.i18n import EN, FR, from_accept_language, status_words, translate

TEMPLATES = Path(__file__).resolve().parents[2] / "src/entrypoints/dashboard/templates"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_hold_the_same_keys_and_placeholders() -> None:
    assert EN.keys() == FR.keys()
    for key in EN:
        assert placeholders(EN[key]) == placeholders(FR[key]), key
        assert EN[key].strip(), key
        assert FR[key].strip(), key


def test_every_key_a_template_names_is_in_the_catalogs() -> None:
    named: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        named |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", text))
    assert named, "no t() call found"
    assert named - EN.keys() == set()


def test_every_connection_reason_has_words_in_both_languages() -> None:
    for key, english in SENTENCES.items():
        assert EN[f"status.reason.{key}"] == english, key  # the API's own sentence
        assert f"status.reason.{key}" in FR, key
    assert {k for k in EN if k.startswith("status.reason.")} == {
        f"status.reason.{k}" for k in SENTENCES
    }
    assert {"token_accepted", "numbers_unknown", "no_account_id"} <= set(REASONS)
    sandbox = [key for key in FR if key.startswith("status.reason.") and key.endswith(".sandbox")]
    assert len(sandbox) == len([key for key in SENTENCES if key.endswith(".sandbox")])
    for key in sandbox:
        assert "simulateur intégré" in FR[key], key
        assert "Meta" not in FR[key], key


@dataclass
class OldCheck:
    """A check from before reasons existed."""

    detail: str = "Meta accepts the access token."


@dataclass
class Check(OldCheck):
    reason: str = ""
    facts: dict[str, str] = field(default_factory=dict)


def test_french_words_use_french_typography() -> None:
    for key, text in FR.items():
        if key.startswith("status."):
            assert re.search(r"\S[:;](\s|$)", text.replace("::", "")) is None, (key, text)


def test_a_check_without_known_words_shows_its_detail() -> None:
    newer = Check(reason="reason_from_the_future")
    missing = Check(reason="subscribed", facts={"account": "42"})  # no apps
    for check in (OldCheck(), newer, missing):
        assert status_words("fr", "live", check) == "Meta accepts the access token."


def test_a_sentence_picks_its_variant_from_the_facts() -> None:
    assert sentence("subscribed", {"apps": "1", "account": "9"}, SENTENCES) == (
        "1 app receives the webhooks of WhatsApp Business Account 9."
    )
    assert sentence("graph_error", {"code": "4"}, SENTENCES, sandbox=True) == (
        "The built-in simulator answered with an error (code 4). Try again in a few minutes."
    )
    facts = {"count": "2", "number_1": "+1 555", "quality_1": "RED", "number_2": "+33 6",
             "name_2": "Chez Paul", "numbers": "ignored: recomposed in each language"}  # fmt: skip
    assert status_words("fr", "live", Check(reason="numbers_known", facts=facts)) == (
        "Meta connaît +1 555, qualité RED ; +33 6 (Chez Paul)."
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,fr;q=0.5,en;q=0.7", "en"),
        ("de-DE,fr;q=0.5", "fr"),
        ("fr;q=0", None),
        ("de, es", None),
        ("", None),
        ("fr;q=abc, en", "en"),
    ],
)
def test_the_browser_s_preferred_language_wins(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_missing_words_fall_back_to_english_then_to_the_key() -> None:
    assert translate("fr", "nav.orders") == "Commandes"
    assert translate("fr", "no.such.key") == "no.such.key"
    assert translate("en", "signed_in_as", business="acme") == "Signed in to acme"


def test_figures_are_written_as_each_language_writes_them() -> None:
    assert formatting.number(12345.5, "en", 1) == "12,345.5"
    assert formatting.number(12345.5, "fr", 1) == "12\u202f345,5"
    assert formatting.percent(0.425, "en") == "42.5%"
    assert formatting.percent(0.425, "fr") == "42,5\u00a0%"
    assert formatting.percent(1, "fr") == "100\u00a0%"
    assert formatting.percent(None, "en") == "—"
    assert formatting.duration(42, "en") == "42\u00a0s"
    assert formatting.duration(185, "en") == "3\u00a0min 5\u00a0s"
    assert formatting.duration(7800, "fr") == "2\u00a0h 10\u00a0min"
    assert formatting.signed("3", -2) == "\u22123"
    assert formatting.signed("3", 2) == "+3"


def test_times_show_the_date_unless_today() -> None:
    now = datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert formatting.moment(datetime(2026, 11, 26, 9, 5, tzinfo=UTC), "en", now) == "09:05"
    assert (
        formatting.moment(datetime(2026, 11, 2, 9, 5, tzinfo=UTC), "fr", now) == "02/11/2026 09:05"
    )
    assert (
        formatting.moment(datetime(2026, 11, 2, 9, 5, tzinfo=UTC), "en", now) == "2026-11-02 09:05"
    )
    assert formatting.moment(None, "en") == "—"
