"""Which language a customer writes in (French or English), from the words they use.

Customers type fast on a phone: no accents, abbreviations ("svp", "pls"), typos. Each
word known to be typical of one language scores for it; letters with French accents
score for French. A message with no clear lead (``ok``, an emoji, a name) has no
language: the caller keeps the one it already knew.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from domain.assistant import Language


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FRENCH_WORDS: Final = _vocabulary(
    """
    bonjour bonsoir salut coucou slt bjr cc merci mrc je j moi tu vous votre vos
    le la les un une des du au aux est et avec pour pas ne n plus tres bien beaucoup
    oui non ouais svp stp parler parle discuter veux voudrais voudrai souhaite aimerais
    besoin aide aider conseiller conseillere humain personne quelqu quel quelle quels
    quelles heure heures horaires ouvert ouverts ouverte ouvrez fermez fermeture ferme
    revoir bonne journee soiree nuit semaine mon ma mes c qu que quoi comment ou etes
    sont avez avoir adresse telephone numero joindre contacter ca cest jai suis sommes
    dans sur chez aujourd hui demain combien prix commande livraison rien peux pouvez
    vrai vraie d l y puis faire fait
    """
)
_ENGLISH_WORDS: Final = _vocabulary(
    """
    hello hi hey hiya thanks thank thx ty you your yours i im my me we our want
    wanna would like to the an is are am and with for not no yes yeah please pls plz
    talk speak chat human person people someone somebody anyone real live agent
    representative operator what when where which who how hours open opening opened
    close closing closed bye goodbye good morning afternoon evening night day need
    help can could may do does did it of in at this that have has address phone
    number reach contact email website today tomorrow much price order delivery get
    just there here see soon great cheers
    """
)
# Words both languages use alike count for neither.
_SHARED: Final = _FRENCH_WORDS & _ENGLISH_WORDS
_FRENCH_LETTERS: Final = re.compile(r"[éèêëàâîïôûùüçœÉÈÊÀÂÎÔÛÇŒ]")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, accents and punctuation removed, one space between words.

    ``"Je veux parler à un conseiller !"`` gives ``"je veux parler a un conseiller"``;
    apostrophes split words (``"j'ai"`` gives ``"j ai"``).
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return _NON_WORD.sub(" ", bare).strip()


def words(text: str) -> list[str]:
    return normalize(text).split()


def detect_language(text: str) -> Language | None:
    """``fr`` or ``en`` when the text leans clearly one way, else None."""
    french = 2 * len(_FRENCH_LETTERS.findall(text))
    english = 0
    for word in words(text):
        if word in _SHARED:
            continue
        french += word in _FRENCH_WORDS
        english += word in _ENGLISH_WORDS
    if french > english:
        return "fr"
    if english > french:
        return "en"
    return None


def detect_first(texts: Iterable[str], default: Language) -> Language:
    """The language of the first text that has one (give the newest first), else ``default``."""
    for text in texts:
        language = detect_language(text)
        if language is not None:
            return language
    return default
