"""The offline assistant with a catalog (the in-memory read model): product questions get the
list of matching products in stock; nothing found, a way on; other requests come first."""

from __future__ import annotations

import pytest

from adapters.ai.rules import RulesAssistant
from adapters.memory.catalog import InMemoryCatalog
from adapters.memory.event_store import InMemoryEventStore
from application.catalog import CatalogImporter
from application.codec import EventCodec
from domain.assistant import Escalate, Reply
from domain.event_types import EVENT_TYPES
from domain.outbound import ListMessage, ReplyButtonsMessage, TextMessage
from tests.support.assistant import context


def row(product_id: str, name: str, price: str, stock: int) -> dict[str, object]:
    return {"id": product_id, "name": name, "description": "", "price": price,
            "currency": "EUR", "stock": str(stock)}  # fmt: skip


CATALOG = [
    row("b1", "Baskets blanches", "12.50", 3),
    row("b3", "Baskets rouges", "45.00", 0),
    row("t1", "T-shirt coton", "15.00", 5),
    *(row(f"s{n}", f"Sneakers modèle {n}", "50.00", 1) for n in range(12)),
]


@pytest.fixture
async def assistant() -> RulesAssistant:
    store = InMemoryEventStore(EventCodec(EVENT_TYPES))
    rows = [(n, r) for n, r in enumerate(CATALOG, start=2)]
    assert (await CatalogImporter(store).import_rows("default", rows)).all_taken
    catalog = InMemoryCatalog(store)
    await catalog.catch_up()
    return RulesAssistant(catalog)


async def listed(assistant: RulesAssistant, text: str) -> ListMessage:
    decision = (await assistant.answer(context(text))).decision
    assert isinstance(decision, Reply)
    assert isinstance(decision.message, ListMessage)
    return decision.message


async def test_a_product_question_gets_the_matching_products_in_stock(
    assistant: RulesAssistant,
) -> None:
    french = await listed(assistant, "vous avez des t-shirts ?")
    assert [r.id for r in french.sections[0].rows] == ["product_t1"]
    assert french.sections[0].rows[0].description == "15,00\u00a0€"

    shoes = await listed(assistant, "do you have shoes")
    ids = [r.id for r in shoes.sections[0].rows]
    assert len(ids) == 10  # WhatsApp's limit, of 13 in-stock matches
    assert "product_b3" not in ids  # sold out
    assert shoes.button == "See products"


async def test_nothing_in_stock_offers_to_rephrase_or_hand_over(
    assistant: RulesAssistant,
) -> None:
    decision = (await assistant.answer(context("je cherche un chapeau de paille"))).decision

    assert isinstance(decision, Reply)
    message = decision.message
    assert isinstance(message, ReplyButtonsMessage)
    assert "«\u00a0chapeau paille\u00a0»" in message.body
    assert [b.id for b in message.buttons] == ["more_products", "human"]


async def test_other_requests_are_answered_first(assistant: RulesAssistant) -> None:
    person = (await assistant.answer(context("je veux parler à un conseiller"))).decision
    hours = (await assistant.answer(context("je voudrais connaître vos horaires"))).decision
    no_catalog = (await RulesAssistant().answer(context("vous avez des baskets ?"))).decision
    wish = (await assistant.answer(context("je voudrais annuler ma commande"))).decision
    wished = await listed(assistant, "je voudrais un t-shirt")

    assert isinstance(person, Escalate)
    assert isinstance(hours, Reply)
    assert isinstance(hours.message, TextMessage)
    assert "7h-19h30" in hours.message.body
    assert isinstance(no_catalog, Reply)
    assert not isinstance(no_catalog.message, ListMessage)
    # A wish the catalog has nothing for is not a product question: the usual menu.
    assert isinstance(wish, Reply)
    assert isinstance(wish.message, ReplyButtonsMessage)
    assert [b.id for b in wish.message.buttons] == ["hours", "contact", "human"]
    assert [r.id for r in wished.sections[0].rows] == ["product_t1"]
