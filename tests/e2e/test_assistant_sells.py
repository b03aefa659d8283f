"""The assistant sells, end to end, once with each provider: the offline rules assistant, and
the OpenAI adapter (the real SDK, its catalog tools) against a local stand-in model. A
customer writes through the Cloud API simulator's signed webhooks to the server on a real
port over real PostgreSQL, asks for a product, gets a list of the matching products in
stock, picks one (its image, price and buttons), orders it, confirms with the button, and
the API shows the order confirmed. Taps are answered by the orders process manager alone:
exactly one answer each, never an assistant turn as well (asserted once the whole system is
quiet).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import pytest

from adapters.whatsapp.simulator import inbound
from domain.assistant import PlaceOrder, Reply
from domain.assistant_turns import AssistantTurnCompleted
from domain.catalog import Product
from tests.e2e.test_assistant_done_when import PROVIDERS, Scene, scene
from tests.integration.test_orders_flow import api_order, button_ids, list_products, summary_for
from tests.support.openai_server import Completion, Failure, Request, Step, ToolCall

IMAGE: Final = "https://shop.example/b1.jpg"
BASKETS = Product(product_id="b1", name="Baskets blanches", description="Cuir souple",
                  price=1250, currency="EUR", stock=3, image_url=IMAGE)  # fmt: skip
HIGH_TOPS = Product(product_id="b2", name="Baskets montantes en cuir véritable", description="",
                    price=8990, currency="EUR", stock=2)  # fmt: skip
SOLD_OUT = Product(product_id="b3", name="Baskets rouges", description="", price=4500,
                   currency="EUR", stock=0)  # fmt: skip
TEE = Product(product_id="t1", name="T-shirt coton", description="", price=1500,
              currency="EUR", stock=5)  # fmt: skip
CATALOG: Final = (BASKETS, HIGH_TOPS, SOLD_OUT, TEE)


# --- the stand-in model ------------------------------------------------------------------

PRODUCT_WORDS: Final = re.compile(r"\b(baskets?|shoes?|t-shirts?)\b", re.IGNORECASE)
ORDERS: Final = re.compile(r"\b(?:commander|order|prends|take)\b\D*(\d+)", re.IGNORECASE)


def shopper_model(request: Request) -> Step:
    """Answers like a chat model with the catalog tools would: it searches the product the
    customer names, then recommends what the search found, or orders it when the customer
    asked to order ("commander 2 ..."); it greets otherwise."""
    if "search_products" not in request.tool_names:
        return Failure(400, "this stand-in model needs the catalog tools")
    last = request.messages[-1]
    said = [m["content"] for m in request.messages if m["role"] == "user"][-1]
    if last["role"] == "tool":
        found = [p["id"] for p in json.loads(last["content"]).get("products", [])]
        if not found:
            return Completion("Désolé, je n'ai rien trouvé.")
        ordered = ORDERS.search(said)
        if ordered is not None:
            items = [{"product_id": found[0], "quantity": int(ordered[1])}]
            return _call("place_order", {"items": items})
        return _call("recommend_products", {"product_ids": found})
    named = PRODUCT_WORDS.search(said)
    if named is not None:
        return _call("search_products", {"query": named[1]})
    return Completion("Bonjour ! Comment puis-je vous aider ?")


def _call(name: str, arguments: dict[str, Any]) -> Completion:
    return Completion(tool_calls=(ToolCall(name, json.dumps(arguments)),),
                      finish_reason="tool_calls")  # fmt: skip


# --- what the customer sees --------------------------------------------------------------


def sent(s: Scene, phone: str) -> list[dict[str, Any]]:
    return [b for b in s.world.sim.sent_bodies() if b.get("to") == phone]


async def nth_sent(s: Scene, phone: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` messages the simulator accepted for the customer."""

    async def enough() -> list[dict[str, Any]] | None:
        bodies = sent(s, phone)
        return bodies[:count] if len(bodies) >= count else None

    bodies: list[dict[str, Any]] = await s.world.eventually(enough)
    return bodies


def rows_of(listed: dict[str, Any]) -> list[dict[str, Any]]:
    assert listed["type"] == "interactive"
    assert listed["interactive"]["type"] == "list"
    return [row for section in listed["interactive"]["action"]["sections"]
            for row in section["rows"]]  # fmt: skip


