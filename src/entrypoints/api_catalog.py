"""GET /api/v1/products: the caller's business's catalog, listed by name or searched."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, SkipValidation

from application.catalog import CatalogProduct, CatalogQueries
from application.read_models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    QueryError,
    View,
    doc,
    page_size,
    search_text,
)
from domain.catalog import MAX_ID_LENGTH
from domain.money import Language, format_amount
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError
from entrypoints.openapi import error_responses


class ProductView(View, frozen=True):
    """One product of the business's catalog."""

    id: Annotated[str, doc("The business's own id of the product, as in its catalog file.")]
    name: Annotated[str, doc("The product's name, as customers see it.")]
    description: Annotated[str, doc("Its description (empty when the catalog gives none).")]
    price: Annotated[
        int, doc("In the currency's minor unit: 1990 is 19.90 EUR; 500 is 500 XOF (no decimals).")
    ]
    currency: Annotated[str, doc("ISO 4217 code: EUR, USD, XOF, ...")]
    price_text: Annotated[str, doc("The price as a customer reads it in `language`: €19.90.")]
    stock: Annotated[int, doc("Units in stock; 0 when out of stock.")]
    in_stock: Annotated[bool, doc("True when stock is above 0.")]
    image_url: Annotated[str | None, doc("An http(s) address of its picture, if any.")]
    retailer_id: Annotated[str | None, doc("The product's id in the business's Meta catalog.")]
    category: Annotated[str | None, doc("The business's category for it, if any.")]
    updated_at: Annotated[datetime, doc("When the product last changed (its import's time).")]


class ProductPage(View, frozen=True):
    """A page of products."""

    items: Annotated[
        list[ProductView],
        doc("By name; with `search`, best matches first (more of the words, in stock first)."),
    ]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


def _query(name: str, description: str) -> Any:
    return QueryParameter(name=name, description=description)


SEARCH: Final = _query(
    "search",
    "Words a customer would type (accents, case, plural and common synonyms do not matter;"
    f" a cut or misspelled word is found too), at most {MAX_SEARCH_LENGTH} characters.",
)
LIMIT: Final = _query(
    "limit", f"Items per page: 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
)
CURSOR: Final = _query("cursor", "The next_cursor of the previous page; omit it for the first.")
LANGUAGE: Final = _query("language", "How price_text is written: en (default) or fr.")

# The catalog comes from the router's dependencies and is not a value to validate.
Catalog = NamedDependency[SkipValidation[CatalogQueries]]


def price_language(raw: str | None) -> Language:
    if raw is None or raw == "en":
        return "en"
    if raw == "fr":
        return "fr"
    raise QueryError("language", "must be en or fr")


@get("/products", responses=error_responses(400, 401, 503))
async def list_products(
    business_id: BusinessId,
    catalog: Catalog,
    search: Annotated[str | None, SEARCH] = None,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
    language: Annotated[str | None, LANGUAGE] = None,
) -> ProductPage:
    """The business's products by name, or the ones a customer's words find, best first."""
    words = search_text(search)
    chosen = price_language(language)
    page = await catalog.search(business_id, words, limit=page_size(limit), cursor=cursor)
    return ProductPage(items=[_view(p, chosen) for p in page.items], next_cursor=page.next_cursor)


@get("/products/{product_id:str}", responses=error_responses(400, 401, 404, 503))
async def get_product(
    product_id: FromPath[str],
    business_id: BusinessId,
    catalog: Catalog,
    language: Annotated[str | None, LANGUAGE] = None,
) -> ProductView:
    """One product of this business's catalog."""
    chosen = price_language(language)
    readable = len(product_id) <= MAX_ID_LENGTH and "\x00" not in product_id
    found = await catalog.product(business_id, product_id) if readable else None
    if found is None:
        raise ApiError("not_found", "This business has no product with that id.")
    return _view(found, chosen)


CATALOG_HANDLERS: Final = (list_products, get_product)


def _view(item: CatalogProduct, language: Language) -> ProductView:
    p = item.product
    return ProductView(
        id=p.product_id,
        name=p.name,
        description=p.description,
        price=p.price,
        currency=p.currency,
        price_text=format_amount(p.price, p.currency, language),
        stock=p.stock,
        in_stock=p.in_stock,
        image_url=p.image_url,
        retailer_id=p.retailer_id,
        category=p.category,
        updated_at=item.updated_at,
    )
