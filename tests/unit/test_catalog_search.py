"""A customer's search text becomes words with their alternatives."""

from __future__ import annotations

from domain.catalog_search import MAX_WORDS, fold, number_forms, search_terms


def alternatives(text: str) -> list[tuple[str, ...]]:
    return [word.alternatives for word in search_terms(text).words]


def test_words_are_folded_and_stopwords_dropped() -> None:
    assert fold("Téléphone CŒUR Straße") == "telephone coeur strasse"
    assert [w.word for w in search_terms("Je cherche des T-Shirts, svp !").words] == ["t-shirts"]
    assert search_terms("de la").empty
    assert search_terms("   ").empty


def test_each_word_brings_its_other_number_and_its_synonyms() -> None:
    (shoes,) = alternatives("chaussures")
    assert shoes[:2] == ("chaussures", "chaussure")
    assert {"basket", "baskets", "sneaker", "shoe", "shoes"} <= set(shoes)
    (tee,) = alternatives("tshirt")
    assert {"tshirt", "t-shirt", "tee-shirt", "tee shirt", "tee"} <= set(tee)
    (phone,) = alternatives("Téléphone")
    assert {"telephone", "phone", "smartphone"} <= set(phone)
    assert number_forms("cheval") == ("cheval", "chevals", "chevaux")
    assert number_forms("chevaux") == ("chevaux", "cheval")
    assert number_forms("chapeau") == ("chapeau", "chapeaux")


def test_a_long_plain_word_is_also_a_beginning() -> None:
    bask, sac, tee = search_terms("bask sac t-shirt").words
    assert bask.prefix == "bask"
    assert sac.prefix is None  # too short to mean "a word cut short"
    assert tee.prefix is None  # not a plain word


def test_a_pasted_paragraph_is_cut_and_repeated_words_count_once() -> None:
    words = search_terms(" ".join(f"mot{n}" for n in range(40))).words
    assert len(words) == MAX_WORDS
    assert len(search_terms("robe robe Robe").words) == 1
