"""The OpenAI adapter's catalog tools with the real SDK over HTTP, against a scripted
compatible server, on the in-memory catalog: searches answered and the model asked again,
recommendations as a WhatsApp list, orders as a decision, and every malformed call answered
to the model instead of sent to the customer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.ai.openai_assistant import MAX_TOOL_ROUNDS, OpenAiAssistant, create_openai_assistant
from adapters.memory.catalog import InMemoryCatalog
from adapters.memory.event_store import InMemoryEventStore
from application.catalog import CatalogImporter
from application.codec import EventCodec
from application.ports import AssistantUnavailableError
from domain.assistant import Escalate, OrderLine, PlaceOrder, Reply
from domain.event_types import EVENT_TYPES
from domain.outbound import ListMessage
from domain.whatsapp_limits import check_message
from tests.support.assistant import context
from tests.support.openai_server import Completion, ScriptedOpenAi, ToolCall, serving_openai

API_KEY = "sk-test-0123456789abcdefSECRET"


def row(product_id: str, name: str, price: str, stock: int) -> dict[str, object]:
    return {"id": product_id, "name": name, "description": "Cuir souple", "price": price,
            "currency": "EUR", "stock": str(stock)}  # fmt: skip


CATALOG = [
    row("b1", "Baskets blanches", "12.50", 3),
    row("b2", "Baskets montantes en cuir véritable", "89.90", 2),
    row("b3", "Baskets rouges", "45.00", 0),
    row("t1", "T-shirt", "15.00", 5),
]


@pytest.fixture
def server() -> ScriptedOpenAi:
    return ScriptedOpenAi()


@pytest.fixture
async def assistant(server: ScriptedOpenAi) -> AsyncIterator[OpenAiAssistant]:
    store = InMemoryEventStore(EventCodec(EVENT_TYPES))
    report = await CatalogImporter(store).import_rows(
        "default", [(n, r) for n, r in enumerate(CATALOG, start=2)]
    )
    assert report.all_taken
    catalog = InMemoryCatalog(store)
    await catalog.catch_up()
    async with serving_openai(server) as url:
        made = create_openai_assistant(
            api_key=API_KEY, model="gpt-test", base_url=url, timeout_seconds=2.0,
            max_retries=0, catalog=catalog,
        )  # fmt: skip
        yield made
        await made.close()


def call(name: str, arguments: Any) -> Completion:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Completion(tool_calls=(ToolCall(name, raw),), finish_reason="tool_calls")


def tool_answers(server: ScriptedOpenAi, request: int) -> list[dict[str, Any]]:
    """What the tools answered the model, as the ``request``-th request showed them."""
    shown = server.requests[request].messages
    return [json.loads(m["content"]) for m in shown if m["role"] == "tool"]


async def test_a_search_then_a_recommendation_is_a_list_of_in_stock_products(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(
        call("search_products", {"query": "baskets"}),
        call("recommend_products", {"product_ids": ["b2", "b1"]}),
    )

    answer = await assistant.answer(context("Bonjour, vous avez des baskets ?"))

    (found,) = tool_answers(server, 1)
    assert {p["id"] for p in found["products"]} == {"b1", "b2"}  # b3 is out of stock
    assert {p["id"]: p["price"] for p in found["products"]}["b1"] == "12,50\u00a0€"
    assert {"search_products", "recommend_products", "place_order", "escalate_to_human"} <= set(
        server.requests[0].tool_names
    )
    assert any("catalog" in m["content"] for m in server.requests[0].messages
               if m["role"] == "system")  # fmt: skip
    assert isinstance(answer.decision, Reply)
    listed = answer.decision.message
    assert isinstance(listed, ListMessage)
    assert check_message(listed) == listed
    rows = listed.sections[0].rows
    assert [r.id for r in rows] == ["product_b2", "product_b1"]
    assert rows[0].title == "Baskets montantes en cui"  # 24 characters
    assert (rows[1].description or "").startswith("12,50\u00a0€")
    assert (listed.button, listed.header) == ("Voir les produits", "Nos produits")
    assert (answer.prompt_tokens, answer.completion_tokens) == (2 * 57, 2 * 12)


async def test_english_prices_and_list_words(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(
        call("search_products", {"query": "shoes"}),
        call("recommend_products", {"product_ids": ["b1"]}),
    )

    answer = await assistant.answer(context("Hello, do you have shoes?", language="en"))

    (found,) = tool_answers(server, 1)
    assert found["products"][0]["price"] == "€12.50"
    assert isinstance(answer.decision, Reply)
    listed = answer.decision.message
    assert isinstance(listed, ListMessage)
    assert listed.button == "See products"
    assert listed.sections[0].rows[0].description == "€12.50 · Cuir souple"


async def test_malformed_arguments_and_unknown_ids_are_answered_to_the_model(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(
        call("search_products", "{not json"),
        call("search_products", {"words": "baskets"}),
        call("recommend_products", {"product_ids": ["nope", "b3"]}),
        call("recommend_products", {"product_ids": ["nope", "b1"]}),
    )

    answer = await assistant.answer(context("vous avez des baskets ?"))

    assert len(server.requests) == 4
    assert "JSON object" in tool_answers(server, 1)[0]["error"]
    assert '"query"' in tool_answers(server, 2)[1]["error"]
    refused = tool_answers(server, 3)[2]["error"]
    assert "'nope' is not in the catalog" in refused
    assert "'b3' is out of stock" in refused
    # Each round shows the model what it asked and what the tool answered.
    shown = server.requests[3].messages
    assert [m["role"] for m in shown[-6:]] == ["assistant", "tool"] * 3
    assert isinstance(answer.decision, Reply)
    listed = answer.decision.message
    assert isinstance(listed, ListMessage)
    assert [r.id for r in listed.sections[0].rows] == ["product_b1"]  # the unknown id left out


async def test_place_order_is_a_decision_once_its_items_are_in_the_catalog(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(
        call("place_order", {"items": [{"product_id": "b1", "quantity": 0}]}),
        call("place_order", {"items": [{"product_id": "zz", "quantity": 1}]}),
        call("place_order", {"items": "b1"}),
        call(
            "place_order",
            {"items": [{"product_id": "b1", "quantity": 2}, {"product_id": "t1", "quantity": 1}]},
        ),
    )

    answer = await assistant.answer(context("Je prends deux paires de baskets blanches"))

    assert "from 1 to 1000" in tool_answers(server, 1)[0]["error"]
    assert "'zz' is not in the catalog" in tool_answers(server, 2)[1]["error"]
    assert '"items"' in tool_answers(server, 3)[2]["error"]
    assert answer.decision == PlaceOrder(
        items=(OrderLine(product_id="b1", quantity=2), OrderLine(product_id="t1", quantity=1))
    )


async def test_escalation_wins_over_a_search_in_the_same_answer(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(Completion(tool_calls=(
        ToolCall("search_products", json.dumps({"query": "baskets"})),
        ToolCall("escalate_to_human", json.dumps({"reason": "wants a person"})),
    ), finish_reason="tool_calls"))  # fmt: skip

    answer = await assistant.answer(context("un conseiller pour des baskets svp"))

    assert answer.decision == Escalate(cause="assistant_decided", reason="wants a person")
    assert len(server.requests) == 1


async def test_a_model_that_keeps_searching_fails_the_turn_after_the_bound(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(*(call("search_products", {"query": "baskets"}) for _ in range(10)))

    with pytest.raises(AssistantUnavailableError) as raised:
        await assistant.answer(context("vous avez des baskets ?"))

    assert f"after {MAX_TOOL_ROUNDS} rounds" in raised.value.reason
    assert len(server.requests) == MAX_TOOL_ROUNDS


async def test_a_text_answer_after_a_search_is_the_reply(
    assistant: OpenAiAssistant, server: ScriptedOpenAi
) -> None:
    server.then(
        call("search_products", {"query": "chapeau"}),
        Completion(content="Désolé, nous n'avons pas de chapeaux."),
    )

    answer = await assistant.answer(context("vous avez des chapeaux ?"))

    assert tool_answers(server, 1) == [{"products": []}]
    assert isinstance(answer.decision, Reply)
    assert answer.decision.message.body == "Désolé, nous n'avons pas de chapeaux."  # type: ignore[union-attr]
