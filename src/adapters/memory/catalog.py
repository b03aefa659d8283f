"""The products read model in memory, kept by the same pure projection as PostgreSQL's.

Its search follows the same rules with plain Python in place of PostgreSQL's stemmers
and trigram index: a word matches a product word, its other number or a synonym; a long
enough word matches the beginning of a name or category word; a word no product has is
looked for by resemblance (trigrams shared), after every text match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from application.catalog import DEFAULT_SEARCH_LIMIT, CatalogProduct, ProductPage
from application.catalog_projection import ProductKey, product_changes
from application.event_log import FEED_START, FeedPosition
from application.ports import EventStore
from application.read_models import MAX_INT, cursor_number, decode_cursor, encode_cursor
from domain.catalog_search import (
    SearchTerms,
    SearchWord,
    fold,
    number_forms,
    search_terms,
    words_of,
)

RESEMBLANCE: Final = 0.6  # as pg_trgm's default word_similarity_threshold


def _trigrams(word: str) -> list[str]:
    padded = f"  {word} "
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def resemblance(word: str, text: str) -> float:
    """pg_trgm's word_similarity: the best Jaccard similarity between ``word``'s trigrams
    and those of a run of consecutive trigrams of one word of ``text``."""
    wanted = set(_trigrams(word))
    best = 0.0
    for candidate in fold(text).replace("-", " ").split():
        ordered = _trigrams(candidate)
        for start in range(len(ordered)):
            for end in range(start + 1, len(ordered) + 1):
                extent = set(ordered[start:end])
                best = max(best, len(wanted & extent) / len(wanted | extent))
    return best


@dataclass(frozen=True, slots=True)
class _Document:
    words: frozenset[str]  # every word and its other number, hyphenated ones also in parts
    phrase_text: str  # the folded words, space-separated, for phrases
    name_words: tuple[str, ...]  # of name and category, for beginnings
    search_name: str

    @classmethod
    def of(cls, item: CatalogProduct) -> _Document:
        p = item.product
        named = f"{p.name} {p.category}" if p.category else p.name
        tokens = words_of(f"{named} {p.description}")
        parts = [part for token in tokens for part in token.split("-")]
        words = {form for token in [*tokens, *parts] for form in number_forms(token)}
        return cls(frozenset(words), " ".join(tokens + parts), tuple(words_of(named)), fold(named))

    def matches(self, word: SearchWord) -> bool:
        if any(a in self.words or (" " in a and f" {a} " in f" {self.phrase_text} ")
               for a in word.alternatives):  # fmt: skip
            return True
        prefix = word.prefix
        return prefix is not None and any(w.startswith(prefix) for w in self.name_words)


class InMemoryCatalog:
    """``CatalogQueries`` in memory; ``catch_up`` applies what ``store`` appended since."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._rows: dict[ProductKey, CatalogProduct] = {}
        self._position: FeedPosition = FEED_START

    async def catch_up(self) -> None:
        while batch := await self._store.read_feed(self._position, 500):
            for key, product in product_changes(batch).items():
                if product is None:
                    self._rows.pop(key, None)
                else:
                    self._rows[key] = product
            self._position = batch[-1].position

    async def product(self, business_id: str, product_id: str) -> CatalogProduct | None:
        return self._rows.get(ProductKey(business_id, product_id))

    async def search(
        self,
        business_id: str,
        text: str | None = None,
        *,
        limit: int = DEFAULT_SEARCH_LIMIT,
        in_stock_only: bool = False,
        cursor: str | None = None,
    ) -> ProductPage:
        items = [p for k, p in self._rows.items() if k.business_id == business_id
                 and (p.product.in_stock or not in_stock_only)]  # fmt: skip
        if text is None or not text.strip():
            keyed = sorted(((fold(p.product.name if not p.product.category else
                                  f"{p.product.name} {p.product.category}"),
                             p.product.product_id), p) for p in items)  # fmt: skip
            after = decode_cursor(cursor, (str, str)) if cursor is not None else None
            return _page([(key, p) for key, p in keyed if after is None or key > after], limit)
        terms = search_terms(text)
        everything = [
            _Document.of(p) for k, p in self._rows.items() if k.business_id == business_id
        ]
        unfound = [w.word for w in terms.words if not any(d.matches(w) for d in everything)]
        ranked = sorted(_ranked(items, terms, unfound))
        if cursor is None:
            return _page(ranked, limit)
        matched, available, score, name, product_id = decode_cursor(
            cursor, (int, int, int, str, str)
        )
        after_key = (-cursor_number(matched, MAX_INT), -cursor_number(available, 1),
                     -cursor_number(score, MAX_INT), name, product_id)  # fmt: skip
        return _page([(key, p) for key, p in ranked if key > after_key], limit)


_Key = tuple[str | int, ...]


def _ranked(
    items: list[CatalogProduct], terms: SearchTerms, unfound: list[str]
) -> list[tuple[_Key, CatalogProduct]]:
    ranked: list[tuple[_Key, CatalogProduct]] = []
    for item in items:
        document = _Document.of(item)
        matched = sum(document.matches(word) for word in terms.words)
        likeness = max((resemblance(w, document.search_name) for w in unfound), default=0.0)
        if matched == 0 and likeness < RESEMBLANCE:
            continue
        available = int(item.product.in_stock)
        score = round(1000 * (matched if matched else likeness))
        key: _Key = (-matched, -available, -score, document.search_name, item.product.product_id)
        ranked.append((key, item))
    return ranked


def _page(keyed: list[tuple[_Key, CatalogProduct]], limit: int) -> ProductPage:
    page = keyed[:limit]
    if len(keyed) <= limit:
        return ProductPage([p for _, p in page], None)
    last = page[-1][0]
    shown = tuple(-v if isinstance(v, int) else v for v in last)
    return ProductPage([p for _, p in page], encode_cursor(*shown))