async def taps(s: Scene, phone: str, content: dict[str, Any]) -> None:
    _, delivery = await s.world.sim.customer_sends(content, phone=phone)
    assert delivery.ok, delivery.error


async def catalog_listed(s: Scene) -> None:
    await list_products(s.world, *CATALOG)

    async def indexed() -> bool:
        answer = await s.http.get("/api/v1/products")
        return answer.status_code == 200 and len(answer.json()["items"]) == len(CATALOG)

    await s.world.eventually(indexed)


# --- the promises ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_french_customer_finds_picks_orders_and_confirms_a_product(
    database_url: str, provider: str
) -> None:
    phone = "33612347001"
    async with scene(database_url, provider, shopper_model) as s:  # type: ignore[arg-type]
        await catalog_listed(s)
        await s.writes("Bonjour, vous avez des baskets ?", phone)
        (listed,) = await nth_sent(s, phone, 1)

        await taps(s, phone, inbound.list_reply("product_b1", "Baskets blanches",
                                                reply_to="wamid.list"))  # fmt: skip
        _, chosen = await nth_sent(s, phone, 2)

        await taps(s, phone, inbound.button_reply("order_product_b1", "Commander",
                                                  reply_to="wamid.product"))  # fmt: skip
        summary = await summary_for(s.world, phone)
        confirm = button_ids(summary)[0]
        order_id = confirm.removeprefix("confirm_order_")
        await taps(s, phone, inbound.button_reply(confirm, "Confirmer", reply_to="wamid.sum"))
        order = await api_order(s.world, order_id, "confirmed")
        await s.settle()
        everything = sent(s, phone)
        outcomes = await s.outcomes(phone)
        metrics = await s.metrics()

    # The list: the matching products in stock only, within WhatsApp's limits, in French.
    rows = rows_of(listed)
    assert sorted(r["id"] for r in rows) == ["product_b1", "product_b2"]  # b3 is sold out
    by_id = {r["id"]: r for r in rows}
    assert by_id["product_b2"]["title"] == "Baskets montantes en cui"  # 24 characters
    assert by_id["product_b1"]["description"] == "12,50\u00a0€ · Cuir souple"
    assert all(len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
    assert listed["interactive"]["action"]["button"] == "Voir les produits"
    assert listed["interactive"]["header"] == {"type": "text", "text": "Nos produits"}
    # The product: its image as the header, name, price and description as the body, and
    # the buttons to order it or see others; one message.
    assert chosen["interactive"]["header"] == {"type": "image", "image": {"link": IMAGE}}
    assert chosen["interactive"]["body"]["text"] == "*Baskets blanches*\n12,50\u00a0€\nCuir souple"
    assert button_ids(chosen) == ["order_product_b1", "more_products"]
    assert [b["reply"]["title"] for b in chosen["interactive"]["action"]["buttons"]] == [
        "Commander", "Autres produits"]  # fmt: skip
    # The order: one of it, from the button, confirmed in the API.
    assert "1 x Baskets blanches" in summary["interactive"]["body"]["text"]
    assert "12,50\u00a0€" in summary["interactive"]["body"]["text"]
    assert (order["source"], order["total"], order["currency"]) == ("button", 1250, "EUR")
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [("b1", 1)]
    # One answer to each message: the list, the product, the summary, the confirmation;
    # only the question started an assistant turn.
    assert len(everything) == 4, everything
    assert f"{order_id} est confirmée" in everything[-1]["text"]["body"]
    (turn,) = outcomes
    assert isinstance(turn, AssistantTurnCompleted)
    assert isinstance(turn.decision, Reply)
    assert turn.provider == provider
    assert s.model_asked() == (2 if provider == "openai" else 0)  # a search, then the list
    # The recommendation converted.
    assert (metrics["recommendations_sent"], metrics["converted_conversations"]) == (1, 1)
    assert metrics["recommendation_conversion"] == 1.0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_english_customer_reads_english_prices_and_sees_the_list_again(
    database_url: str, provider: str
) -> None:
    phone = "15550007002"
    async with scene(database_url, provider, shopper_model) as s:  # type: ignore[arg-type]
        await catalog_listed(s)
        await s.writes("Hello, do you have shoes?", phone)
        (listed,) = await nth_sent(s, phone, 1)
        await taps(s, phone, inbound.list_reply("product_b2", "Baskets montantes",
                                                reply_to="wamid.list"))  # fmt: skip
        _, product = await nth_sent(s, phone, 2)
        await taps(s, phone, inbound.button_reply("more_products", "Other products",
                                                  reply_to="wamid.product"))  # fmt: skip
        *_, again = await nth_sent(s, phone, 3)
        await s.settle()
        everything = sent(s, phone)

    rows = rows_of(listed)
    assert {r["id"]: r.get("description") for r in rows} == {
        "product_b1": "€12.50 · Cuir souple", "product_b2": "€89.90"}  # fmt: skip
    assert listed["interactive"]["action"]["button"] == "See products"
    assert listed["interactive"]["header"]["text"] == "Our products"
    # No image: one message with the name as its header and the price in the body.
    assert product["interactive"]["header"] == {"type": "text", "text": HIGH_TOPS.name}
    assert product["interactive"]["body"]["text"] == "€89.90"
    assert [b["reply"]["title"] for b in product["interactive"]["action"]["buttons"]] == [
        "Order", "Other products"]  # fmt: skip
    # "Other products": the last list again, as the catalog now stands.
    assert [r["id"] for r in rows_of(again)] == [r["id"] for r in rows]
    assert len(everything) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_product_out_of_stock_is_never_listed(database_url: str, provider: str) -> None:
    phone = "33612347003"
    async with scene(database_url, provider, shopper_model) as s:  # type: ignore[arg-type]
        await list_products(s.world, SOLD_OUT, TEE)
        await s.world.eventually(lambda: _products_indexed(s, 2))
        await s.writes("Bonjour, vous avez des baskets ?", phone)
        (answer,) = await nth_sent(s, phone, 1)
        await taps(s, phone, inbound.button_reply("more_products", "Autres produits",
                                                  reply_to="wamid.none"))  # fmt: skip
        _, others = await nth_sent(s, phone, 2)
        await s.settle()
        searched = [m["content"] for r in (s.openai.requests if s.openai else [])
                    for m in r.messages if m["role"] == "tool"]  # fmt: skip

    # Only the sold-out pair matches: nothing to list, and a way on.
    assert answer["type"] == ("text" if provider == "openai" else "interactive")
    if provider == "offline":
        assert (
            "Je n'ai rien trouvé pour «\u00a0baskets\u00a0»"
            in answer["interactive"]["body"]["text"]
        )
        assert button_ids(answer) == ["more_products", "human"]
    else:
        assert searched == [json.dumps({"products": []})]
    # "Other products" with no list sent yet: the catalog's products in stock.
    assert [r["id"] for r in rows_of(others)] == ["product_t1"]


async def _products_indexed(s: Scene, count: int) -> bool:
    answer = await s.http.get("/api/v1/products")
    return answer.status_code == 200 and len(answer.json()["items"]) == count


@pytest.mark.parametrize(
    "provider", [pytest.param("openai", id="openai-only_offline-takes-orders-by-button")]
)
async def test_an_order_the_assistant_places_is_confirmed_with_the_button(
    database_url: str, provider: str
) -> None:
    phone = "33612347004"
    async with scene(database_url, provider, shopper_model) as s:  # type: ignore[arg-type]
        await catalog_listed(s)
        await s.writes("Bonjour, je voudrais commander 2 paires de baskets blanches", phone)
        summary = await summary_for(s.world, phone)
        confirm = button_ids(summary)[0]
        order_id = confirm.removeprefix("confirm_order_")
        pending = await api_order(s.world, order_id, "pending")
        await taps(s, phone, inbound.button_reply(confirm, "Confirmer", reply_to="wamid.sum"))
        order = await api_order(s.world, order_id, "confirmed")
        await s.settle()
        everything = sent(s, phone)
        (turn,) = await s.outcomes(phone)

    assert (pending["source"], pending["total"]) == ("assistant", 2500)
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [("b1", 2)]
    assert "2 x Baskets blanches" in summary["interactive"]["body"]["text"]
    assert isinstance(turn, AssistantTurnCompleted)
    assert turn.decision == PlaceOrder(items=turn.decision.items)  # type: ignore[union-attr]
    assert turn.message_id is None  # the summary is the orders process manager's message
    assert len(everything) == 2  # the summary, then the confirmation
    assert s.model_asked() == 2
