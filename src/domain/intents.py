"""What a customer's message asks for, by rules on its words (French and English).

The rules work on normalized words (``domain.language.normalize``: no accents, no
punctuation), so "parler à un humain", "parler a un humain" and "PARLER A UN HUMAIN"
read alike; common misspellings of the words that matter are listed with them.

Asking for a person is read with care, since it hands the conversation over: a word
naming a person ("conseiller", "agent", "human") must come shortly after a request
("je veux", "talk to", "svp"), or make up the whole message ("un agent svp"), and no
refusal may come before it ("pas besoin d'un conseiller", "no need for an agent").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Final

from domain.language import normalize


class Intent(enum.Enum):
    HUMAN = "human"  # wants to talk to a person
    ABOUT_BOT = "about_bot"  # asks whether they talk to a machine
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    HOURS = "hours"
    CONTACT = "contact"


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words naming a person who could take over, with their usual misspellings.
_PERSON_WORDS: Final = _set(
    """
    conseiller conseillere conseillers conseiler conseilller consseiller conseilleur
    conseille consiller conceiller humain humains humaine humin umain humai human humans
    huamn humna hman humain agent agents agant agnet ajent operateur operatrice operator
    representative representant rep vendeur vendeuse responsable gerant manager staff
    advisor adviser interlocuteur persone pesron preson persn person personne people
    serviceclient customerservice sav
    """
)
# "personne" alone also means "nobody" ("personne ne répond"): only after these.
_PERSONNE_AFTER: Final = _set("une vraie vrai la cette")
# Naming nobody in particular: needs a verb of talking ("parler à quelqu'un").
_SOMEONE_WORDS: Final = _set("quelqu quelquun qqn someone somebody anyone anybody")
_TALK_WORDS: Final = _set(
    """
    parler parlez discuter echanger joindre contacter appeler rappeler talk tlak
    speak speek speack chat connect transfer transferer
    """
)
_REQUEST_WORDS: Final = _TALK_WORDS | _set(
    """
    veux veut veu jveux voudrais voudrai voudrait vx souhaite souhaiterais aimerais besoin puis peux
    pourrais possible svp stp plait mettre mettez passer passez relation want wanna
    need like let please pls plz can could may get put give
    """
)
# Words that may stand beside a person word in a message that is nothing but the request.
_BARE_REQUEST_FILLER: Final = _set(
    """
    un une le la a an the un des svp stp please pls plz vrai vraie real live actual
    moi me now maintenant vite urgent merci thanks thank you s il vous te plait
    humain human physique en ligne de chair et os ok
    """
)
_POLITE: Final = _set("svp stp please pls plz")
# Services that stand for the people behind them.
_TEAM_PHRASES: Final = (
    (re.compile(r"\bservices? (client|clientele|clients)\b"), "serviceclient"),
    (re.compile(r"\bcustomer (service|support|care)\b"), "customerservice"),
    (re.compile(r"\bservice apres vente\b"), "sav"),
)
_REFUSALS: Final = _set("pas jamais no not dont don never without sans")
_MACHINE_WORDS: Final = _set("bot robot robots bots chatbot machine ia ai automate")
_FED_UP: Final = _set("marre stop arrete assez enough tired")
_ARE_YOU: Final = re.compile(
    r"\b(es tu|etes vous|t es|vous etes|c est|are you|r u|is this|is it|"
    r"je parle (a|avec)|am i (talking|speaking|chatting))\b"
)
# A request must come at most this many words before the person it names.
_REQUEST_REACH: Final = 5

_GREETINGS: Final = _set(
    """
    bonjour bonjours bjr bonsoir salut slt coucou cc hello helo hi hii hey heya hiya yo
    allo bienvenue morning
    """
)
_GREETING_PHRASES: Final = re.compile(r"\b(good (morning|afternoon|evening)|bon matin)\b")
_THANKS: Final = _set("merci mrc mci thanks thank thx thks ty cheers remercie")
_GOODBYES: Final = _set("revoir aurevoir bye goodbye byebye ciao tchao adieu")
_GOODBYE_PHRASES: Final = re.compile(
    r"\b(bonne (journee|soiree|nuit|fin de journee)|a bientot|a plus tard|see you|"
    r"have a (nice|good|great) (day|evening|night)|good night|take care|a demain)\b"
)
_HOURS: Final = _set(
    """
    horaire horaires horraire horraires ouvert ouverts ouverte ouvertes ouvrez ouvre
    ouverture fermez fermeture fermes hours hour open opens opening close closes closing
    closed
    """
)
_HOURS_PHRASES: Final = re.compile(
    r"\b(quelle heure|quelles heures|what time|when are you|jusqu a quand)\b"
)
_CONTACT: Final = _set(
    """
    adresse address adress telephone phone mail email courriel joindre contacter
    contact coordonnees localisation situe situes located location site website
    """
)
_CONTACT_PHRASES: Final = re.compile(
    r"\b(ou etes vous|ou vous trouver|ou se trouve|where are you|how (can|do) i reach|"
    r"numero de (tel|telephone|portable|whatsapp)|phone number)\b"
)


_CLAUSE_END: Final = re.compile(r"[.!?;,\n]+")


def find_intents(text: str, *, choice_id: str | None = None) -> frozenset[Intent]:
    """Every intent the message shows; a tapped button or row is read by its id as well.

    Each clause is read on its own, so a refusal in one ("je n'arrive pas à payer")
    does not cancel a request in the next ("je veux parler à un conseiller").
    """
    found: set[Intent] = set()
    for clause in _CLAUSE_END.split(text):
        found |= _intents_of(normalize(clause))
    if choice_id:
        found |= _intents_of(normalize(choice_id.replace("_", " ").replace("-", " ")),
                             bare_words=True)  # fmt: skip
    if Intent.HUMAN in found:
        found.discard(Intent.ABOUT_BOT)
    return frozenset(found)


def _intents_of(normalized: str, *, bare_words: bool = False) -> frozenset[Intent]:
    for phrase, word in _TEAM_PHRASES:
        normalized = phrase.sub(word, normalized)
    tokens = normalized.split()
    found: set[Intent] = set()
    if _wants_person(tokens) or (bare_words and _names_person(tokens)):
        found.add(Intent.HUMAN)
    elif _asks_if_machine(normalized, tokens):
        found.add(Intent.ABOUT_BOT)
    checks = (
        (Intent.GREETING, _GREETINGS, _GREETING_PHRASES),
        (Intent.THANKS, _THANKS, None),
        (Intent.GOODBYE, _GOODBYES, _GOODBYE_PHRASES),
        (Intent.HOURS, _HOURS, _HOURS_PHRASES),
        (Intent.CONTACT, _CONTACT, _CONTACT_PHRASES),
    )
    for intent, vocabulary, phrases in checks:
        if vocabulary.intersection(tokens) or (phrases and phrases.search(normalized)):
            found.add(intent)
    return frozenset(found)


def _person_positions(tokens: Sequence[str]) -> list[tuple[int, bool]]:
    """Where a person is named, and whether it is only "someone" (weaker)."""
    positions = []
    for index, word in enumerate(tokens):
        if word == "personne":
            if index > 0 and tokens[index - 1] in _PERSONNE_AFTER:
                positions.append((index, False))
        elif word in _PERSON_WORDS:
            positions.append((index, False))
        elif word in _SOMEONE_WORDS:
            positions.append((index, True))
    return positions


def _names_person(tokens: Sequence[str]) -> bool:
    return any(not weak for _, weak in _person_positions(tokens))


def _wants_person(tokens: Sequence[str]) -> bool:
    if _fed_up_with_machine(tokens):
        return True
    for index, weak in _person_positions(tokens):
        before = tokens[max(0, index - _REQUEST_REACH) : index]
        if _REFUSALS.intersection(tokens[:index]):
            continue
        wanted = _TALK_WORDS if weak else _REQUEST_WORDS
        if wanted.intersection(before):
            return True
        if not weak and _POLITE.intersection(tokens[index + 1 : index + 4]):
            return True
        if not weak and all(t in _BARE_REQUEST_FILLER or t in _PERSON_WORDS for t in tokens):
            return True
    return False


def _fed_up_with_machine(tokens: Sequence[str]) -> bool:
    """ "pas un robot", "not a bot", "marre du robot": a request for a person too."""
    return any(
        word in _MACHINE_WORDS
        and (_FED_UP.intersection(tokens) or _REFUSALS.intersection(tokens[:index]))
        for index, word in enumerate(tokens)
    )


def _asks_if_machine(normalized: str, tokens: Sequence[str]) -> bool:
    names = _MACHINE_WORDS | _PERSON_WORDS | _set("reel reelle real vrai vraie")
    return bool(names.intersection(tokens)) and bool(_ARE_YOU.search(normalized))


_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE: Final = re.compile(r"\+?\d[\d ().-]{6,}\d")
_CONTACT_LINE_WORDS: Final = _set(
    """
    adresse address telephone tel phone email mail courriel site website whatsapp contact
    coordonnees
    """
)
_HOURS_LINE_WORDS: Final = _HOURS | _set(
    """
    lundi mardi mercredi jeudi vendredi samedi dimanche monday tuesday wednesday
    thursday friday saturday sunday
    """
)


def contact_lines(instructions: str) -> list[str]:
    """The lines of the business's instructions that give a way to reach it."""
    return [
        line.strip(" -*•\t")
        for line in instructions.splitlines()
        if _EMAIL.search(line) or _PHONE.search(line) or _starts_with(line, _CONTACT_LINE_WORDS)
    ]


def hours_lines(instructions: str) -> list[str]:
    """The lines of the instructions that tell when the business is open."""
    return [
        line.strip(" -*•\t")
        for line in instructions.splitlines()
        if _HOURS_LINE_WORDS.intersection(normalize(line).split())
    ]


def _starts_with(line: str, vocabulary: frozenset[str]) -> bool:
    first = normalize(line).split()[:2]
    return bool(vocabulary.intersection(first))
