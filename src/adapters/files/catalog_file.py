"""Catalog files as people export them: CSV from a spreadsheet, or JSON.

CSV: UTF-8 with or without a byte order mark; ``,`` or ``;`` (or tab) between values,
whichever the header line uses; header names trimmed and compared without case; quoted
values may hold line breaks. Row numbers are the spreadsheet's: the header is row 1.
JSON: an array of objects, or an object whose ``products`` is one; item 1 is row 1.

A problem with the file as a whole (not UTF-8, a required column missing, nothing in
it, the wrong JSON shape, too large) raises ``CatalogFileError``: nothing is imported.
A problem with one row is left to the row's check (``domain.catalog.product_from_row``),
except a JSON item that is not an object, which is a rejected row here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from domain.catalog import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, RejectedRow

Format = Literal["csv", "json"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "json")
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
MAX_ROWS: Final = 50_000
_DELIMITERS: Final = (",", ";", "\t")
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


class CatalogFileError(Exception):
    """The file cannot be imported at all; the message says why and what to do."""


Row = tuple[int, Mapping[str, object] | RejectedRow]  # a row unreadable as a row: rejected


@dataclass(frozen=True, slots=True)
class CatalogRows:
    format: Format
    rows: list[Row]  # in file order, numbered as people count
    ignored_columns: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.rows)


def read_catalog_file(
    path: Path, format: Format | None = None, max_bytes: int = MAX_FILE_BYTES
) -> CatalogRows:
    chosen = format or format_of(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CatalogFileError(
                f"{path.name} is {size / 1024 / 1024:.1f} MiB; a catalog file may be at most "
                f"{max_bytes // 1024 // 1024} MiB: split it, and import the parts without --replace"
            )
        data = path.read_bytes()
    except OSError as error:
        raise CatalogFileError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_catalog(data, chosen, path.name)


def format_of(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return "csv" if suffix == "csv" else "json"
    raise CatalogFileError(
        f"{path.name}: cannot tell the format from the extension {path.suffix or '(none)'!r};"
        " name the file .csv or .json, or give --format csv|json"
    )


def parse_catalog(data: bytes, format: Format, name: str = "the file") -> CatalogRows:
    text = _utf8(data, name)
    if not text.strip():
        raise CatalogFileError(f"{name} is empty: it has no products")
    rows = _csv_rows(text, name) if format == "csv" else _json_rows(text, name)
    if rows.count == 0:
        raise CatalogFileError(f"{name} has no products, only a header")
    if rows.count > MAX_ROWS:
        raise CatalogFileError(
            f"{name} has {rows.count:,} products; at most {MAX_ROWS:,} per file: split it, and"
            " import the parts without --replace"
        )
    return rows


def _utf8(data: bytes, name: str) -> str:
    if data.startswith(_UTF16_BOMS):
        raise CatalogFileError(
            f"{name} is UTF-16 text, not UTF-8: save it as UTF-8 (in a spreadsheet: CSV UTF-8)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        raise CatalogFileError(
            f"{name} is not UTF-8: byte 0x{byte:02x} at line {line}, column {column} (byte"
            f" {error.start + 1} of the file) cannot be read; save it as UTF-8 (in a"
            " spreadsheet: CSV UTF-8) and import it again"
        ) from None


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(text: str, name: str) -> CatalogRows:
    header_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = max(_DELIMITERS, key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = list(reader)
    except csv.Error as error:
        raise CatalogFileError(
            f"{name} is not readable as CSV near line {reader.line_num}: {error}"
        ) from None
    numbered = [(n, r) for n, r in enumerate(records, start=1) if any(c.strip() for c in r)]
    if not numbered:
        raise CatalogFileError(f"{name} is empty: it has no header and no products")
    header = [cell.strip().lower() for cell in numbered[0][1]]
    _check_header(header, name)
    rows: list[Row] = []
    for number, record in numbered[1:]:  # empty rows (spreadsheets export some) are skipped
        if any(cell.strip() for cell in record[len(header) :]):
            reason = f"row has {len(record)} values but the header names {len(header)} columns"
            rows.append((number, RejectedRow(number, reason)))
            continue
        rows.append((number, {column: cell for column, cell in zip(header, record, strict=False)
                              if column}))  # fmt: skip
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    ignored = tuple(c for c in header if c and c not in known)
    return CatalogRows("csv", rows, ignored)


def _check_header(header: list[str], name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        found = ", ".join(c for c in header if c) or "none"
        raise CatalogFileError(
            f"{name} lacks the required column(s) {', '.join(missing)} in its header (row 1);"
            f" found: {found}. Columns: {', '.join(REQUIRED_COLUMNS)}, optionally"
            f" {', '.join(OPTIONAL_COLUMNS)}"
        )
    twice = sorted({c for c in header if c and header.count(c) > 1})
    if twice:
        raise CatalogFileError(f"{name} names the column(s) {', '.join(twice)} twice in its header")


# --- JSON --------------------------------------------------------------------------------------


def _json_rows(text: str, name: str) -> CatalogRows:
    try:
        # Decimal numbers stay the text they were written as: a price is never a float.
        document = json.loads(text, parse_float=str)
    except json.JSONDecodeError as error:
        raise CatalogFileError(
            f"{name} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    items = document.get("products") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise CatalogFileError(
            f'{name} must hold a JSON array of products, or an object with a "products" array'
        )
    rows: list[Row] = []
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    ignored: set[str] = set()
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            kind = "an array" if isinstance(item, list) else type(item).__name__
            kind = {"str": "text", "NoneType": "null", "int": "a number"}.get(kind, kind)
            reason = f"item is {kind}, not an object with id, name, price, ..."
            rows.append((number, RejectedRow(number, reason)))
            continue
        values = {str(k).strip().lower(): v for k, v in item.items()}
        missing = [c for c in REQUIRED_COLUMNS if c not in values]
        if missing:
            product_id = values.get("id")
            known_id = str(product_id).strip() if isinstance(product_id, str | int) else ""
            reason = f'missing {", ".join(missing)} (an empty value is written "")'
            rows.append((number, RejectedRow(number, reason, known_id or None)))
            continue
        ignored.update(k for k in values if k not in known)
        rows.append((number, values))
    return CatalogRows("json", rows, tuple(sorted(ignored)))
