"""Catalog imports through the service, on the in-memory event store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from adapters.memory.event_store import InMemoryEventStore
from application.catalog import CatalogError, CatalogImporter, Row, check_rows
from application.codec import EventCodec
from application.event_log import ANY, AppendResult, ExpectedVersion, NewEvent
from domain.catalog import (
    ProductListed,
    RejectedRow,
    catalog_event_id,
    catalog_stream,
    import_events,
    plan_import,
    product_from_row,
)
from domain.event_types import EVENT_TYPES


def values(product_id: str, **changes: str) -> dict[str, object]:
    return {"id": product_id, "name": f"Product {product_id}", "description": "",
            "price": "10.00", "currency": "EUR", "stock": "4", **changes}  # fmt: skip


def numbered(*rows: dict[str, object] | RejectedRow) -> list[Row]:
    return list(enumerate(rows, start=2))


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(EventCodec(EVENT_TYPES))


async def versions(store: InMemoryEventStore, business_id: str = "acme") -> int:
    return await store.stream_version(catalog_stream(business_id))


async def test_the_report_counts_each_outcome_and_a_rejected_row_changes_nothing(
    store: InMemoryEventStore,
) -> None:
    importer = CatalogImporter(store)
    await importer.import_rows("acme", numbered(values("a"), values("b")))

    report = await importer.import_rows("acme", numbered(
        values("a"),  # unchanged
        values("b", price="12.5"),  # updated
        values("c"),  # added
        values("d", price="1.999"),  # rejected
        values("c", name="Again"),  # rejected: listed twice
    ))  # fmt: skip

    assert (report.rows, report.added, report.updated, report.unchanged) == (5, 1, 1, 1)
    assert [(r.row, r.reason) for r in report.rejected] == [
        (5, 'price "1.999" has too many decimal places: EUR takes at most 2 decimal places'),
        (6, 'id "c" is listed twice: first on row 4'),
    ]
    assert not report.all_taken
    products = await importer.products("acme")
    assert sorted(products) == ["a", "b", "c"]
    assert products["b"].price == 1250
    assert products["c"].name == "Product c"


async def test_the_same_file_again_appends_nothing(store: InMemoryEventStore) -> None:
    importer = CatalogImporter(store)
    rows = numbered(values("a"), values("b"))
    first = await importer.import_rows("acme", rows)
    version = await versions(store)

    again = await importer.import_rows("acme", rows)

    assert first.added == 2
    assert first.last_position is not None
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    assert again.last_position is None
    assert await versions(store) == version == 2


async def test_replace_removes_what_the_file_no_longer_lists(store: InMemoryEventStore) -> None:
    importer = CatalogImporter(store)
    await importer.import_rows("acme", numbered(values("a"), values("b"), values("c")))
    await importer.import_rows("globex", numbered(values("a")))

    kept = await importer.import_rows("acme", numbered(values("a")))
    replaced = await importer.import_rows("acme", numbered(values("a")), replace=True)

    assert kept.removed == 0
    assert replaced.removed == 2
    assert sorted(await importer.products("acme")) == ["a"]
    assert sorted(await importer.products("globex")) == ["a"]  # another business: untouched


async def test_replace_keeps_everything_while_a_rejected_row_has_no_id(
    store: InMemoryEventStore,
) -> None:
    importer = CatalogImporter(store)
    await importer.import_rows("acme", numbered(values("a"), values("b")))

    report = await importer.import_rows(
        "acme", numbered(values("a"), RejectedRow(3, "item is text")), replace=True
    )

    assert (report.removed, report.withheld) == (0, 1)
    assert sorted(await importer.products("acme")) == ["a", "b"]


async def test_a_dry_run_reports_and_changes_nothing(store: InMemoryEventStore) -> None:
    importer = CatalogImporter(store)
    report = await importer.import_rows("acme", numbered(values("a")), dry_run=True)
    assert report.added == 1
    assert report.dry_run
    assert await versions(store) == 0


async def test_progress_is_reported_while_rows_are_checked(store: InMemoryEventStore) -> None:
    seen: list[tuple[str, int, int]] = []
    rows = numbered(*(values(f"p{n}") for n in range(1200)))
    report = await CatalogImporter(store).import_rows(
        "acme", rows, progress=lambda *step: seen.append(step)
    )
    assert seen == [
        ("checking", 500, 1200), ("checking", 1000, 1200), ("checking", 1200, 1200),
        ("storing", 0, 1200), ("storing", 1200, 1200),
    ]  # fmt: skip
    assert report.events == 1200


class RacingStore(InMemoryEventStore):
    """Another import lands on the catalog just before each of the first ``races`` appends."""

    def __init__(self, races: int) -> None:
        super().__init__(EventCodec(EVENT_TYPES))
        self.races = races

    async def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        if self.races > 0:
            self.races -= 1
            product = product_from_row(values(f"other-{self.races}"), 2)
            assert not isinstance(product, RejectedRow)
            other = ProductListed(business_id="acme", product=product)
            await super().append(stream_id, [NewEvent(other, uuid.uuid4())])
        return await super().append(stream_id, events, expected_version)


async def test_an_import_racing_another_is_decided_again_once() -> None:
    store = RacingStore(races=1)
    report = await CatalogImporter(store).import_rows("acme", numbered(values("a")), replace=True)
    products = await CatalogImporter(store).products("acme")
    assert report.added == 1
    assert report.removed == 1  # decided again: the other import's product is not in the file
    assert sorted(products) == ["a"]


async def test_an_import_losing_two_races_is_refused_and_changes_nothing() -> None:
    store = RacingStore(races=2)
    with pytest.raises(CatalogError, match="changed by another import"):
        await CatalogImporter(store).import_rows("acme", numbered(values("a")))
    assert "a" not in await CatalogImporter(store).products("acme")


async def test_an_import_retried_after_a_lost_answer_is_stored_once(
    store: InMemoryEventStore,
) -> None:
    plan = plan_import({}, check_rows(numbered(values("a"), values("b"))), replace=False)
    events = [NewEvent(e, catalog_event_id("acme", 0, e)) for e in import_events("acme", plan)]
    await store.append(catalog_stream("acme"), events, 0)
    retried = await store.append(catalog_stream("acme"), events, 0)
    assert retried.is_duplicate
    assert await versions(store) == 2
