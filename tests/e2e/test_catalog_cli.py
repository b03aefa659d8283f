"""`wazybot catalog ...` as a merchant runs it: real files, real PostgreSQL, a subprocess each."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.postgres.businesses import PostgresBusinessRegistry
from application.businesses import Business
from tests.e2e.server import WAZYBOT, child_env
from tests.support.database import ROOT

HEADER = "id,name,description,price,currency,stock,category"
CATALOG = f"""{HEADER}
tee-blue,T-shirt bleu,"Coton bio,
col rond",19.90,EUR,12,Vêtements
run-1,Chaussures de course,Amorti,89,EUR,3,Sport
phone-1,Téléphone X200,,299.00,EUR,0,
bask-1,Baskets running,,59.5,EUR,7,Sport
"""


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {"DATABASE_URL": database_url}

    async def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run, [*WAZYBOT, *args], cwd=ROOT, env=child_env(self.env),
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        return result

    async def ok(self, *args: str) -> str:
        result = await self(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    async def listed(self, *args: str) -> list[dict[str, Any]]:
        out = await self.ok("catalog", "list", "--business", "acme", "--json", *args)
        return list(json.loads(out))

    async def imported(self, path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
        result = await self("catalog", "import", str(path), "--business", "acme", "--json", *args)
        report = json.loads(result.stdout) if result.stdout.strip() else {}
        return result.returncode, report, result.stderr


@pytest.fixture
async def cli(database_url: str, pool: asyncpg.Pool[Any]) -> Cli:
    # Stored in-process (`business add` has its own tests): each command here is a process.
    registry = PostgresBusinessRegistry(pool)
    for business, number in (("acme", "106540352242922"), ("globex", "2233445566778")):
        await registry.add(Business(id=business, name=business.title(), phone_number_ids=(number,)))
    return Cli(database_url)


async def events(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(
            "select count(*) from events where stream_id like 'catalog-%'"
        ))  # fmt: skip
    finally:
        await connection.close()


async def test_import_list_search_reimport_and_replace(
    cli: Cli, tmp_path: Path, database_url: str
) -> None:
    file = tmp_path / "catalog.csv"
    file.write_text(CATALOG)

    table = await cli.ok("catalog", "import", str(file), "--business", "acme")
    assert "catalog.csv (csv, 4 row(s)) imported in business 'acme':" in table
    assert "added      4" in table
    listed = await cli.listed()
    assert [p["id"] for p in listed] == ["bask-1", "run-1", "tee-blue", "phone-1"]
    tee = next(p for p in listed if p["id"] == "tee-blue")
    assert (tee["price"], tee["currency"], tee["price_text"]) == (1990, "EUR", "€19.90")
    assert tee["description"] == "Coton bio, col rond"  # the quoted line break, as a space
    french = await cli.ok("catalog", "list", "--business", "acme", "--language", "fr")
    assert "19,90\u00a0€" in french

    assert [p["id"] for p in await cli.listed("--search", "tshirt")] == ["tee-blue"]
    shoes = await cli.listed("--search", "shoes", "--in-stock")
    assert sorted(p["id"] for p in shoes) == ["bask-1", "run-1"]
    assert next(p["id"] for p in await cli.listed("--search", "baskette")) == "bask-1"
    globex = await cli.ok("catalog", "list", "--business", "globex", "--search", "tshirt")
    assert "no product of business 'globex' matches 'tshirt'" in globex

    before = await events(database_url)
    code, again, _ = await cli.imported(file)
    assert code == 0
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 4)
    assert await events(database_url) == before  # nothing new in the log

    file.write_text(
        f"{HEADER}\ntee-blue,T-shirt bleu,,17.00,EUR,12,\nrun-1,Chaussures,,89,EUR,3,\n"
    )
    code, dry, _ = await cli.imported(file, "--replace", "--dry-run")
    assert (code, dry["updated"], dry["removed"], dry["dry_run"]) == (0, 2, 2, True)
    assert len(await cli.listed()) == 4
    code, replaced, _ = await cli.imported(file, "--replace")
    assert (code, replaced["updated"], replaced["removed"]) == (0, 2, 2)
    assert [(p["id"], p["price"]) for p in await cli.listed()] == [
        ("run-1", 8900), ("tee-blue", 1700),
    ]  # fmt: skip


async def test_rejected_rows_are_reported_and_change_nothing(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "export.csv"
    file.write_text(
        "\ufeffID;Name;Description;Price;Currency;Stock\r\n"
        "tee-1;T-shirt;;19,90;EUR;5\r\n"
        "tee-2;T-shirt rouge;;19.999;EUR;5\r\n"  # bad price
        "tee-1;T-shirt copie;;10;EUR;5\r\n"  # duplicate id
        "mug-1;Mug;;8;EURO;5\r\n"  # not a currency
        "cap-1;   ;;8;EUR;-2\r\n",  # blank name (the first problem is reported)
        encoding="utf-8",
    )

    result = await cli("catalog", "import", str(file), "--business", "acme")

    assert result.returncode == 1
    out = result.stdout
    assert "added      1" in out
    assert "rejected   4" in out
    assert 'row 3 (id tee-2): price "19.999" has too many decimal places' in out
    assert 'row 4 (id tee-1): id "tee-1" is listed twice: first on row 2' in out
    assert 'row 5 (id mug-1): currency "EURO" is not an ISO 4217 currency code' in out
    assert "row 6 (id cap-1): name is required and must not be blank" in out
    assert [(p["id"], p["price"]) for p in await cli.listed()] == [("tee-1", 1990)]


async def test_a_json_file_with_an_item_that_is_not_an_object(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "catalog.json"
    file.write_text(json.dumps({"products": [
        {"id": "robe-1", "name": "Robe d'été", "description": "Lin", "price": 35.5,
         "currency": "EUR", "stock": 2, "image_url": "https://shop.example/robe.jpg"},
        "not a product",
    ]}))  # fmt: skip

    code, report, _ = await cli.imported(file)

    assert code == 1
    assert report["added"] == 1
    assert report["rejected"] == [
        {"row": 2, "id": None, "reason": "item is text, not an object with id, name, price, ..."}
    ]
    (robe,) = await cli.listed("--search", "dress")
    assert (robe["price"], robe["image_url"]) == (3550, "https://shop.example/robe.jpg")


async def test_files_refused_whole_change_nothing(
    cli: Cli, tmp_path: Path, database_url: str
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{HEADER}\nrobe-1,Robe d'été,,30,EUR,1,\n".encode("latin-1"))
    missing = tmp_path / "missing.csv"
    missing.write_text("id,name,price\nx,X,1\n")
    sheet = tmp_path / "catalog.xlsx"
    sheet.write_bytes(b"PK\x03\x04")

    cases = [
        (latin, "is not UTF-8: byte 0xe9 at line 2, column 15", "save it as UTF-8"),
        (missing, "lacks the required column(s) description, currency, stock", "found: id"),
        (sheet, "cannot tell the format from the extension '.xlsx'", "--format csv|json"),
    ]
    for path, problem, advice in cases:
        result = await cli("catalog", "import", str(path), "--business", "acme")
        assert result.returncode == 2, result.stderr
        assert problem in result.stderr
        assert advice in result.stderr
        assert "nothing was imported" in result.stderr
    assert await events(database_url) == 0


async def test_an_unknown_business_and_bad_usage_exit_2(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "catalog.csv"
    file.write_text(CATALOG)
    unknown = await cli("catalog", "import", str(file), "--business", "nobody")
    assert unknown.returncode == 2
    assert "no active business 'nobody'" in unknown.stderr
    listing = await cli("catalog", "list", "--business", "nobody")
    assert listing.returncode == 2
    assert (await cli("catalog", "list", "--business", "acme", "--limit", "0")).returncode == 2
    assert (await cli("catalog", "import", str(file))).returncode == 2  # --business missing
    assert (await cli("catalog", "list", "--business", "acme")).stdout.startswith("no products")


async def test_a_large_file_shows_each_stage_on_standard_error(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "large.csv"
    file.write_text(HEADER + "\n" + "".join(f"p{n},Produit {n},,1.{n % 100:02d},EUR,{n % 3},\n"
                                            for n in range(1200)))  # fmt: skip

    result = await cli("catalog", "import", str(file), "--business", "acme")

    assert result.returncode == 0, result.stderr
    assert "added      1,200" in result.stdout
    lines = result.stderr.splitlines()
    assert "checking: [##############################] 1,200/1,200 rows" in lines
    assert "storing: [##############################] 1,200/1,200 changes" in lines
    assert "indexing: [##############################] 1,200/1,200 products" in lines
    assert len(lines) < 40  # a line a second at most, not one per row
