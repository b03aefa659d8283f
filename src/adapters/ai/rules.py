"""The offline assistant: rules, no network, the default when no AI provider is set.

It reads what the customer's new messages ask for (``domain.intents``) and answers in the
language the turn chose (``context.language``: the business's fixed language, else the
customer's, see ``domain.reply_policy.reply_language``) with short, friendly messages,
picking among several phrasings so that a conversation does not sound canned. A clear
request for a person hands the conversation over. When it does not understand, it says
what it can help with and offers buttons for it; a tap is understood by its id. With a
catalog, a question about a product ("vous avez des baskets ?", "do you have shoes") is
answered with the list of matching products in stock, or, when none is, an offer to
rephrase, see the other products or talk to a person.

The phrasing picked depends on the wamid answered: varied across messages, the same
every time one message is answered again (a replayed turn gives the same answer).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Final

from application.catalog import CatalogQueries
from domain.assistant import (
    AssistantAnswer,
    AssistantContext,
    CustomerInput,
    Decision,
    Escalate,
    Language,
    Reply,
)
from domain.catalog_search import ProductQuery, product_query
from domain.commerce_messages import nothing_found, recommendation_list
from domain.intents import Intent, contact_lines, find_intents, hours_lines
from domain.language import normalize
from domain.outbound import OutboundMessage, ReplyButton, ReplyButtonsMessage, TextMessage
from domain.whatsapp_limits import LIST_ROWS_MAX, check_message

PROVIDER: Final = "offline"
MODEL: Final = "rules"

Phrases = dict[Language, tuple[str, ...]]

GREETINGS: Final[Phrases] = {
    "fr": ("Bonjour{name} !", "Bonjour{name} 👋", "Bonjour{name}, merci de nous écrire !"),
    "en": ("Hello{name}!", "Hi{name} 👋", "Hello{name}, thanks for getting in touch!"),
}
EVENING_GREETINGS: Final[Phrases] = {
    "fr": ("Bonsoir{name} !", "Bonsoir{name} 👋"),
    "en": ("Good evening{name}!", "Good evening{name} 👋"),
}
# More words than this beside a greeting say something the greeting alone does not.
GREETING_ONLY_WORDS: Final = 4
HOW_CAN_I_HELP: Final[Phrases] = {
    "fr": (
        "Comment puis-je vous aider ?",
        "Que puis-je faire pour vous aujourd'hui ?",
        "Dites-moi ce dont vous avez besoin, je suis là pour vous aider.",
    ),
    "en": (
        "How can I help you?",
        "What can I do for you today?",
        "Tell me what you need and I'll do my best to help.",
    ),
}
THANKS: Final[Phrases] = {
    "fr": ("Avec plaisir !", "Je vous en prie 😊", "Merci à vous !", "C'est un plaisir !"),
    "en": ("You're welcome!", "My pleasure 😊", "Happy to help!", "Anytime!"),
}
GOODBYES: Final[Phrases] = {
    "fr": ("Belle journée à vous, à bientôt !", "Au revoir et à très bientôt 👋",
           "À bientôt ! N'hésitez pas à revenir vers nous."),
    "en": ("Have a great day, see you soon!", "Goodbye, talk soon 👋",
           "Take care! Feel free to write again anytime."),
}  # fmt: skip
HOURS: Final[Phrases] = {
    "fr": ("Nos horaires : {hours}", "Voici nos horaires : {hours}",
           "Nous vous accueillons : {hours}"),
    "en": ("Our opening hours: {hours}", "Here are our hours: {hours}",
           "We're open: {hours}"),
}  # fmt: skip
NO_HOURS: Final[Phrases] = {
    "fr": ("Je n'ai pas nos horaires sous la main. Un conseiller peut vous les confirmer : "
           "écrivez simplement « conseiller ».",),
    "en": ("I don't have our opening hours at hand. A member of the team can confirm them: "
           "just write \"agent\".",),
}  # fmt: skip
CONTACT: Final[Phrases] = {
    "fr": ("Voici nos coordonnées :\n{details}", "Pour nous joindre :\n{details}"),
    "en": ("Here's how to reach us:\n{details}", "Our contact details:\n{details}"),
}  # fmt: skip
NO_CONTACT: Final[Phrases] = {
    "fr": ("Le plus simple est de nous écrire ici, sur WhatsApp 🙂 Si vous souhaitez parler "
           "à quelqu'un de l'équipe, écrivez « conseiller ».",),
    "en": ("The easiest way is to write to us right here on WhatsApp 🙂 If you'd like to "
           "talk to someone from the team, just write \"agent\".",),
}  # fmt: skip
ABOUT_BOT: Final[Phrases] = {
    "fr": ("Je suis l'assistant virtuel de l'équipe 🤖 Je réponds aux questions courantes à "
           "toute heure. Pour parler à une personne, écrivez simplement « conseiller ».",),
    "en": ("I'm the team's virtual assistant 🤖 I answer common questions at any hour. To "
           "talk to a person, just write \"agent\".",),
}  # fmt: skip
NOT_UNDERSTOOD: Final[Phrases] = {
    "fr": (
        "Je n'ai pas bien saisi votre demande. Je peux vous donner nos horaires, "
        "nos coordonnées, ou vous mettre en relation avec un conseiller.",
        "Merci pour votre message ! Je peux vous renseigner sur nos horaires et nos "
        "coordonnées, ou passer le relais à un conseiller. Que souhaitez-vous ?",
        "Je n'ai pas toutes les réponses, mais je peux vous aider pour nos horaires, "
        "nos coordonnées, ou vous orienter vers un conseiller.",
    ),
    "en": (
        "I'm not sure I understood. I can share our opening hours and contact "
        "details, or put you in touch with a member of the team.",
        "Thanks for your message! I can help with our opening hours and contact "
        "details, or pass you on to a person. What would you like?",
        "I don't have every answer, but I can help with our hours and contact "
        "details, or connect you with someone from the team.",
    ),
}
MENU: Final[dict[Language, tuple[ReplyButton, ...]]] = {
    "fr": (ReplyButton(id="hours", title="Nos horaires"),
           ReplyButton(id="contact", title="Nous contacter"),
           ReplyButton(id="human", title="Un conseiller")),
    "en": (ReplyButton(id="hours", title="Opening hours"),
           ReplyButton(id="contact", title="Contact us"),
           ReplyButton(id="human", title="Talk to a person")),
}  # fmt: skip
MEDIA_NAMES: Final[dict[Language, dict[str, str]]] = {
    "fr": {"image": "photo", "sticker": "autocollant", "audio": "message vocal",
           "voice": "message vocal", "video": "vidéo", "document": "document"},
    "en": {"image": "photo", "sticker": "sticker", "audio": "voice message",
           "voice": "voice message", "video": "video", "document": "document"},
}  # fmt: skip
UNSEEN_MEDIA: Final[Phrases] = {
    "fr": ("Merci pour votre {media} ! Je ne peux malheureusement pas {sense} ce type de "
           "contenu.",
           "J'ai bien reçu votre {media}, mais je ne peux pas {sense} son contenu."),
    "en": ("Thanks for your {media}! Unfortunately I can't {sense} this kind of content.",
           "I've received your {media}, but I'm not able to {sense} it."),
}  # fmt: skip
SENSES: Final[dict[Language, tuple[str, str]]] = {
    "fr": ("écouter", "voir"),
    "en": ("listen to", "see"),
}
DESCRIBE_IT: Final[Phrases] = {
    "fr": ("Pouvez-vous m'écrire votre demande en quelques mots ?",
           "Pourriez-vous me décrire par écrit ce dont vous avez besoin ?"),
    "en": ("Could you tell me in a few words what you need?",
           "Could you write down what you need?"),
}  # fmt: skip
MAX_QUOTE: Final = 120


# Intents that a product question does not override ("je voudrais vos horaires").
_ANSWERED_FIRST: Final = frozenset({Intent.HUMAN, Intent.ABOUT_BOT, Intent.HOURS, Intent.CONTACT})


class RulesAssistant:
    """The ``Assistant`` port answered by rules, instantly and offline; with ``catalog``,
    product questions are answered from it."""

    def __init__(self, catalog: CatalogQueries | None = None) -> None:
        self._catalog = catalog

    @property
    def provider(self) -> str:
        return PROVIDER

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        started = time.perf_counter()
        decision = await self._recommend(context) or decide(context)
        latency_ms = (time.perf_counter() - started) * 1000
        return AssistantAnswer(decision=decision, provider=PROVIDER, model=MODEL,
                               latency_ms=latency_ms)  # fmt: skip

    async def _recommend(self, context: AssistantContext) -> Decision | None:
        """The products the customer asks for, as a list; None when they ask for none (or
        only wish for something the catalog does not have: the rules answer it)."""
        query = asked_product(context)
        if query is None or self._catalog is None:
            return None
        page = await self._catalog.search(
            context.business_id, query.words, limit=LIST_ROWS_MAX, in_stock_only=True
        )
        found = recommendation_list([p.product for p in page.items], context.language)
        if found is not None:
            return Reply(message=found)
        return (
            Reply(message=nothing_found(query.words, context.language)) if query.explicit else None
        )


def asked_product(context: AssistantContext) -> ProductQuery | None:
    """What the newest message asking for a product asks for, unless the messages ask for
    something the rules answer first (a person, the hours...)."""
    intents: set[Intent] = set()
    for message in context.new_messages:
        intents |= find_intents(message.text, choice_id=message.choice_id)
    if intents & _ANSWERED_FIRST:
        return None
    for message in reversed(context.new_messages):
        query = product_query(message.text)
        if query is not None:
            return query
    return None


def decide(context: AssistantContext) -> Decision:
    messages = context.new_messages
    language = context.language
    intents: set[Intent] = set()
    for message in messages:
        intents |= find_intents(message.text, choice_id=message.choice_id)
    if Intent.HUMAN in intents:
        return Escalate(cause="customer_asked", reason=_escalation_reason(messages))
    seed = messages[-1].wamid if messages else context.conversation_id
    return Reply(message=_compose(context, language, frozenset(intents), _Picker(seed)))


class _Picker:
    """Chooses a phrasing from the wamid answered: varied, yet the same on a replay."""

    def __init__(self, seed: str) -> None:
        self._seed = seed

    def __call__(self, phrases: Phrases, language: Language) -> str:
        options = phrases[language]
        key = f"{self._seed}:{options[0]}".encode()
        return options[zlib.crc32(key) % len(options)]


def _compose(
    context: AssistantContext, language: Language, intents: frozenset[Intent], pick: _Picker
) -> OutboundMessage:
    answers = _answers(context, language, intents, pick)
    unseen = next((m.unseen_media for m in context.new_messages if m.unseen_media), None)
    greeting = _greeting(context, language, pick) if Intent.GREETING in intents else None
    if not (answers or unseen) and (greeting is None or _says_more_than_hello(context)):
        return _menu(language, pick, greeting)
    parts = [greeting] if greeting else []
    if unseen:
        parts.append(_unseen_media_note(unseen, language, pick))
    parts.extend(answers)
    if not answers:
        parts.append(pick(DESCRIBE_IT if unseen else HOW_CAN_I_HELP, language))
    return check_message(TextMessage(body=_join(parts)), truncate=True)


def _greeting(context: AssistantContext, language: Language, pick: _Picker) -> str:
    """Hello in kind: "Bonsoir" and "Good evening" are answered the same way."""
    said = " ".join(normalize(m.text) for m in context.new_messages)
    evening = "bonsoir" in said.split() or "good evening" in said
    phrases = EVENING_GREETINGS if evening else GREETINGS
    return pick(phrases, language).format(name=_first_name(context.customer_name))


def _says_more_than_hello(context: AssistantContext) -> bool:
    """A greeting with a question the rules do not know ("Bonjour, avez-vous des
    croissants ?"): answered with the menu, not with "how can I help?"."""
    said = sum(len(normalize(m.text).split()) for m in context.new_messages)
    return said > GREETING_ONLY_WORDS


def _answers(
    context: AssistantContext, language: Language, intents: frozenset[Intent], pick: _Picker
) -> list[str]:
    answers = []
    if Intent.ABOUT_BOT in intents:
        answers.append(pick(ABOUT_BOT, language))
    if Intent.HOURS in intents:
        answers.append(_hours(context, language, pick))
    if Intent.CONTACT in intents:
        answers.append(_contact(context, language, pick))
    if Intent.THANKS in intents and not answers:  # "merci de me dire..." asks, not thanks
        answers.append(pick(THANKS, language))
    if Intent.GOODBYE in intents:
        answers.append(pick(GOODBYES, language))
    return answers


def _hours(context: AssistantContext, language: Language, pick: _Picker) -> str:
    hours = (context.business_hours or "").strip() or " ".join(hours_lines(context.instructions))
    if not hours:
        return pick(NO_HOURS, language)
    if hours[-1] not in ".!?)":
        hours += "."
    return pick(HOURS, language).format(hours=hours)


def _contact(context: AssistantContext, language: Language, pick: _Picker) -> str:
    details = contact_lines(context.instructions)
    if not details:
        return pick(NO_CONTACT, language)
    return pick(CONTACT, language).format(details="\n".join(f"• {line}" for line in details))


def _unseen_media_note(media: str, language: Language, pick: _Picker) -> str:
    name = MEDIA_NAMES[language].get(media, MEDIA_NAMES[language]["document"])
    hearing, seeing = SENSES[language]
    sense = hearing if media in ("audio", "voice") else seeing
    return pick(UNSEEN_MEDIA, language).format(media=name, sense=sense)


def _menu(language: Language, pick: _Picker, greeting: str | None) -> OutboundMessage:
    body = pick(NOT_UNDERSTOOD, language)
    if greeting:
        body = f"{greeting} {body}"
    return check_message(ReplyButtonsMessage(body=body, buttons=MENU[language]), truncate=True)


def _join(parts: list[str]) -> str:
    """One short message: a greeting shares the first line, longer parts start new ones."""
    text = parts[0]
    for part in parts[1:]:
        text += ("\n" if "\n" in part or "\n" in text else " ") + part
    return text


def _first_name(customer_name: str | None) -> str:
    first = (customer_name or "").strip().split(" ")[0]
    if not first or not first.replace("-", "").replace("'", "").isalpha() or len(first) > 30:
        return ""
    return f" {first}"


def _escalation_reason(messages: Sequence[CustomerInput]) -> str:
    said = " / ".join(m.text.strip() for m in messages if m.text.strip())
    if len(said) > MAX_QUOTE:
        said = said[: MAX_QUOTE - 1].rstrip() + "…"
    return f"the customer asked to talk to a person: “{said}”"
