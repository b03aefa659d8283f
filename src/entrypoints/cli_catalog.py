"""`wazybot catalog ...`: a business's products, imported from a file and listed or searched.

An import records what changes as events on the business's catalog stream; the products
projection makes them searchable (this command waits for it, running it itself when no
server does). Exit codes of `catalog import`: 0 when every row was taken, 1 when some
rows were rejected (the others are imported) or another import raced this one, 2 for bad
usage, an unknown business or a file refused as a whole (nothing is imported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Final, TextIO

from adapters.files.catalog_file import FORMATS, CatalogFileError, CatalogRows, read_catalog_file
from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.postgres.catalog import PostgresCatalog
from adapters.postgres.read_models import ProductsProjection
from application.catalog import CatalogError, CatalogImporter, CatalogProduct, ImportReport
from application.event_log import FeedPosition
from application.read_models import MAX_SEARCH_LENGTH
from domain.money import Language, format_amount
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, resolve, with_container
from entrypoints.projection_wait import wait_until_applied
from entrypoints.settings import Settings

PROJECTION_WAIT: Final = 60.0
LIST_PAGE: Final = 200
MAX_LIST: Final = 100_000
SHOW_PROGRESS_FROM: Final = 1000  # rows; smaller files are checked in a blink


class CatalogCommandError(Exception):
    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_catalog_commands(commands: Any) -> None:
    catalog = commands.add_parser("catalog", help="a business's products: import, list, search")
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    importing = sub.add_parser(
        "import",
        help="add and update products from a CSV or JSON file (see the README for the format)",
        description="Import products from FILE: columns id, name, description, price, currency,"
        " stock, optionally image_url, retailer_id, category. Each row is checked on its own: a"
        " rejected row changes nothing and is reported with its row number. Exit code 0 when"
        " every row was taken, 1 when some were rejected, 2 when nothing could be imported.",
    )
    importing.add_argument("file", metavar="FILE", help="a .csv or .json file")
    _business(importing)
    importing.add_argument("--replace", action="store_true",
                           help="also remove the products the file does not list")  # fmt: skip
    importing.add_argument("--format", choices=FORMATS, help="the file's format, when its"
                           " extension does not say it")  # fmt: skip
    importing.add_argument(
        "--dry-run", action="store_true",
        help="check the file and report what would change; change nothing",
    )  # fmt: skip
    importing.add_argument("--json", action="store_true", help="the report as one JSON object")
    importing.set_defaults(handler=_import, needs_args=True)
    listing = sub.add_parser("list", help="the business's products by name, or found by --search")
    _business(listing)
    listing.add_argument("--search", metavar="TEXT", help="words a customer would type: best"
                         " matches first")  # fmt: skip
    listing.add_argument("--in-stock", action="store_true", help="only products in stock")
    listing.add_argument("--limit", type=_limit, default=50, metavar="N",
                         help="at most N products (default 50)")  # fmt: skip
    listing.add_argument("--language", choices=("en", "fr"), default="en",
                         help="how prices are written (default en)")  # fmt: skip
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.set_defaults(handler=_list, needs_args=True)


def _business(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--business", required=True, metavar="ID", help="the business's id")


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LIST:,}")
    return int(raw)


async def _require_business(container: Container, business_id: str) -> None:
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    business = await registry.get(business_id)
    if business is None or business.removed_at is not None:
        raise CatalogCommandError(
            f"no active business {business_id!r} (see `wazybot business list`)"
        )


# --- import --------------------------------------------------------------------------------------


def _import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        read = read_catalog_file(Path(args.file), args.format)
    except CatalogFileError as error:
        print(f"wazybot: {error}; nothing was imported", file=sys.stderr)
        return 2
    if read.ignored_columns:
        print(f"note: column(s) {', '.join(read.ignored_columns)} are not catalog columns and"
              " were ignored", file=sys.stderr)  # fmt: skip

    async def work(container: Container) -> int:
        await _require_business(container, args.business)
        importer = CatalogImporter(await resolve(container.event_store()))
        bar = StageProgress(sys.stderr, show=read.count >= SHOW_PROGRESS_FROM)
        report = await importer.import_rows(args.business, read.rows, replace=args.replace,
                                            dry_run=args.dry_run, progress=bar.show)  # fmt: skip
        applied = await _applied(container, report, bar)
        _print_report(args, read, report)
        if not applied:
            print("note: recorded; `catalog list` and the API show it once the server's products"
                  " projection has caught up (see `wazybot projections status`)",
                  file=sys.stderr)  # fmt: skip
        return 0 if report.all_taken else 1

    return _run(settings, work)


def _run(settings: Settings, work: Any) -> int:
    try:
        return int(asyncio.run(with_container(settings, work)))
    except CatalogCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return error.exit_code
    except CatalogError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 1


def _print_report(args: argparse.Namespace, read: CatalogRows, report: ImportReport) -> None:
    if args.json:
        print(json.dumps(_report_json(args, report), indent=2))
        return
    verb = "would change" if report.dry_run else "imported"
    print(f"{Path(args.file).name} ({read.format}, {report.rows:,} row(s)) {verb} in business"
          f" {args.business!r}:")  # fmt: skip
    print_table([
        ("  added", f"{report.added:,}"),
        ("  updated", f"{report.updated:,}"),
        ("  unchanged", f"{report.unchanged:,}"),
        ("  removed", f"{report.removed:,}" if args.replace else "- (without --replace)"),
        ("  rejected", f"{len(report.rejected):,}"),
    ])  # fmt: skip
    if report.rejected:
        print("\nrejected rows (nothing of them was imported; fix them and import the file again):")
        for rejected in report.rejected:
            named = f" (id {rejected.product_id})" if rejected.product_id else ""
            print(f"  row {rejected.row}{named}: {rejected.reason}")
    if report.withheld:
        print(f"\n{report.withheld:,} product(s) absent from the file were not removed: a rejected"
              " row has no readable id and may be one of them")  # fmt: skip
    if report.dry_run:
        print("\ndry run: nothing was changed")


def _report_json(args: argparse.Namespace, report: ImportReport) -> dict[str, Any]:
    return {
        "business_id": args.business, "rows": report.rows, "added": report.added,
        "updated": report.updated, "unchanged": report.unchanged, "removed": report.removed,
        "withheld": report.withheld, "dry_run": report.dry_run,
        "rejected": [{"row": r.row, "id": r.product_id, "reason": r.reason}
                     for r in report.rejected],
    }  # fmt: skip


class StageProgress:
    """Each stage's progress (rows checked, changes stored, products indexed): redrawn in
    place on a terminal; elsewhere a line a second at most, and each stage's last."""

    WIDTH = 30
    NOUNS: Final = {"checking": "rows", "storing": "changes", "indexing": "products"}

    def __init__(self, out: TextIO, *, show: bool, interval: float = 1.0) -> None:
        self._out = out
        self._tty = out.isatty()
        self._show = show
        self._interval = 0.1 if self._tty else interval
        self._last = float("-inf")

    def show(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not self._show or (not finished and now - self._last < self._interval):
            return
        self._last = now
        filled = int(self.WIDTH * done / max(total, 1))
        line = (f"{stage}: [{'#' * filled}{'.' * (self.WIDTH - filled)}]"
                f" {done:,}/{total:,} {self.NOUNS.get(stage, '')}").rstrip()  # fmt: skip
        self._out.write(("\r" + line + ("\n" if finished else "")) if self._tty else line + "\n")
        self._out.flush()


async def _applied(container: Container, report: ImportReport, bar: StageProgress) -> bool:
    """Wait until the products projection has applied the import, showing how far it is."""
    position = report.last_position
    if position is None:
        return True
    # The import's events sit at consecutive positions ending at ``position``.
    first, events = position.position - report.events, report.events

    def indexing(reached: FeedPosition | None) -> None:
        done = 0 if reached is None else min(max(reached.position - first, 0), events)
        bar.show("indexing", events if reached is not None and reached >= position else done,
                 events)  # fmt: skip

    return await wait_until_applied(
        container, ProductsProjection(), position, PROJECTION_WAIT, indexing
    )


# --- list ----------------------------------------------------------------------------------------


def _list(settings: Settings, args: argparse.Namespace) -> int:
    if args.search is not None and len(args.search) > MAX_SEARCH_LENGTH:
        print(f"wazybot: --search may be at most {MAX_SEARCH_LENGTH} characters", file=sys.stderr)
        return 2

    async def work(container: Container) -> int:
        await _require_business(container, args.business)
        catalog: PostgresCatalog = await resolve(container.catalog_queries())
        found, more = await _collect(catalog, args)
        if args.json:
            print(json.dumps([product_json(p, args.language) for p in found], indent=2))
        elif not found:
            print(_nothing(args))
        else:
            _table(found, args.language)
            if more:
                print(f"\nmore products match: show them with --limit (now {args.limit})")
        return 0

    return _run(settings, work)


async def _collect(
    catalog: PostgresCatalog, args: argparse.Namespace
) -> tuple[list[CatalogProduct], bool]:
    found: list[CatalogProduct] = []
    cursor = None
    while len(found) < args.limit:
        page = await catalog.search(args.business, args.search, in_stock_only=args.in_stock,
                                    limit=min(LIST_PAGE, args.limit - len(found)),
                                    cursor=cursor)  # fmt: skip
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found, False
    return found, True


def _nothing(args: argparse.Namespace) -> str:
    if args.search:
        return f"no product of business {args.business!r} matches {args.search!r}"
    stocked = " in stock" if args.in_stock else ""
    return (f"no products{stocked} for business {args.business!r}: import some with"
            " `wazybot catalog import FILE --business ID`")  # fmt: skip


def _table(found: list[CatalogProduct], language: Language) -> None:
    rows = [("ID", "NAME", "PRICE", "STOCK", "CATEGORY")]
    rows.extend(
        (p.product.product_id, _cut(p.product.name, 50),
         format_amount(p.product.price, p.product.currency, language),
         str(p.product.stock), p.product.category or "-")
        for p in found
    )  # fmt: skip
    print_table(rows)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def product_json(item: CatalogProduct, language: Language) -> dict[str, Any]:
    p = item.product
    return {
        "id": p.product_id, "name": p.name, "description": p.description, "price": p.price,
        "currency": p.currency, "price_text": format_amount(p.price, p.currency, language),
        "stock": p.stock, "in_stock": p.in_stock, "image_url": p.image_url,
        "retailer_id": p.retailer_id, "category": p.category,
        "updated_at": item.updated_at.isoformat(),
    }  # fmt: skip
