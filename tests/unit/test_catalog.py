"""Catalog rows are checked one by one; an import changes only what differs."""

from __future__ import annotations

from typing import Any

import pytest

from domain.catalog import (
    ImportPlan,
    Product,
    ProductListed,
    ProductRemoved,
    RejectedRow,
    catalog_event_id,
    catalog_of,
    import_events,
    plan_import,
    product_from_row,
)

ROW: dict[str, Any] = {
    "id": "tee-1",
    "name": "T-shirt  bleu",
    "description": "Coton bio",
    "price": "19.90",
    "currency": "eur",
    "stock": "12",
}


def product(**changes: Any) -> Product:
    checked = product_from_row({**ROW, **changes}, 2)
    assert isinstance(checked, Product), checked
    return checked


def rejection(**changes: Any) -> str:
    checked = product_from_row({**ROW, **changes}, 7)
    assert isinstance(checked, RejectedRow), checked
    assert checked.row == 7
    return checked.reason


def test_a_good_row_becomes_a_product_with_its_price_in_cents() -> None:
    tee = product(image_url="https://shop.example/tee.jpg", category="  Vêtements ")
    assert tee == Product(
        product_id="tee-1",
        name="T-shirt bleu",
        description="Coton bio",
        price=1990,
        currency="EUR",
        stock=12,
        image_url="https://shop.example/tee.jpg",
        category="Vêtements",
    )
    assert tee.in_stock
    assert not product(stock="0").in_stock


def test_json_numbers_are_taken_but_never_a_floating_price() -> None:
    assert product(price=20, stock=3).price == 2000
    assert "not a floating number" in rejection(price=19.9)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": "19.999"}, 'price "19.999" has too many decimal places'),
        ({"price": "abc"}, 'price "abc" is not an amount'),
        ({"price": ""}, "price is required"),
        ({"currency": "EURO"}, 'currency "EURO" is not an ISO 4217 currency code'),
        ({"currency": " "}, "currency is required"),
        ({"stock": "-1"}, 'stock "-1" must be a whole number, 0 or more'),
        ({"stock": "2.5"}, "must be a whole number"),
        ({"name": "   "}, "name is required and must not be blank"),
        ({"id": ""}, "id is required"),
        ({"image_url": "javascript:alert(1)"}, "must be an http(s) address"),
        ({"name": "x" * 201}, "name is 201 characters long, at most 200"),
        ({"stock": True}, "is not text"),
        ({"category": ["a"]}, "must be text or a number"),
        ({"name": "Mug\x00"}, "holds the control character U+0000"),
        ({"description": "a\x1bb"}, "holds the control character U+001B"),
    ],
)
def test_a_bad_row_is_rejected_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    assert reason in rejection(**changes)


def test_an_import_adds_updates_and_leaves_alone() -> None:
    current = {"tee-1": product(), "cap-1": product(id="cap-1", name="Casquette")}
    rows = [
        (2, product()),  # unchanged
        (3, product(id="cap-1", name="Casquette", stock="0")),  # updated
        (4, product(id="mug-1", name="Mug")),  # added
    ]
    plan = plan_import(current, rows, replace=False)
    assert plan.unchanged == ("tee-1",)
    assert [p.product_id for p in plan.updated] == ["cap-1"]
    assert [p.product_id for p in plan.added] == ["mug-1"]
    assert plan.removed == ()
    assert plan.rejected == ()
    assert plan.changes


def test_the_same_file_twice_changes_nothing() -> None:
    rows = [(2, product()), (3, product(id="mug-1"))]
    first = plan_import({}, rows, replace=True)
    after = catalog_of(import_events("b1", first))
    again = plan_import(after, rows, replace=True)
    assert again == ImportPlan(unchanged=("tee-1", "mug-1"))
    assert not again.changes
    assert import_events("b1", again) == []


def test_replace_removes_what_the_file_no_longer_lists_but_not_a_rejected_row() -> None:
    current = {
        "tee-1": product(),
        "cap-1": product(id="cap-1"),
        "mug-1": product(id="mug-1"),
    }
    rows = [(2, product()), (3, product_from_row({**ROW, "id": "cap-1", "price": "x"}, 3))]
    plan = plan_import(current, rows, replace=True)
    assert plan.removed == ("mug-1",)  # cap-1's row was refused: it stays as it was
    assert [r.row for r in plan.rejected] == [3]
    assert plan_import(current, rows, replace=False).removed == ()


def test_a_second_row_with_the_same_id_is_rejected_and_the_first_wins() -> None:
    rows = [(2, product(stock="1")), (3, product(stock="2"))]
    plan = plan_import({}, rows, replace=False)
    assert [p.stock for p in plan.added] == [1]
    assert plan.rejected == (RejectedRow(3, 'id "tee-1" is listed twice: first on row 2', "tee-1"),)


def test_a_catalog_is_the_fold_of_its_events() -> None:
    tee, mug = product(), product(id="mug-1")
    events = [
        ProductListed(business_id="b1", product=tee),
        ProductListed(business_id="b1", product=mug),
        ProductListed(business_id="b1", product=product(stock="0")),
        ProductRemoved(business_id="b1", product_id="mug-1"),
    ]
    assert catalog_of(events) == {"tee-1": product(stock="0")}


def test_replace_removes_nothing_while_a_rejected_row_has_no_id() -> None:
    current = {"tee-1": product(), "mug-1": product(id="mug-1")}
    rows = [(2, product()), (3, product_from_row({**ROW, "id": " "}, 3))]
    plan = plan_import(current, rows, replace=True)
    assert plan.removed == ()
    assert plan.withheld == ("mug-1",)
    assert not plan.changes


def test_event_ids_name_the_version_and_the_content() -> None:
    listed = ProductListed(business_id="b1", product=product())
    changed = ProductListed(business_id="b1", product=product(stock="3"))
    assert catalog_event_id("b1", 4, listed) == catalog_event_id("b1", 4, listed)
    assert catalog_event_id("b1", 4, listed) != catalog_event_id("b1", 5, listed)
    # Another import decided at the same version is not taken for this one's retry.
    assert catalog_event_id("b1", 4, listed) != catalog_event_id("b1", 4, changed)
