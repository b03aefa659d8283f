"""A business's catalog: products, the rules an imported row must follow, and what an
import changes.

A catalog is one stream per business; its events say which products were added, changed
or removed. An import is decided against the catalog as it stands: each row is checked on
its own (a rejected row changes nothing), rows equal to the stored product change
nothing, and with ``replace`` the products absent from the file are removed (a product
whose row was rejected is not absent: it stays as it was; while a rejected row has no
readable id, nothing is removed, since that row may be any of them).
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import msgspec

from domain.events import DomainEvent, deterministic_event_id
from domain.money import MoneyError, minor_digits, parse_amount

CATALOG_STREAM_PREFIX: Final = "catalog-"
REQUIRED_COLUMNS: Final = ("id", "name", "description", "price", "currency", "stock")
OPTIONAL_COLUMNS: Final = ("image_url", "retailer_id", "category")
MAX_ID_LENGTH: Final = 100
MAX_NAME_LENGTH: Final = 200
MAX_DESCRIPTION_LENGTH: Final = 2000
MAX_CATEGORY_LENGTH: Final = 100
MAX_URL_LENGTH: Final = 2000
MAX_STOCK: Final = 1_000_000_000


def catalog_stream(business_id: str) -> str:
    return f"{CATALOG_STREAM_PREFIX}{business_id}"


class Product(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A product as the business lists it; ``price`` in the currency's minor unit."""

    product_id: str
    name: str
    description: str
    price: int
    currency: str
    stock: int
    image_url: str | None = None
    retailer_id: str | None = None
    category: str | None = None

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ProductListed(DomainEvent, frozen=True, kw_only=True, tag="catalog.product_listed"):
    """A product added to the catalog, or changed: the product as it now stands."""

    business_id: str
    product: Product


class ProductRemoved(DomainEvent, frozen=True, kw_only=True, tag="catalog.product_removed"):
    business_id: str
    product_id: str


CATALOG_EVENTS: Final = (ProductListed, ProductRemoved)


def catalog_of(events: Iterable[DomainEvent]) -> dict[str, Product]:
    """The products a catalog stream leaves, by id."""
    products: dict[str, Product] = {}
    for event in events:
        if isinstance(event, ProductListed):
            products[event.product.product_id] = event.product
        elif isinstance(event, ProductRemoved):
            products.pop(event.product_id, None)
    return products


# --- checking imported rows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row: int  # as people count: the first data row of a CSV file is row 2, after its header
    reason: str
    product_id: str | None = None


def product_from_row(values: Mapping[str, object], row: int) -> Product | RejectedRow:
    """A product from one row of an import file, or why the row is refused."""
    product_id = _text(values.get("id"))
    try:
        return _product(values, product_id)
    except _RowError as error:
        return RejectedRow(row, str(error), product_id or None)


class _RowError(ValueError):
    pass


