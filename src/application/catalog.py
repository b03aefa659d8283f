"""A business's catalog: importing a file's rows as events, and the port that searches it.

An import reads the catalog stream, checks every row, decides what changes
(``domain.catalog.plan_import``) and appends those events at the version it read. An
import racing another one for the same business is decided again once from a fresh
read; if the catalog moved again meanwhile, it is refused and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from application.event_log import ConcurrencyError, FeedPosition, NewEvent
from application.ports import EventStore
from domain.catalog import (
    ImportPlan,
    Product,
    ProductListed,
    ProductRemoved,
    RejectedRow,
    catalog_event_id,
    catalog_of,
    catalog_stream,
    import_events,
    plan_import,
    product_from_row,
)

PROGRESS_EVERY: Final = 500  # rows checked between two progress reports
DEFAULT_SEARCH_LIMIT: Final = 20

# The row's number as people count it, and its values (or why the file reader refused it).
Row = tuple[int, Mapping[str, object] | RejectedRow]
# What an import is doing: "checking" rows (done of the file's), then "storing" changes.
Progress = Callable[[str, int, int], None]


class CatalogError(Exception):
    """An import that cannot go on; nothing was changed. The message says why."""


# --- importing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    added: int
    updated: int
    unchanged: int
    removed: int
    rejected: tuple[RejectedRow, ...]
    withheld: int  # products --replace would have removed, kept because of a row without id
    dry_run: bool
    last_position: FeedPosition | None  # where the appended events are; None when none were
    events: int = 0  # appended

    @property
    def all_taken(self) -> bool:
        return not self.rejected


def _no_progress(_: str, __: int, ___: int) -> None:
    return None


class CatalogImporter:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def import_rows(
        self,
        business_id: str,
        rows: Sequence[Row],
        *,
        replace: bool = False,
        dry_run: bool = False,
        progress: Progress = _no_progress,
    ) -> ImportReport:
        checked = check_rows(rows, progress)
        for attempt in (1, 2):
            version, current = await self._catalog(business_id)
            plan = plan_import(current, checked, replace=replace)
            if dry_run or not plan.changes:
                return _report(len(rows), plan, dry_run, None)
            events = import_events(business_id, plan)
            progress("storing", 0, len(events))
            try:
                result = await self._store.append(
                    catalog_stream(business_id), _named(business_id, version, events), version
                )
            except ConcurrencyError:
                if attempt == 2:
                    raise CatalogError(
                        f"the catalog of business {business_id!r} was changed by another import"
                        " while this one was stored; nothing was changed: run it again"
                    ) from None
                continue
            progress("storing", len(events), len(events))
            return _report(len(rows), plan, dry_run, result.last_position, result.appended)
        raise AssertionError("unreachable")

    async def products(self, business_id: str) -> dict[str, Product]:
        """The catalog as its stream has it (not the read model), by product id."""
        return (await self._catalog(business_id))[1]

    async def _catalog(self, business_id: str) -> tuple[int, dict[str, Product]]:
        recorded = await self._store.read_stream(catalog_stream(business_id))
        version = recorded[-1].version if recorded else 0
        return version, catalog_of(r.event for r in recorded)


def check_rows(
    rows: Sequence[Row], progress: Progress = _no_progress
) -> list[tuple[int, Product | RejectedRow]]:
    checked: list[tuple[int, Product | RejectedRow]] = []
    total = len(rows)
    for done, (number, values) in enumerate(rows, start=1):
        if isinstance(values, RejectedRow):
            checked.append((number, values))
        else:
            checked.append((number, product_from_row(values, number)))
        if done % PROGRESS_EVERY == 0:
            progress("checking", done, total)
    progress("checking", total, total)
    return checked


def _named(
    business_id: str, version: int, events: Sequence[ProductListed | ProductRemoved]
) -> list[NewEvent]:
    return [NewEvent(e, catalog_event_id(business_id, version, e)) for e in events]


def _report(
    rows: int, plan: ImportPlan, dry_run: bool, position: FeedPosition | None, events: int = 0
) -> ImportReport:
    return ImportReport(
        rows=rows,
        added=len(plan.added),
        updated=len(plan.updated),
        unchanged=len(plan.unchanged),
        removed=len(plan.removed),
        rejected=plan.rejected,
        withheld=len(plan.withheld),
        dry_run=dry_run,
        last_position=position,
        events=events,
    )


# --- reading (the read model's port) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A product as the read model holds it: the product, and when it last changed."""

    business_id: str
    product: Product
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: list[CatalogProduct]
    next_cursor: str | None  # None on the last page


class CatalogQueries(Protocol):
    """The products read model, always within one business.

    ``search`` with no text (or None) lists the products by name. With text, only
    products matching at least one of the customer's words come back, best first:
    those matching more of the words (accents and case ignored, French and English
    plurals and stems, synonyms, a long enough beginning of a word) before fewer,
    in stock before out of stock, then by how well they match; products found only
    by a resemblance to a misspelled or cut word come after every full match.
    Text without a searchable word (only "de la", say) finds nothing.
    """

    async def search(
        self,
        business_id: str,
        text: str | None = None,
        *,
        limit: int = DEFAULT_SEARCH_LIMIT,
        in_stock_only: bool = False,
        cursor: str | None = None,
    ) -> ProductPage:
        """Raises ``application.read_models.QueryError`` for a cursor it did not give."""
        ...

    async def product(self, business_id: str, product_id: str) -> CatalogProduct | None: ...
