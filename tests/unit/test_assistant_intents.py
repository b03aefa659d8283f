"""The offline assistant's reading of customer messages: tables of real phrasings."""

from __future__ import annotations

import pytest

from domain.intents import Intent, contact_lines, find_intents, hours_lines
from domain.language import detect_first, detect_language, normalize

ASKS_FOR_A_PERSON = [
    "je veux parler a un conseiller",
    "Je veux parler à un conseiller",
    "je veux parlé a un conseillé",
    "je veu parler a un conseiler svp",
    "parler à un humain",
    "PARLER A UN HUMAIN !!",
    "un agent svp",
    "Un conseiller s'il vous plaît",
    "conseiller",
    "humain",
    "Est-ce que je peux parler à quelqu'un ?",
    "je voudrais parler a une vraie personne",
    "Bonjour, je souhaiterais être mis en relation avec un conseiller",
    "passez moi un responsable",
    "je veux le service client",
    "Je n'arrive pas à payer, je veux parler à un conseiller",
    "j'en ai marre de ce robot",
    "je ne veux pas parler à un robot",
    "talk to a human",
    "Talk to a human please",
    "real person please",
    "speak to an agent",
    "Can I speak with someone?",
    "I want to talk to a real person",
    "i wanna tlak to a humna",
    "can i get a representative",
    "let me talk to an operator",
    "connect me to customer service",
    "agent please",
    "I'd like to speak to a person",
    "I don't want to talk to a bot",
]

DOES_NOT_ASK_FOR_A_PERSON = [
    "Bonjour",
    "merci beaucoup",
    "personne ne répond au téléphone",
    "pas besoin d'un conseiller, merci",
    "J'ai parlé avec votre conseiller hier",
    "mon conseiller m'a dit de vous écrire",
    "Quels sont vos horaires ?",
    "je veux parler de mon argent",
    "je veux payer en argent liquide",
    "quelqu'un peut me dire vos horaires ?",
    "The agent was rude yesterday",
    "I spoke to an agent yesterday",
    "I want to know when the delivery agent comes",
    "No need for an agent, thanks",
    "No thanks, I don't want to talk to a human",
    "Can someone tell me your opening hours?",
    "Are you a human?",
    "what is your address",
    "hello",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_a_clear_request_for_a_person_is_understood(text: str) -> None:
    assert Intent.HUMAN in find_intents(text), text


@pytest.mark.parametrize("text", DOES_NOT_ASK_FOR_A_PERSON)
def test_other_messages_do_not_ask_for_a_person(text: str) -> None:
    assert Intent.HUMAN not in find_intents(text), text


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Bonjour !", Intent.GREETING),
        ("bjr", Intent.GREETING),
        ("Salut", Intent.GREETING),
        ("Hello there", Intent.GREETING),
        ("Good morning", Intent.GREETING),
        ("hey", Intent.GREETING),
        ("Merci !", Intent.THANKS),
        ("merci bcp", Intent.THANKS),
        ("Thanks a lot", Intent.THANKS),
        ("thx", Intent.THANKS),
        ("Au revoir", Intent.GOODBYE),
        ("Bonne journée", Intent.GOODBYE),
        ("à bientôt", Intent.GOODBYE),
        ("bye", Intent.GOODBYE),
        ("Have a nice day", Intent.GOODBYE),
        ("Quels sont vos horaires ?", Intent.HOURS),
        ("vous etes ouvert dimanche ?", Intent.HOURS),
        ("A quelle heure vous fermez", Intent.HOURS),
        ("What are your opening hours?", Intent.HOURS),
        ("are you open on sunday", Intent.HOURS),
        ("Quelle est votre adresse ?", Intent.CONTACT),
        ("c'est quoi votre numéro de téléphone", Intent.CONTACT),
        ("Où êtes-vous situés ?", Intent.CONTACT),
        ("what's your phone number", Intent.CONTACT),
        ("How can I reach you?", Intent.CONTACT),
        ("Are you a robot?", Intent.ABOUT_BOT),
        ("Est-ce que je parle à un robot ?", Intent.ABOUT_BOT),
        ("are you a real person?", Intent.ABOUT_BOT),
    ],
)
def test_everyday_intents_in_both_languages(text: str, intent: Intent) -> None:
    assert intent in find_intents(text), text


@pytest.mark.parametrize(
    "text", ["je veux commander", "il n'y a plus de stock ?", "I have a question", "ok", "👍"]
)
def test_messages_without_a_known_intent(text: str) -> None:
    assert find_intents(text) == frozenset(), text


def test_a_tapped_button_is_read_by_its_id_as_well_as_its_title() -> None:
    assert Intent.HUMAN in find_intents("Oui", choice_id="talk_to_agent")
    assert Intent.HOURS in find_intents("Choice 2", choice_id="hours")
    assert Intent.CONTACT in find_intents("Nous contacter", choice_id="menu-1")
    assert find_intents("Option A", choice_id="product_42") == frozenset()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bonjour", "fr"),
        ("bjr, vous etes ouvert ?", "fr"),
        ("je veux parler a un conseiller", "fr"),
        ("Où êtes-vous ?", "fr"),
        ("merci", "fr"),
        ("Hello", "en"),
        ("talk to a human", "en"),
        ("What are your opening hours?", "en"),
        ("thanks", "en"),
        ("real person please", "en"),
        ("ok", None),
        ("👍", None),
        ("Marie", None),
    ],
)
def test_the_language_comes_from_the_words_used(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_an_unclear_message_keeps_the_language_known_before() -> None:
    assert detect_first(["ok", "bonjour"], "en") == "fr"
    assert detect_first(["ok", "👍"], "en") == "en"


def test_normalizing_drops_accents_case_and_punctuation() -> None:
    assert normalize("  Je veux PARLER à  un Conseillère !") == "je veux parler a un conseillere"
    assert normalize("j'ai") == "j ai"


INSTRUCTIONS = """Boulangerie Martin, artisan boulanger depuis 1982.
Adresse : 12 rue des Lilas, 75011 Paris
Téléphone : +33 1 23 45 67 89
Email: contact@boulangerie-martin.fr
Ouvert du mardi au dimanche, 7h-19h30.
Nous ne livrons pas."""


def test_contact_details_and_hours_are_found_in_the_instructions() -> None:
    assert contact_lines(INSTRUCTIONS) == [
        "Adresse : 12 rue des Lilas, 75011 Paris",
        "Téléphone : +33 1 23 45 67 89",
        "Email: contact@boulangerie-martin.fr",
    ]
    assert hours_lines(INSTRUCTIONS) == ["Ouvert du mardi au dimanche, 7h-19h30."]
    assert contact_lines("Be friendly.") == []