def _product(values: Mapping[str, object], product_id: str) -> Product:
    _require(product_id, "id")
    _at_most(product_id, MAX_ID_LENGTH, "id")
    name = _text(values.get("name"))
    _require(name, "name")
    _at_most(name, MAX_NAME_LENGTH, "name")
    description = _text(values.get("description"))
    _at_most(description, MAX_DESCRIPTION_LENGTH, "description")
    currency = _currency(_text(values.get("currency")))
    return Product(
        product_id=product_id,
        name=name,
        description=description,
        price=_price(values.get("price"), currency),
        currency=currency,
        stock=_stock(values.get("stock")),
        image_url=_image_url(_text(values.get("image_url"))),
        retailer_id=_optional(values.get("retailer_id"), "retailer_id", MAX_ID_LENGTH),
        category=_optional(values.get("category"), "category", MAX_CATEGORY_LENGTH),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise _RowError(f"{value!r} is not text")
    if isinstance(value, str | int | float):
        text = " ".join(str(value).split())
        control = next((c for c in text if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            raise _RowError(f"a value holds the control character U+{ord(control):04X}")
        return text
    raise _RowError(f"a value must be text or a number, not {type(value).__name__}")


def _require(value: str, column: str) -> None:
    if not value:
        raise _RowError(f"{column} is required and must not be blank")


def _at_most(value: str, limit: int, column: str) -> None:
    if len(value) > limit:
        raise _RowError(f"{column} is {len(value)} characters long, at most {limit}")


def _price(value: object, currency: str) -> int:
    if isinstance(value, float):
        raise _RowError("price must be written as text or an integer, not a floating number")
    text = _text(value)
    _require(text, "price")
    try:
        return parse_amount(text, currency)
    except MoneyError as error:
        raise _RowError(f"price {error}") from None


def _currency(text: str) -> str:
    _require(text, "currency")
    currency = text.upper()
    try:
        minor_digits(currency)
    except MoneyError as error:
        raise _RowError(f"currency {error}") from None
    return currency


def _stock(value: object) -> int:
    text = _text(value)
    _require(text, "stock")
    if not text.isdigit() or not text.isascii():
        raise _RowError(f'stock "{text}" must be a whole number, 0 or more')
    stock = int(text)
    if stock > MAX_STOCK:
        raise _RowError(f"stock {stock} is more than {MAX_STOCK}")
    return stock


def _image_url(text: str) -> str | None:
    if not text:
        return None
    _at_most(text, MAX_URL_LENGTH, "image_url")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _RowError(f'image_url "{text}" must be an http(s) address')
    return text


def _optional(value: object, column: str, limit: int) -> str | None:
    text = _text(value)
    _at_most(text, limit, column)
    return text or None


# --- deciding an import ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import changes, and why some rows change nothing."""

    added: tuple[Product, ...] = ()
    updated: tuple[Product, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rejected: tuple[RejectedRow, ...] = ()
    # absent from the file, but kept: a rejected row without a readable id may be theirs
    withheld: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(slots=True)
class _Planning:
    current: Mapping[str, Product]
    seen: dict[str, int] = field(default_factory=dict)  # id -> the row that listed it
    added: list[Product] = field(default_factory=list)
    updated: list[Product] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)

    def take(self, checked: Product | RejectedRow, row: int) -> None:
        if isinstance(checked, RejectedRow):
            self.rejected.append(checked)
            if checked.product_id is not None:
                self.seen.setdefault(checked.product_id, row)
            return
        first = self.seen.get(checked.product_id)
        if first is not None:
            reason = f'id "{checked.product_id}" is listed twice: first on row {first}'
            self.rejected.append(RejectedRow(row, reason, checked.product_id))
            return
        self.seen[checked.product_id] = row
        stored = self.current.get(checked.product_id)
        if stored is None:
            self.added.append(checked)
        elif stored == checked:
            self.unchanged.append(checked.product_id)
        else:
            self.updated.append(checked)


def plan_import(
    current: Mapping[str, Product],
    rows: Sequence[tuple[int, Product | RejectedRow]],
    *,
    replace: bool,
) -> ImportPlan:
    """What importing ``rows`` (row number, checked row) into ``current`` changes.

    A second row with an id already listed in the file is refused (the first one wins).
    """
    planning = _Planning(current)
    for row, checked in rows:
        planning.take(checked, row)
    absent = tuple(sorted(set(current) - set(planning.seen))) if replace else ()
    anonymous = any(rejected.product_id is None for rejected in planning.rejected)
    return ImportPlan(
        added=tuple(planning.added),
        updated=tuple(planning.updated),
        unchanged=tuple(planning.unchanged),
        removed=() if anonymous else absent,
        rejected=tuple(planning.rejected),
        withheld=absent if anonymous else (),
    )


def import_events(business_id: str, plan: ImportPlan) -> list[ProductListed | ProductRemoved]:
    listed = [ProductListed(business_id=business_id, product=p) for p in plan.added]
    listed += [ProductListed(business_id=business_id, product=p) for p in plan.updated]
    removed = [ProductRemoved(business_id=business_id, product_id=p) for p in plan.removed]
    return [*listed, *removed]


def catalog_event_id(
    business_id: str, version: int, event: ProductListed | ProductRemoved
) -> uuid.UUID:
    """An import's events are named by the catalog version it was decided at and by what
    they say: an import retried after a lost answer cannot be stored twice, and another
    import decided at the same version (with other content) is refused by the expected
    version rather than mistaken for a duplicate."""
    fingerprint = hashlib.sha256(msgspec.json.encode(event)).hexdigest()
    return deterministic_event_id("catalog", business_id, str(version), fingerprint)
