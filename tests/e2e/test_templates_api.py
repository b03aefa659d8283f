"""GET /api/v1/templates on the running server: synced by the CLI from the simulator while the
server runs the projection, kept current by Meta's template webhooks, one business per token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapters.whatsapp.simulator import CloudApiSimulator, running
from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import server_env
from tests.support.webhooks import encode, signed_headers, webhook

API_TOKEN = "default-business-token-templates-0123"
ACCESS_TOKEN = "EAAG-default-templates-access-token"
SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="
BODY: list[dict[str, Any]] = [{"type": "BODY", "text": "Hello {{1}}"}]


def get(server: RunningServer, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.base_url + "/api/v1/templates", params=params, headers=headers,
                     timeout=10)  # fmt: skip


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the templates read model never caught up"
        time.sleep(0.05)


def paused(name: str, language: str) -> bytes:
    body = webhook({"field": "message_template_status_update", "value": {
        "event": "PAUSED", "message_template_id": 77, "message_template_name": name,
        "message_template_language": language, "reason": "NONE"}})  # fmt: skip
    body["entry"][0]["time"] = int(time.time()) + 60
    return encode(body)


async def test_templates_api(database_url: str, tmp_path: Path) -> None:
    sim = CloudApiSimulator(access_tokens=[ACCESS_TOKEN], app_secret="api-secret")
    sim.add_template("welcome", "en", BODY)
    sim.add_template("welcome", "fr", BODY, status="PENDING")
    sim.add_template("promo", "en", BODY, category="MARKETING", status="REJECTED")
    for n in range(3):
        sim.add_template(f"notice_{n}", "en", BODY)
    async with running(sim) as running_sim:
        env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN, WAZYBOT_SECRET_KEY=SECRET_KEY,
                         WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
                         WHATSAPP_GRAPH_URL=str(running_sim.base_url))  # fmt: skip
        assert run_cli("business", "add", "--id", "globex", "--name", "Globex",
                       "--phone-number-id", "2233445566778", env=env).returncode == 0  # fmt: skip
        created = run_cli("tokens", "create", "--business", "globex", "--name", "d", env=env)
        globex_token = created.stdout.strip()
        with serve(env, tmp_path / "server.log") as server:
            synced = await asyncio.to_thread(
                run_cli, "templates", "sync", "--business", "default", env=env
            )
            assert synced.returncode == 0, synced.stderr
            assert "6 template(s) at Meta, 6 changed" in synced.stdout
            assert "note:" not in synced.stderr  # the server's runner applied it in time
            await asyncio.to_thread(check_api, server, globex_token)


def check_api(server: RunningServer, globex_token: str) -> None:
    everything = get(server, API_TOKEN).json()
    assert [(t["name"], t["language"], t["status"]) for t in everything["items"]] == [
        ("notice_0", "en", "APPROVED"), ("notice_1", "en", "APPROVED"),
        ("notice_2", "en", "APPROVED"), ("promo", "en", "REJECTED"),
        ("welcome", "en", "APPROVED"), ("welcome", "fr", "PENDING"),
    ]  # fmt: skip
    welcome = everything["items"][4]
    assert welcome["components"] == BODY
    assert welcome["category"] == "UTILITY"
    assert welcome["meta_id"]
    assert everything["next_cursor"] is None

    assert [t["name"] for t in get(server, API_TOKEN, status="rejected").json()["items"]] == [
        "promo"
    ]
    assert [t["status"] for t in get(server, API_TOKEN, language="fr").json()["items"]] == [
        "PENDING"
    ]
    pages, cursor = [], None
    while True:
        page = get(server, API_TOKEN, limit=4, **({"cursor": cursor} if cursor else {})).json()
        pages.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [4, 2]

    raw = paused("welcome", "en")
    answer = httpx.post(server.base_url + "/webhooks/whatsapp", content=raw,
                        headers=signed_headers(raw), timeout=10)  # fmt: skip
    assert answer.status_code == 200
    eventually(lambda: [t["name"] for t in get(server, API_TOKEN, status="PAUSED").json()["items"]]
               == ["welcome"])  # fmt: skip

    assert get(server, globex_token).json() == {"items": [], "next_cursor": None}
    bad = get(server, API_TOKEN, status="SHINY")
    assert (bad.status_code, bad.json()["error"], bad.json()["parameter"]) == (
        400,
        "invalid_parameter",
        "status",
    )
    assert get(server, API_TOKEN, cursor="nope").status_code == 400
    assert get(server, API_TOKEN, limit="0").json()["parameter"] == "limit"
    assert get(server, API_TOKEN, language="english!").json()["parameter"] == "language"
    assert get(server, None).status_code == 401
