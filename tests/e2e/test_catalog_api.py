"""GET /api/v1/products on the running server: a catalog imported by the CLI while the server
runs the products projection, searched as customers type, paged, one business per token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import server_env

API_TOKEN = "default-business-token-catalog-0123"
CATALOG = """id;name;description;price;currency;stock;category
tee-blue;T-shirt bleu;Coton bio;19,90;EUR;12;Vêtements
tee-red;T-shirt rouge;;19.90;EUR;0;Vêtements
run-1;Chaussures de course;;89;EUR;3;Sport
bask-1;Baskets running;;59.5;EUR;7;Sport
phone-1;Téléphone X200;;299;EUR;2;
cfa-1;Pagne wax;;15000;XOF;4;
"""


def get(server: RunningServer, token: str | None, path: str = "", **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.base_url}/api/v1/products{path}", params=params, headers=headers,
                     timeout=10)  # fmt: skip


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_products_api(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    file = tmp_path / "catalog.csv"
    file.write_text(CATALOG)
    globex_file = tmp_path / "globex.json"
    globex_file.write_text('[{"id": "g-1", "name": "T-shirt Globex", "description": "",'
                           ' "price": "5", "currency": "USD", "stock": 1}]')  # fmt: skip
    assert run_cli("business", "add", "--id", "globex", "--name", "Globex",
                   "--phone-number-id", "2233445566778", env=env).returncode == 0  # fmt: skip
    globex_token = run_cli("tokens", "create", "--business", "globex", env=env).stdout.strip()
    with serve(env, tmp_path / "server.log") as server:
        for business, path in (("default", file), ("globex", globex_file)):
            imported = await asyncio.to_thread(
                run_cli, "catalog", "import", str(path), "--business", business, env=env
            )
            assert imported.returncode == 0, imported.stdout + imported.stderr
            assert "note:" not in imported.stderr  # the server's runner applied it in time
        await asyncio.to_thread(check_api, server, globex_token)


def check_api(server: RunningServer, globex_token: str) -> None:
    listed = get(server, API_TOKEN).json()
    assert [p["id"] for p in listed["items"]] == [
        "bask-1", "run-1", "cfa-1", "tee-blue", "tee-red", "phone-1",
    ]  # fmt: skip
    assert listed["next_cursor"] is None
    tee = listed["items"][3]
    assert (tee["price"], tee["currency"], tee["price_text"], tee["stock"], tee["in_stock"]) == (
        1990, "EUR", "€19.90", 12, True,
    )  # fmt: skip
    assert tee["category"] == "Vêtements"
    assert tee["updated_at"]

    assert ids(get(server, API_TOKEN, search="tshirt")) == ["tee-blue", "tee-red"]
    assert ids(get(server, API_TOKEN, search="telephone")) == ["phone-1"]
    assert ids(get(server, API_TOKEN, search="bask"))[0] == "bask-1"
    assert set(ids(get(server, API_TOKEN, search="sneakers"))) == {"bask-1", "run-1"}
    assert ids(get(server, API_TOKEN, search="voiture")) == []

    seen, cursor, pages = [], None, 0
    while True:
        page = get(server, API_TOKEN, search="tshirt chaussures telephone pagne", limit=2,
                   **({"cursor": cursor} if cursor else {})).json()  # fmt: skip
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == ["bask-1", "cfa-1", "phone-1", "run-1", "tee-blue", "tee-red"]

    cfa = get(server, API_TOKEN, "/cfa-1", language="fr").json()
    assert (cfa["price"], cfa["currency"], cfa["price_text"]) == (
        15000,
        "XOF",
        "15\u202f000\u00a0XOF",
    )
    assert get(server, API_TOKEN, "/g-1").status_code == 404  # globex's, not ours
    assert ids(get(server, globex_token)) == ["g-1"]
    assert ids(get(server, globex_token, search="tshirt")) == ["g-1"]

    bad = get(server, API_TOKEN, language="de").json()
    assert (bad["error"], bad["parameter"]) == ("invalid_parameter", "language")
    assert get(server, API_TOKEN, cursor="nope").json()["parameter"] == "cursor"
    assert get(server, API_TOKEN, search="x" * 101).json()["parameter"] == "search"
    assert get(server, None).status_code == 401
