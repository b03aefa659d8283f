"""Catalog files as spreadsheets and scripts write them, and the broken ones people send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.files.catalog_file import (
    MAX_ROWS,
    CatalogFileError,
    format_of,
    parse_catalog,
    read_catalog_file,
)
from domain.catalog import RejectedRow

HEADER = "id,name,description,price,currency,stock"


def csv_rows(text: str | bytes) -> list[tuple[int, object]]:
    data = text.encode() if isinstance(text, str) else text
    return list(parse_catalog(data, "csv", "catalog.csv").rows)


def refusal(data: bytes, format: str = "csv") -> str:
    with pytest.raises(CatalogFileError) as refused:
        parse_catalog(data, "csv" if format == "csv" else "json", "catalog." + format)
    return str(refused.value)


def test_a_plain_csv_file_gives_rows_numbered_as_a_spreadsheet_shows_them() -> None:
    rows = csv_rows(f"{HEADER}\ntee-1,T-shirt,Coton,19.90,EUR,3\nmug-1,Mug,,8,EUR,0\n")
    assert rows == [
        (2, {"id": "tee-1", "name": "T-shirt", "description": "Coton", "price": "19.90",
             "currency": "EUR", "stock": "3"}),
        (3, {"id": "mug-1", "name": "Mug", "description": "", "price": "8", "currency": "EUR",
             "stock": "0"}),
    ]  # fmt: skip


def test_a_spreadsheet_export_with_bom_semicolons_and_odd_header_is_read() -> None:
    data = (
        "\ufeff ID ;Name;Description;PRICE;Currency;Stock;Category\r\n"
        'tee-1;"T-shirt; bleu";"Coton\r\nbio";19,90;eur;3;Vêtements\r\n'
        ";;;;;;\r\n"  # an empty row a spreadsheet exports
        "mug-1;Mug;;8;EUR;0;\r\n"
    ).encode()
    rows = csv_rows(data)
    assert [n for n, _ in rows] == [2, 4]  # the quoted line break keeps row 2 one row
    first = rows[0][1]
    assert isinstance(first, dict)
    assert first["name"] == "T-shirt; bleu"
    assert first["description"] == "Coton\r\nbio"
    assert first["price"] == "19,90"
    assert first["category"] == "Vêtements"


def test_unknown_columns_are_named_and_ignored() -> None:
    read = parse_catalog(f"{HEADER},colour\nt,T,,1,EUR,1,red\n".encode(), "csv")
    assert read.ignored_columns == ("colour",)


def test_a_row_with_more_values_than_the_header_is_rejected_not_guessed() -> None:
    rows = csv_rows(f"{HEADER}\ntee-1,T-shirt,Coton,19,90,EUR,3\n")
    assert rows == [(2, RejectedRow(2, "row has 7 values but the header names 6 columns"))]


def test_missing_columns_refuse_the_file_and_are_named() -> None:
    message = refusal(b"id,name,price\ntee-1,T,1\n")
    assert "lacks the required column(s) description, currency, stock" in message
    assert "found: id, name, price" in message


def test_a_column_named_twice_refuses_the_file() -> None:
    assert "names the column(s) price twice" in refusal(f"{HEADER},price\n".encode())


def test_a_latin_1_file_is_refused_with_where_and_what_to_do() -> None:
    data = f"{HEADER}\ntee-1,T-shirt,Coton,19.90,EUR,3\nrobe-1,Robe d'été,,30,EUR,1\n"
    message = refusal(data.encode("latin-1"))
    assert "is not UTF-8: byte 0xe9 at line 3, column 15" in message
    assert "save it as UTF-8" in message


def test_utf16_empty_and_header_only_files_are_refused() -> None:
    assert "UTF-16" in refusal(HEADER.encode("utf-16"))
    assert "is empty" in refusal(b"  \n\n")
    assert "is empty" in refusal(b',,,\n""\n')  # cells, none with anything in it
    assert "only a header" in refusal(f"{HEADER}\n,,,\n".encode())


def test_a_broken_quote_is_refused_with_its_line() -> None:
    message = refusal(f'{HEADER}\ntee-1,"T-shirt,Coton,19.90,EUR,3\n'.encode())
    assert "not readable as CSV" in message


def test_json_arrays_and_products_objects_keep_prices_as_written() -> None:
    item = {"id": "tee-1", "name": "T", "description": "", "price": 19.90, "currency": "EUR",
            "stock": 3}  # fmt: skip
    as_array = parse_catalog(json.dumps([item]).encode(), "json").rows
    as_object = parse_catalog(json.dumps({"products": [item]}).encode(), "json").rows
    assert as_array == as_object
    ((number, values),) = as_array
    assert number == 1
    assert isinstance(values, dict)
    assert values["price"] == "19.9"  # the number's text: never a float
    assert values["stock"] == 3


def test_a_json_item_that_is_not_an_object_or_lacks_keys_is_a_rejected_row() -> None:
    good = {"id": "a", "name": "A", "description": "", "price": "1", "currency": "EUR",
            "stock": 1}  # fmt: skip
    partial = {"id": "b", "name": "B", "price": "1"}
    rows = parse_catalog(json.dumps([good, "oops", None, [1], partial]).encode(), "json").rows
    assert rows[0][0] == 1
    assert rows[1:] == [
        (2, RejectedRow(2, "item is text, not an object with id, name, price, ...")),
        (3, RejectedRow(3, "item is null, not an object with id, name, price, ...")),
        (4, RejectedRow(4, "item is an array, not an object with id, name, price, ...")),
        (5, RejectedRow(5, 'missing description, currency, stock (an empty value is written "")',
                        "b")),
    ]  # fmt: skip


def test_json_of_the_wrong_shape_or_broken_is_refused() -> None:
    assert "must hold a JSON array of products" in refusal(b'{"items": []}', "json")
    assert "must hold a JSON array of products" in refusal(b"42", "json")
    assert "not valid JSON: Expecting" in refusal(b'[{"id": 1,]', "json")
    assert "line 1" in refusal(b'[{"id": 1,]', "json")
    assert "has no products" in refusal(b"[]", "json")


def test_too_many_rows_or_bytes_refuse_the_file(tmp_path: Path) -> None:
    many = HEADER + "\n" + "x,X,,1,EUR,1\n" * (MAX_ROWS + 1)
    assert f"at most {MAX_ROWS:,} per file" in refusal(many.encode())
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(CatalogFileError, match="a catalog file may be at most"):
        read_catalog_file(big, max_bytes=1024)


def test_the_format_comes_from_the_extension_or_is_asked_for(tmp_path: Path) -> None:
    assert format_of(Path("c.CSV")) == "csv"
    assert format_of(Path("c.json")) == "json"
    with pytest.raises(CatalogFileError, match=r"--format csv\|json"):
        format_of(Path("catalog.xlsx"))
    named = tmp_path / "export.txt"
    named.write_text(f"{HEADER}\na,A,,1,EUR,1\n")
    assert read_catalog_file(named, "csv").count == 1
    with pytest.raises(CatalogFileError, match="cannot read"):
        read_catalog_file(tmp_path / "missing.csv")
