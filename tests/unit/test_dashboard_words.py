"""The dashboard's words and figures: both languages complete, the browser's language
honoured, numbers written the way each language writes them."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from entrypoints.dashboard import formatting
from entrypoints.dashboard.i18n import EN, FR, from_accept_language, translate

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
