"""Searching the conversation list: part of a name or identifier, case and accents ignored,
never across two fields; searches too short for the trigram index look through a bounded
window per page and page on from where it ended."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest

from adapters.postgres import read_model_queries
from adapters.postgres.read_model_queries import PostgresReadModelQueries
from application.read_models import ConversationFilter, has_trigram
from tests.support.read_models import projected
from tests.support.webhooks import messages_change, text_message, webhook

T0 = int(time.time()) - 3600
CUSTOMERS = {
    "15550000001": "Hélène Lefèvre",
    "15550000002": "Helene Martin",
    "15550000003": "Zoé",
    "15550000004": "François Côté",
    "15550000005": "Alice Smith",
    "15550000006": "Mathéo Bélanger",
    "15550000007": "Sam Walker",
    "15550000008": "Anaïs Halle",
}


async def _load(pool: asyncpg.Pool[Any], database_url: str) -> PostgresReadModelQueries:
    async with projected(pool, database_url) as app:
        for n, (customer, name) in enumerate(CUSTOMERS.items()):
            message = text_message("Bonjour", customer=customer, wamid=f"wamid.s{n}",
                                   sent_at=T0 + 10 * n)  # fmt: skip
            await app.deliver(webhook(messages_change([message], names={customer: name})))
        await app.caught_up()
    return PostgresReadModelQueries(pool)


async def _names(queries: PostgresReadModelQueries, search: str, status: Any = None) -> set[str]:
    page = await queries.conversations("acme", ConversationFilter(status, search), 50, None)
    return {c.customer_name or "" for c in page.items}


async def test_a_search_ignores_case_and_accents_and_matches_part_of_a_word(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    queries = await _load(pool, database_url)

    both = {"Hélène Lefèvre", "Helene Martin"}
    assert await _names(queries, "helene") == both
    assert await _names(queries, "HÉLÈNE") == both
    assert await _names(queries, "lène") == both  # inside a word
    assert await _names(queries, "LEFEVRE") == {"Hélène Lefèvre"}
    assert await _names(queries, "cote") == {"François Côté"}
    assert await _names(queries, "francois cô") == {"François Côté"}
    assert await _names(queries, "belang") == {"Mathéo Bélanger"}
    assert await _names(queries, "00000040") == set()  # no such digits
    assert await _names(queries, "5550000004") == {"François Côté"}  # part of the number
    assert await _names(queries, "helene", status="closed") == set()
    assert await _names(queries, "helene", status="bot") == both


async def test_a_search_never_matches_across_two_fields(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    queries = await _load(pool, database_url)

    assert await _names(queries, "zoe") == {"Zoé"}
    assert await _names(queries, "15550000003") == {"Zoé"}
    assert await _names(queries, "zoe1555") == set()  # the name's end, then the number
    assert await _names(queries, "zoe\x1f1555") == set()
    assert await _names(queries, "a_ce") == set()  # LIKE's characters are taken literally
    assert await _names(queries, "al%ce") == set()


def test_a_search_has_a_trigram_with_three_letters_or_digits_in_a_row() -> None:
    assert has_trigram("abc")
    assert has_trigram("é12")
    assert has_trigram("a b cde")
    assert not has_trigram("al")
    assert not has_trigram("a b c")
    assert not has_trigram("+3 6")


async def test_a_short_search_looks_through_a_bounded_window_per_page(
    pool: asyncpg.Pool[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = await _load(pool, database_url)
    monkeypatch.setattr(read_model_queries, "SEARCH_WINDOW", 3)
    short = ConversationFilter(None, "al")  # Anaïs Halle, Sam Walker, Alice Smith

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await queries.conversations("acme", short, 2, cursor)
        pages.append([c.customer_name or "" for c in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    # Newest activity first, each once, every page looking at 3 conversations at most.
    assert pages == [["Anaïs Halle", "Sam Walker"], ["Alice Smith"], []]
    # Accents ignored too; the first page looks at the 3 newest conversations only.
    assert await _names(queries, "é") == {"Anaïs Halle", "Sam Walker", "Mathéo Bélanger"}


async def test_a_search_beyond_its_window_reads_what_the_trigram_index_finds(
    pool: asyncpg.Pool[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = await _load(pool, database_url)
    monkeypatch.setattr(read_model_queries, "SEARCH_WINDOW", 3)
    helene = ConversationFilter(None, "helene")  # the two oldest conversations

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await queries.conversations("acme", helene, 1, cursor)
        pages.append([c.customer_name or "" for c in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert pages == [["Helene Martin"], ["Hélène Lefèvre"]]
    assert await _names(queries, "smith", status="bot") == {"Alice Smith"}
    assert await _names(queries, "smith", status="closed") == set()
