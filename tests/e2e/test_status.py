"""GET /api/v1/status and `wazybot status` with the real `wazybot serve` process, against the
Cloud API simulator over HTTP: a working connection, an unsubscribed account, a refused
token, Meta unreachable."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from adapters.whatsapp.simulator import Business, CloudApiSimulator, running
from tests.e2e.server import CHILD_CWD, WAZYBOT, child_env, free_port, serve
from tests.e2e.test_webhook import server_env
from tests.support.webhooks import ACCOUNT_ID, APP_SECRET, PHONE_NUMBER_ID

API_TOKEN = "status-api-token-0123456789"
ACCESS_TOKEN = "EAAG-status-e2e-token"
REFUSED_TOKEN = "EAAG-revoked-by-meta-token"
SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="  # 32 bytes in base64
GLOBEX_NUMBER = "2233445566778"


async def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    CHILD_CWD.mkdir(parents=True, exist_ok=True)
    result = await asyncio.to_thread(
        subprocess.run, [*WAZYBOT, *args], cwd=CHILD_CWD, env=child_env(env), input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    for secret in (ACCESS_TOKEN, REFUSED_TOKEN):
        assert secret not in result.stdout + result.stderr
    return result


def states(status: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["state"] for check in status["checks"]}


def detail(status: dict[str, Any], name: str) -> str:
    return next(check["detail"] for check in status["checks"] if check["name"] == name)


async def test_the_connection_through_the_api_and_the_cli(
    database_url: str, tmp_path: Path
) -> None:
    simulator = CloudApiSimulator(
        access_tokens=[], app_secret=APP_SECRET, waba_ids=[ACCOUNT_ID],
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID,
                          display_phone_number="15550102030"),
    )  # fmt: skip
    simulator.bind_token(PHONE_NUMBER_ID, ACCESS_TOKEN)
    simulator.describe_number(PHONE_NUMBER_ID, verified_name="Acme Shop")
    async with running(simulator) as sim:
        assert sim.base_url is not None
        env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN, WHATSAPP_GRAPH_URL=sim.base_url,
                         WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
                         WAZYBOT_SECRET_KEY=SECRET_KEY)  # fmt: skip
        with serve(env, tmp_path / "server.log") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                anonymous = await http.get("/api/v1/status")
                bearer = {"Authorization": f"Bearer {API_TOKEN}"}
                first = await http.get("/api/v1/status", headers=bearer)
                graph_calls = len(sim.requests)
                again = await http.get("/api/v1/status", headers=bearer)
                calls_after_again = len(sim.requests)

                table = await cli(env, "status")
                as_json = await cli(env, "status", "--json")

                # Meta stops sending the account's webhooks: a new process sees it at once;
                # the server keeps its answer (all ok) for up to 30 s.
                sim.set_webhooks_subscribed(False)
                unsubscribed = await cli(env, "status", "--json")
                cached = await http.get("/api/v1/status", headers=bearer)

                # Another business whose token Meta refuses, with its own API token.
                added = await cli(env, "business", "add", "--id", "globex", "--name", "Globex",
                                  "--phone-number-id", GLOBEX_NUMBER, "--access-token-stdin",
                                  stdin=REFUSED_TOKEN + "\n")  # fmt: skip
                assert added.returncode == 0, added.stderr
                issued = await cli(env, "tokens", "create", "--business", "globex")
                globex_bearer = {"Authorization": f"Bearer {issued.stdout.strip()}"}
                globex = await http.get("/api/v1/status", headers=globex_bearer)
                globex_cli = await cli(env, "status", "--business", "globex")
                several = await cli(env, "status")
                nobody = await cli(env, "status", "--business", "nobody")
                assert (await cli(env, "business", "remove", "globex")).returncode == 0
                removed = await http.get("/api/v1/status", headers=globex_bearer)

            offline_env = {**env, "WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{free_port()}"}
            offline = await cli(offline_env, "status", "--business", "default", "--json")
            logs = server.logs()

    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "unauthorized"

    assert first.status_code == 200, first.text
    status = first.json()
    assert status["connected"] is True
    assert (status["mode"], status["business_id"]) == ("live", "default")
    assert status["phone_number_ids"] == [PHONE_NUMBER_ID]
    assert states(status) == {"access_token": "ok", "phone_number": "ok",
                              "webhook_subscription": "ok"}  # fmt: skip
    assert "+1 555-010-2030 (Acme Shop), quality GREEN" in detail(status, "phone_number")
    paths = sorted(r.path for r in sim.requests[:graph_calls])
    assert paths == [f"/v26.0/{ACCOUNT_ID}/subscribed_apps", f"/v26.0/{PHONE_NUMBER_ID}"]
    assert again.json() == status  # a dashboard refresh: the same answer, Meta not asked
    assert calls_after_again == graph_calls

    assert table.returncode == 0, table.stderr
    assert "webhook_subscription  ok" in table.stdout
    assert "\nconnected\n" in table.stdout
    assert json.loads(as_json.stdout)["connected"] is True

    assert unsubscribed.returncode == 1
    now = json.loads(unsubscribed.stdout)
    assert states(now)["webhook_subscription"] == "failed"
    assert "customers' messages never reach WazyBot" in detail(now, "webhook_subscription")
    assert cached.json() == status

    assert globex.status_code == 200
    refused = globex.json()
    assert (refused["business_id"], refused["connected"]) == ("globex", False)
    assert states(refused) == {"access_token": "failed", "phone_number": "unknown",
                               "webhook_subscription": "unknown"}  # fmt: skip
    assert "invalid or has expired" in detail(refused, "access_token")
    assert globex_cli.returncode == 1
    assert "NOT connected" in globex_cli.stdout
    assert "access_token          failed" in globex_cli.stdout

    # With several businesses, the environment's ("default") is checked (still unsubscribed).
    assert several.returncode == 1
    assert several.stdout.startswith("Business 'default' (Default business), live mode")
    assert (nobody.returncode, nobody.stdout) == (2, "")
    assert "no active business 'nobody'" in nobody.stderr
    assert (removed.status_code, removed.json()["error"]) == (404, "not_found")
    assert "removed, or never added" in removed.json()["message"]

    assert offline.returncode == 1
    unreachable = json.loads(offline.stdout)
    assert set(states(unreachable).values()) == {"unknown"}
    assert "did not answer" in detail(unreachable, "access_token")

    for secret in (ACCESS_TOKEN, REFUSED_TOKEN):
        assert secret not in logs
        assert secret not in first.text + globex.text
