"""What a customer's words mean when they search a catalog.

Customers type fast, in French or English, without accents, in the singular or the
plural, with the word they know ("sneakers") rather than the one on the product
("Baskets"). ``search_terms`` turns their text into words to find, each with its
alternatives: the word itself, its other number (singular/plural) and its synonyms.
A product matches a word when any alternative is one of its words (the read model
adds stemming and fuzzy matching on top); what ranks first is the product that
matches the most of the customer's words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

MIN_PREFIX: Final = 4  # shorter beginnings match too much to mean "this word, unfinished"
MAX_WORDS: Final = 12  # a search is a few words; a pasted paragraph is cut here

_LIGATURES: Final = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "ł": "l"})
_TOKEN: Final = re.compile(r"[^\W_]+(?:-[^\W_]+)*")

# Words that say nothing about a product, in both languages.
STOPWORDS: Final = frozenset(
    str.split("""
    a au aux avec ce ces de des du en et la le les leur ma mes mon ou par pas pour sa
    ses son sur ta tes ton un une vos votre je tu il elle nous vous ils elles qui que
    quoi est sont avez avoir veux voudrais cherche chercher besoin svp stp merci bonjour
    an and are as at be by for from have i in is it me my of on or please the to with
    want looking need hello hi any some
    """)
)

# Groups of words a customer uses for the same kind of product (folded: no accents).
SYNONYM_GROUPS: Final = (
    ("t-shirt", "tee-shirt", "tshirt", "teeshirt", "tee", "tee shirt", "t shirt"),
    ("chaussure", "basket", "sneaker", "shoe", "tennis", "soulier"),
    ("pantalon", "jean", "jeans", "trousers", "pants", "chino"),
    ("sac", "bag", "sacoche", "handbag", "sac a main"),
    ("sac a dos", "backpack", "rucksack"),
    ("robe", "dress"),
    ("jupe", "skirt"),
    ("telephone", "phone", "smartphone", "portable", "mobile", "cellphone", "cell phone"),
    ("veste", "jacket", "blouson"),
    ("manteau", "coat", "parka"),
    ("pull", "sweater", "jumper", "pullover", "sweat", "sweatshirt"),
    ("chemise", "shirt"),
    ("chaussette", "sock"),
    ("casquette", "cap"),
    ("chapeau", "hat", "bonnet", "beanie"),
    ("montre", "watch"),
    ("lunettes", "glasses", "sunglasses"),
    ("ordinateur", "computer", "laptop", "pc"),
    ("ecouteurs", "earphones", "earbuds", "headphones", "casque audio"),
    ("chargeur", "charger"),
    ("parfum", "perfume", "fragrance"),
    ("livre", "book"),
    ("bijou", "jewel", "jewelry", "jewellery"),
    ("collier", "necklace"),
    ("bague", "ring"),
    ("savon", "soap"),
)


def fold(text: str) -> str:
    """Lower case, no accents, ligatures spelled out: how words are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    """The folded words of ``text``; a hyphenated word ("t-shirt") stays one word."""
    return _TOKEN.findall(fold(text))


def number_forms(word: str) -> tuple[str, ...]:
    """The word and its likely other number: "basket" <-> "baskets", "cheval" <-> "chevaux"."""
    forms = [word]
    if len(word) > 3 and word.endswith("aux"):
        forms.append(word[:-3] + "al")
    elif len(word) > 3 and word.endswith(("s", "x")):
        forms.append(word[:-1])
    elif len(word) > 2 and not word.endswith("z"):
        forms.append(word + ("x" if word.endswith(("eau", "au", "eu")) else "s"))
    if len(word) > 3 and word.endswith("al"):
        forms.append(word[:-2] + "aux")
    return tuple(dict.fromkeys(forms))


def _synonyms() -> dict[str, tuple[str, ...]]:
    by_word: dict[str, tuple[str, ...]] = {}
    for group in SYNONYM_GROUPS:
        for word in group:
            for form in number_forms(word):
                by_word.setdefault(form, group)
    return by_word


_SYNONYMS: Final = _synonyms()


@dataclass(frozen=True, slots=True)
class SearchWord:
    """One word of the customer's, and every way a product may say it."""

    word: str  # folded, as typed
    alternatives: tuple[str, ...]  # the word first; each may be a phrase ("tee shirt")

    @property
    def prefix(self) -> str | None:
        """The word as the beginning of a longer one ("bask" for "baskets"), when it is
        long enough and a plain word."""
        plain = self.word.isalnum()
        return self.word if plain and len(self.word) >= MIN_PREFIX else None


@dataclass(frozen=True, slots=True)
class SearchTerms:
    words: tuple[SearchWord, ...]

    @property
    def empty(self) -> bool:
        return not self.words


def search_terms(text: str) -> SearchTerms:
    """The words of ``text`` worth searching for, with their alternatives."""
    found: dict[str, SearchWord] = {}
    for token in words_of(text):
        if token in STOPWORDS or (len(token) < 2 and not token.isdigit()) or token in found:
            continue
        alternatives = [*number_forms(token)]
        for synonym in _SYNONYMS.get(token, ()):
            alternatives.extend(number_forms(synonym) if " " not in synonym else (synonym,))
        found[token] = SearchWord(token, tuple(dict.fromkeys(alternatives)))
        if len(found) == MAX_WORDS:
            break
    return SearchTerms(tuple(found.values()))


# --- a customer asking for a product ------------------------------------------------------

# How customers ask whether a product is sold (folded: no accents, lower case).
_ASKS_FOR_PRODUCT: Final = re.compile(
    r"\b(?:vous avez|avez[- ]vous|auriez[- ]vous|vous vendez|vendez[- ]vous|vous auriez|"
    r"il vous reste|je (?:re)?cherche|on (?:re)?cherche|montrez[- ]moi|"
    r"do you (?:have|sell|stock)|have you got|you got|"
    r"(?:i'?m|i am|we'?re|we are) looking for|looking for|show me)\b"
)
# A wish that may name a product or anything else ("je voudrais annuler").
_WISHES: Final = re.compile(
    r"\b(?:je voudrais|je veux|j'aimerais|je souhaite|i(?:'d| would) like|i want|i need|"
    r"can i (?:get|buy))\b"
)
# Words around a product question that name no product.
_ASKING_WORDS: Final = frozenset(
    str.split("""
    acheter commander trouver voir quelque chose genre type sorte est-ce ce est que
    avez vous auriez encore aussi produit produits article articles
    buy order get find see something kind sort type do you any still also product products
    item items
    """)
)


@dataclass(frozen=True, slots=True)
class ProductQuery:
    words: str  # naming the product, small words left out
    explicit: bool  # asked whether it is sold ("vous avez...?"), not only wished for


def product_query(text: str) -> ProductQuery | None:
    """The words naming a product when ``text`` asks for one ("vous avez des baskets ?" is
    "baskets", "do you have shoes" is "shoes", "je voudrais un t-shirt" is "t-shirt", not
    explicit: a wish may be for something else); None when it does not ask, or names none."""
    folded = fold(text).replace("\u2019", "'")
    asked = _ASKS_FOR_PRODUCT.search(folded)
    wished = None if asked is not None else _WISHES.search(folded)
    found = asked or wished
    if found is None:
        return None
    words = [
        w for w in words_of(folded[found.end():])
        if w not in STOPWORDS and w not in _ASKING_WORDS and (len(w) > 1 or w.isdigit())
    ]  # fmt: skip
    if not words:
        return None
    return ProductQuery(" ".join(words[:MAX_WORDS]), explicit=asked is not None)
