"""The round trip with the real `wazybot serve` process: a customer writes through the signed
webhook, an agent answers through the API, the Cloud API simulator accepts the answer and
its status webhooks make it `read` on the timeline; `wazybot send` queues the same way."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.whatsapp.simulator import Business, CloudApiSimulator, inbound, running
from tests.e2e.server import run_cli, serve
from tests.e2e.test_webhook import PATH, server_env
from tests.support.webhooks import ACCOUNT_ID, APP_SECRET, PHONE_NUMBER_ID

API_TOKEN = "round-trip-api-token-0123456789"
ACCESS_TOKEN = "EAAG-round-trip"
CUSTOMER = "15550003001"


async def eventually(http: httpx.AsyncClient, path: str, check: Any, timeout: float = 30) -> Any:
    """GET ``path`` until ``check(body)`` gives something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check((await http.get(path)).json())
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never showed what was expected")
        await asyncio.sleep(0.1)


def first_with(items_key: str, **wanted: Any) -> Any:
    def check(body: dict[str, Any]) -> Any:
        matching = [item for item in body[items_key]
                    if all(item.get(k) == v for k, v in wanted.items())]  # fmt: skip
        return matching[0] if matching else None

    return check


async def test_a_reply_queued_through_the_api_is_read_on_the_timeline(
    database_url: str, tmp_path: Path
) -> None:
    simulator = CloudApiSimulator(
        access_tokens=[ACCESS_TOKEN], app_secret=APP_SECRET,
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID),
        status_delays=(0.05, 0.05, 0.05),
    )  # fmt: skip
    async with running(simulator) as sim:
        assert sim.base_url is not None
        env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN, WHATSAPP_GRAPH_URL=sim.base_url,
                         WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN)  # fmt: skip
        with serve(env, tmp_path / "server.log") as server:
            sim.webhooks.url = server.base_url + PATH
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers,
                                         timeout=30) as http:  # fmt: skip
                asked, delivery = await sim.customer_sends(
                    inbound.text("Can I change my delivery address?"), phone=CUSTOMER, name="Ana"
                )
                assert delivery.ok, delivery.error
                chat = await eventually(http, "/api/v1/conversations",
                                        first_with("items", customer_phone=CUSTOMER))  # fmt: skip
                messages = f"/api/v1/conversations/{chat['id']}/messages"
                question = await eventually(http, messages, first_with("items", wamid=asked))
                answer = await http.post(
                    messages,
                    json={"text": "Yes: reply with the new address.", "reply_to": question["id"]},
                )
                assert answer.status_code == 202, answer.text
                message_id = answer.json()["message_id"]
                read = await eventually(
                    http, messages, first_with("items", id=message_id, status="read")
                )
                timeline = (await http.get(messages)).json()["items"]
                listed = (await http.get(f"/api/v1/conversations/{chat['id']}")).json()
            logs = server.logs()

    [sent] = sim.sent_bodies()
    assert sent["to"] == CUSTOMER
    assert sent["text"]["body"] == "Yes: reply with the new address."
    assert sent["context"] == {"message_id": asked}
    assert read["wamid"] == sim.requests[0].wamid
    assert (read["direction"], read["sender"], read["type"]) == ("outbound", "agent", "text")
    assert read["reply_to"] == question["id"]
    # One row per message: no placeholder from the statuses of the message we sent.
    assert sorted(row["id"] for row in timeline) == sorted([question["id"], message_id])
    assert listed["id"] == chat["id"]
    assert ACCESS_TOKEN not in logs
    assert API_TOKEN not in logs


async def test_wazybot_send_queues_a_text_for_a_customer(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    simulator = CloudApiSimulator(access_tokens=[], app_secret=APP_SECRET,
                                  business=Business(ACCOUNT_ID, PHONE_NUMBER_ID))  # fmt: skip
    async with running(simulator) as sim:
        with serve(env, tmp_path / "server.log") as server:
            sim.webhooks.url = server.base_url + PATH
            await sim.customer_sends(inbound.text("hello"), phone=CUSTOMER)
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
                chat = await eventually(http, "/api/v1/conversations",
                                        first_with("items", customer_phone=CUSTOMER))  # fmt: skip
            sent = run_cli("send", "--business", "default", "--to", CUSTOMER, "--text",
                           "Your parcel is here", "--json", env=env)  # fmt: skip
            unknown = run_cli("send", "--business", "default", "--to", "15559999999",
                              "--text", "hi", env=env)  # fmt: skip
            too_long = run_cli("send", "--business", "default", "--to", CUSTOMER,
                               "--text", "x" * 4097, env=env)  # fmt: skip
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
                messages = f"/api/v1/conversations/{chat['id']}/messages"
                assert sent.returncode == 0, sent.stderr
                message_id = json.loads(sent.stdout)["message_id"]
                row = await eventually(http, messages, first_with("items", id=message_id))

    assert json.loads(sent.stdout)["status"] == "queued"
    assert (row["sender"], row["summary"]) == ("agent", "Your parcel is here")
    assert unknown.returncode == 1
    assert "no conversation with 15559999999" in unknown.stderr
    assert too_long.returncode == 1
    assert "4097" in too_long.stderr
    assert run_cli("send", "--help", env={}).returncode == 0
    assert run_cli("send", "--business", "default", env=env).returncode == 2
