"""What catalog events change in the products read model, decided without I/O.

Each event carries the whole product (or its removal), so a batch only needs the last
word on each product: no stored state is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from application.catalog import CatalogProduct
from application.event_log import RecordedEvent
from domain.catalog import ProductListed, ProductRemoved


class ProductKey(NamedTuple):
    business_id: str
    product_id: str


def product_changes(events: Iterable[RecordedEvent]) -> dict[ProductKey, CatalogProduct | None]:
    """The products the batch changes as they are after it; None for a removed one."""
    changes: dict[ProductKey, CatalogProduct | None] = {}
    for recorded in events:
        event = recorded.event
        if isinstance(event, ProductListed):
            key = ProductKey(event.business_id, event.product.product_id)
            changes[key] = CatalogProduct(event.business_id, event.product, recorded.recorded_at)
        elif isinstance(event, ProductRemoved):
            changes[ProductKey(event.business_id, event.product_id)] = None
    return changes
