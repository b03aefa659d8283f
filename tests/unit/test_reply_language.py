"""The language a turn answers in is chosen once, before any assistant is asked: the
business's fixed language, else the customer's (newest message first, then earlier ones)."""

from __future__ import annotations

from domain.assistant import Language, Said
from domain.assistant_settings import AssistantSettings
from domain.reply_policy import ReplyState, reply_language
from tests.support.assistant import AT, said


def chosen(*texts: str, earlier: tuple[str, ...] = (), fixed: str = "auto") -> Language:
    state = ReplyState(history=tuple(Said(speaker="customer", text=t, at=AT) for t in earlier))
    settings = AssistantSettings(language=fixed)  # type: ignore[arg-type]
    return reply_language(state, settings, [said(text) for text in texts])


def test_on_auto_the_newest_message_that_shows_a_language_decides() -> None:
    assert chosen("Bonjour") == "fr"
    assert chosen("Hello") == "en"
    assert chosen("Bonjour", "Hello, are you open?") == "en"
    assert chosen("Hello", "👍") == "en"


def test_on_auto_an_unclear_message_takes_the_language_the_customer_used_before() -> None:
    assert chosen("👍", earlier=("Hi, do you sell croissants?",)) == "en"
    assert chosen("ok") == "fr"


def test_a_fixed_language_wins_over_the_customers() -> None:
    assert chosen("Bonjour, vous êtes ouverts ?", fixed="en") == "en"
    assert chosen("Hello there", fixed="fr") == "fr"
