"""The catalog tools of the OpenAI adapter: search the business's products, recommend some,
place an order.

``search_products`` answers the model (a compact JSON of in-stock matches: ids, names,
prices formatted for the customer) and the turn goes on; ``recommend_products`` and
``place_order`` end the turn with a decision: the list of the products recommended, as a
WhatsApp list in the customer's language, or an order the orders process manager places
and summarises. A call the tools cannot act on (arguments that are not what the tool takes,
ids not in the catalog, products out of stock) answers the model with what was wrong, so
it can search again or tell the customer: nothing is sent on a guess.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import structlog
from openai.types.chat import ChatCompletionToolParam

from application.catalog import CatalogQueries
from domain.assistant import AssistantContext, Decision, OrderLine, PlaceOrder, Reply
from domain.catalog import Product
from domain.commerce_messages import recommendation_list
from domain.money import format_amount
from domain.orders import MAX_ITEMS, MAX_QUANTITY
from domain.whatsapp_limits import LIST_ROWS_MAX, truncate_text

log = structlog.get_logger(__name__)

SEARCH_PRODUCTS: Final = "search_products"
RECOMMEND_PRODUCTS: Final = "recommend_products"
PLACE_ORDER: Final = "place_order"
MAX_QUERY_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 120  # enough to tell products apart, short enough to be cheap

CATALOG_PROMPT: Final = """\
The business sells products from a catalog.
- When the customer asks for a product, call search_products with the words naming it, \
then call recommend_products with the ids of the best matches: the customer receives them \
as a list to choose from. Never write product lists or prices yourself.
- Call place_order only when the customer clearly asks to order products you found, with \
their ids and quantities: the customer then receives the order's summary to confirm.
- When a search finds nothing, say so and offer to pass the conversation to a person."""

_DEFINITIONS: Final[tuple[ChatCompletionToolParam, ...]] = (
    {
        "type": "function",
        "function": {
            "name": SEARCH_PRODUCTS,
            "description": "Search the business's catalog for products in stock. Returns "
            "their ids, names, prices and short descriptions, best matches first.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "The words naming the product, as the customer said "
                        'them (e.g. "baskets blanches").',
                    }
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": RECOMMEND_PRODUCTS,
            "description": "Send the customer a list of these products (ids from "
            f"search_products, best first, at most {LIST_ROWS_MAX}) to choose from.",
            "parameters": {
                "type": "object",
                "properties": {
                    "product_ids": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Product ids from search_products.",
                    }
                },
                "required": ["product_ids"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": PLACE_ORDER,
            "description": "Place an order of these products for the customer, who then "
            "confirms it with a button.",
            "parameters": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "product_id": {"type": "string"},
                                "quantity": {"type": "integer", "minimum": 1},
                            },
                            "required": ["product_id", "quantity"],
                            "additionalProperties": False,
                        },
                    }
                },
                "required": ["items"],
                "additionalProperties": False,
            },
        },
    },
)


class CatalogTools:
    """The three tools on a catalog read model. ``run`` answers the model (a JSON string)
    or ends the turn (a decision)."""

    names: Final = frozenset({SEARCH_PRODUCTS, RECOMMEND_PRODUCTS, PLACE_ORDER})
    prompt: Final = CATALOG_PROMPT

    def __init__(self, catalog: CatalogQueries) -> None:
        self._catalog = catalog

    def definitions(self) -> list[ChatCompletionToolParam]:
        return list(_DEFINITIONS)

    async def run(
        self, name: str, arguments: Mapping[str, Any] | None, context: AssistantContext
    ) -> str | Decision:
        if arguments is None:
            log.warning("assistant.malformed_tool_arguments", tool=name, provider="openai")
            return _error(f"the arguments of {name} must be a JSON object")
        if name == SEARCH_PRODUCTS:
            return await self._search(arguments, context)
        if name == RECOMMEND_PRODUCTS:
            return await self._recommend(arguments, context)
        return await self._place_order(arguments, context)

    async def _search(self, arguments: Mapping[str, Any], context: AssistantContext) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return _error('search_products needs "query": the words naming the product')
        page = await self._catalog.search(
            context.business_id, query[:MAX_QUERY_CHARS], limit=LIST_ROWS_MAX, in_stock_only=True
        )
        found = [_described(p.product, context) for p in page.items]
        return json.dumps({"products": found}, ensure_ascii=False)

    async def _recommend(
        self, arguments: Mapping[str, Any], context: AssistantContext
    ) -> str | Decision:
        ids = arguments.get("product_ids")
        if not _strings(ids) or not ids:
            return _error('recommend_products needs "product_ids": a list of product ids')
        products, wrong = await self._in_stock(context.business_id, ids[:LIST_ROWS_MAX])
        listed = recommendation_list(products, context.language)
        if listed is None:
            return _error(f"none of these products can be recommended: {'; '.join(wrong)}. "
                          "Use ids that search_products returned.")  # fmt: skip
        if wrong:
            log.info("assistant.products_left_out", count=len(wrong))
        return Reply(message=listed)

    async def _place_order(
        self, arguments: Mapping[str, Any], context: AssistantContext
    ) -> str | Decision:
        lines = _order_lines(arguments.get("items"))
        if isinstance(lines, str):
            return _error(lines)
        _, wrong = await self._in_stock(context.business_id, [line.product_id for line in lines])
        if wrong:
            return _error(f"no order was placed: {'; '.join(wrong)}. "
                          "Use ids that search_products returned.")  # fmt: skip
        return PlaceOrder(items=tuple(lines))

    async def _in_stock(
        self, business_id: str, ids: Sequence[str]
    ) -> tuple[list[Product], list[str]]:
        """The products in stock among ``ids`` (in their order, once each), and what is
        wrong with the others."""
        products: list[Product] = []
        wrong: list[str] = []
        for product_id in dict.fromkeys(ids):
            found = await self._catalog.product(business_id, product_id)
            if found is None:
                wrong.append(f"{product_id[:100]!r} is not in the catalog")
            elif not found.product.in_stock:
                wrong.append(f"{product_id!r} is out of stock")
            else:
                products.append(found.product)
        return products, wrong


def _described(product: Product, context: AssistantContext) -> dict[str, str]:
    described = {
        "id": product.product_id,
        "name": product.name,
        "price": format_amount(product.price, product.currency, context.language),
    }
    if product.description:
        described["description"] = truncate_text(product.description, MAX_DESCRIPTION_CHARS)
    return described


def _order_lines(items: object) -> list[OrderLine] | str:
    """The order's lines, or what is wrong with them (for the model)."""
    usage = 'place_order needs "items": a list of {"product_id": string, "quantity": integer}'
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        return usage
    lines = []
    for item in items:
        if not isinstance(item, dict):
            return usage
        product_id, quantity = item.get("product_id"), item.get("quantity")
        if not isinstance(product_id, str) or not product_id:
            return usage
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            return f"the quantity of {product_id[:100]!r} must be a whole number from 1 to " \
                   f"{MAX_QUANTITY}"  # fmt: skip
        lines.append(OrderLine(product_id=product_id, quantity=quantity))
    return lines


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
