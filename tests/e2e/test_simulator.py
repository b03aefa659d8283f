"""The Cloud API simulator beside a running WazyBot server, and `wazybot simulator` itself."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.whatsapp.simulator import Business, CloudApiSimulator, inbound, running
from tests.e2e.server import CHILD_CWD, WAZYBOT, RunningServer, child_env, free_port, run_cli, serve
from tests.e2e.test_webhook import PATH, server_env
from tests.support.webhooks import ACCOUNT_ID, APP_SECRET, PHONE_NUMBER_ID

API_TOKEN = "simulator-e2e-api-token-0123456789"
ACCESS_TOKEN = "simulator-e2e-access-token"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    with serve(env, tmp_path / "server.log") as running_server:
        yield running_server


async def conversations(server: RunningServer, expected: int) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        deadline = time.monotonic() + 20
        while True:
            items: list[dict[str, Any]] = (await http.get("/api/v1/conversations")).json()["items"]
            if len(items) >= expected or time.monotonic() > deadline:
                return items
            await asyncio.sleep(0.1)


async def test_a_played_customer_appears_in_the_servers_conversations(
    server: RunningServer,
) -> None:
    simulator = CloudApiSimulator(
        access_tokens=[ACCESS_TOKEN], app_secret=APP_SECRET, webhook_url=server.base_url + PATH,
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID),
    )  # fmt: skip
    async with running(simulator) as sim:
        _, delivery = await sim.customer_sends(
            inbound.text("Is my order on its way?"), phone="15551230001", name="Ana"
        )
        assert delivery.ok, delivery.error
        _, by_bsuid = await sim.customer_sends(
            inbound.location(48.85, 2.35, name="Shop"), user_id="US.99887766554433", name="Bo"
        )
        assert by_bsuid.ok, by_bsuid.error
    items = await conversations(server, 2)
    by_name = {item["customer_name"]: item for item in items}
    assert set(by_name) == {"Ana", "Bo"}
    assert by_name["Ana"]["last_message_preview"] == "Is my order on its way?"


async def test_the_customer_command_posts_into_the_server(server: RunningServer) -> None:
    env = {"WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID}
    result = run_cli("simulator", "customer", "--to-url", server.base_url + PATH,
                     "--from", "15551230002", "--name", "Cy", "--text", "hi from a terminal",
                     "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["webhook_status"] == 200
    [item] = await conversations(server, 1)
    assert (item["customer_name"], item["last_message_preview"]) == ("Cy", "hi from a terminal")
    wrong_secret = run_cli("simulator", "customer", "--to-url", server.base_url + PATH,
                           "--from", "15551230002", "--text", "forged",
                           env={**env, "WHATSAPP_APP_SECRET": "not-the-secret"})  # fmt: skip
    assert wrong_secret.returncode == 1


def test_the_simulator_command_serves_the_graph_api(tmp_path: Path) -> None:
    port = free_port()
    env = {"WHATSAPP_APP_SECRET": "s", "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN}
    CHILD_CWD.mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "simulator.log", "wb") as log:
        process = subprocess.Popen(
            [*WAZYBOT, "simulator", "--port", str(port)], cwd=CHILD_CWD, env=child_env(env),
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        body = {"messaging_product": "whatsapp", "to": "15551230003", "type": "text",
                "text": {"body": "hello"}}  # fmt: skip
        auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
        sent = httpx.post(f"{base}/v24.0/123/messages", json=body, headers=auth)
        assert sent.json()["messages"][0]["id"].startswith("wamid.")
        played = run_cli("simulator", "customer", "--simulator-url", base, "--from",
                         "15551230003", "--text", "hi", env=env)  # fmt: skip
        # No webhook URL configured: the message is played, but nobody received it.
        assert played.returncode == 1
        assert "no webhook URL configured" in played.stderr
        log_lines = httpx.get(f"{base}/_simulator/requests").json()["requests"]
        assert [r["outcome"] for r in log_lines] == ["accepted"]
        process.send_signal(signal.SIGINT)  # Ctrl-C in its terminal
        assert process.wait(timeout=20) is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    logged = (tmp_path / "simulator.log").read_text()
    assert "simulator.request" in logged
    assert ACCESS_TOKEN not in logged
    assert "15551230003" not in logged


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the simulator exited early"
        try:
            httpx.get(f"{base}/_simulator/stats", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the simulator did not start")


def test_help_and_bad_usage() -> None:
    assert run_cli("simulator", "--help", env={}).returncode == 0
    assert run_cli("simulator", "customer", "--help", env={}).returncode == 0
    nobody = run_cli("simulator", "customer", "--simulator-url", f"http://127.0.0.1:{free_port()}",
                     "--from", "15551230003", "--text", "hi", env={})  # fmt: skip
    assert nobody.returncode == 1
    assert "no simulator answered at" in nobody.stderr
    assert "start `wazybot simulator` first" in nobody.stderr
    no_token = run_cli("simulator", env={"WHATSAPP_APP_SECRET": "s"})
    assert no_token.returncode == 2
    assert "access token" in no_token.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_cli("simulator", "--port", str(taken.getsockname()[1]), env={
            "WHATSAPP_APP_SECRET": "s", "WHATSAPP_ACCESS_TOKEN": "t"})  # fmt: skip
    assert busy.returncode != 0
    assert "already in use" in busy.stderr
    no_sender = run_cli("simulator", "customer", "--to-url", "http://127.0.0.1:9", "--text",
                        "x", env={"WHATSAPP_APP_SECRET": "s"})  # fmt: skip
    assert no_sender.returncode == 2
