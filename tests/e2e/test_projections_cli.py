"""`wazybot projections` against a running server, and projections surviving kill -9."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.postgres.connection import create_pool
from adapters.postgres.read_models import PROJECTIONS
from application.event_log import FeedPosition
from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import server_env
from tests.support.read_model_tables import read_models, replayed_read_models
from tests.support.read_models import feed_head
from tests.support.webhooks import encode, messages_change, signed_headers, status, webhook

API_TOKEN = "projections-cli-token-0123456789"
T0 = int(time.time()) - 7200


def traffic(
    deliveries: int, per_delivery: int = 1, customers: int = 40
) -> Iterator[dict[str, Any]]:
    """Messages from ``customers`` customers, each reply known from its statuses."""
    for d in range(deliveries):
        numbers = range(d * per_delivery, (d + 1) * per_delivery)
        yield webhook(messages_change(
            [_message(n, customers) for n in numbers], [_reply(n, customers) for n in numbers]
        ))  # fmt: skip


def _message(n: int, customers: int) -> dict[str, Any]:
    return {"from": f"1555200{n % customers:04d}", "id": f"wamid.in-{n}", "type": "text",
            "timestamp": str(T0 + n // customers * 10), "text": {"body": f"m{n}"}}  # fmt: skip


def _reply(n: int, customers: int) -> dict[str, Any]:
    state = "sent" if n % 3 else "read"
    at = T0 + n // customers * 10 + 5
    return status(f"wamid.out-{n}", state, recipient=f"1555200{n % customers:04d}", at=at)


def post(server: RunningServer, body: dict[str, Any]) -> None:
    raw = encode(body)
    response = httpx.post(server.base_url + "/webhooks/whatsapp", content=raw,
                          headers=signed_headers(raw), timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text


def conversations(server: RunningServer) -> list[dict[str, Any]]:
    response = httpx.get(server.base_url + "/api/v1/conversations", params={"limit": "200"},
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def wait_until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_status_and_rebuild_from_the_command_line_while_the_api_serves(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    with serve(env, tmp_path / "server.log") as server:
        for body in traffic(60):
            post(server, body)
        wait_until(lambda: sum(c["unread_count"] for c in conversations(server)) == 60,
                   "the projections")  # fmt: skip
        before = conversations(server)

        status_run = run_cli("projections", "status", env=env)
        rebuild_run = run_cli("projections", "rebuild", "--all", env=env)
        after = conversations(server)

    assert status_run.returncode == 0, status_run.stderr
    lines = status_run.stdout.splitlines()
    assert lines[0].split()[:3] == ["PROJECTION", "CHECKPOINT", "BEHIND"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(p.kind for p in PROJECTIONS)
    assert all(line.split()[2] == "0" for line in lines[1:]), status_run.stdout

    assert rebuild_run.returncode == 0, rebuild_run.stderr
    for projection in PROJECTIONS:  # 60 messages, 60 statuses, 40 customers' number links
        assert f"rebuilt {projection.kind}: 160 events" in rebuild_run.stdout
        assert f"{projection.kind}: [" in rebuild_run.stderr  # the progress bar
    assert "events/s" in rebuild_run.stderr
    assert after == before


def test_rebuild_refuses_an_unknown_projection(database_url: str) -> None:
    result = run_cli("projections", "rebuild", "nope", env=server_env(database_url))
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr


async def _stored_checkpoints(database_url: str) -> dict[str, FeedPosition]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("select name, tx::text, position from subscriber_checkpoints")
    finally:
        await connection.close()
    return {r["name"]: FeedPosition(int(r["tx"]), r["position"]) for r in rows}


@pytest.mark.slow
def test_killing_the_projection_runner_mid_batch_loses_and_repeats_nothing(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, WAZYBOT_ROLE="api")
    with serve(env, tmp_path / "ingest.log") as server:  # the API alone: the log fills up
        for body in traffic(300, per_delivery=50, customers=600):
            post(server, body)
    head = asyncio.run(_head(database_url))

    worker_env = {**env, "WAZYBOT_ROLE": "worker"}
    with serve(worker_env, tmp_path / "worker.log", wait_for_health=False) as worker:
        wait_until(lambda: _partly_projected(database_url, head), "a projection mid-way", 120)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
    killed_at = asyncio.run(_stored_checkpoints(database_url))

    with serve(worker_env, tmp_path / "restarted.log", wait_for_health=False):
        wait_until(lambda: _fully_projected(database_url, head), "the restarted projections", 120)

    assert any(_mid_way(position, head) for position in killed_at.values()), killed_at
    live, replayed = asyncio.run(_compare(database_url))
    assert live == replayed
    assert len(live["messages"]) == 2 * 300 * 50


async def _head(database_url: str) -> FeedPosition:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        position = await feed_head(pool)
    finally:
        await pool.close()
    assert position is not None
    return position


def _partly_projected(database_url: str, head: FeedPosition) -> bool:
    positions = asyncio.run(_stored_checkpoints(database_url))
    return any(_mid_way(positions.get(p.kind), head) for p in PROJECTIONS)


def _mid_way(position: FeedPosition | None, head: FeedPosition) -> bool:
    return position is not None and position.position > 0 and position < head


def _fully_projected(database_url: str, head: FeedPosition) -> bool:
    positions = asyncio.run(_stored_checkpoints(database_url))
    return all(positions.get(p.kind) == head for p in PROJECTIONS)


async def _compare(database_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    try:
        live = await read_models(pool)
        replayed = await replayed_read_models(pool, database_url, batch_size=1000)
    finally:
        await pool.close()
    return live, replayed
