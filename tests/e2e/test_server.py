"""The running product, through its command line and over HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

from adapters.embedded_postgres import EmbeddedPostgres
from adapters.postgres_migrations import default_migrations_dir, load_migrations
from tests.e2e.server import run_cli, serve, wait_for_log
from tests.support.database import ROOT


def test_serve_migrates_an_empty_database_and_answers_health_and_ready(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": empty_database_url, "WAZYBOT_ENV": "production"}
    with serve(env, tmp_path / "server.log") as server:
        health = httpx.get(server.base_url + "/health")
        ready = httpx.get(server.base_url + "/ready", headers={"X-Request-ID": "req-42"})
        assert server.stop()

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert ready.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "http.request"]
    assert {"correlation_id": "req-42", "path": "/ready", "status": 200}.items() <= (
        next(line for line in request_lines if line["path"] == "/ready").items()
    )
    assert any(line.get("event") == "app.stopped" for line in lines)


def test_ready_reports_pending_migrations_with_503(empty_database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": empty_database_url, "WAZYBOT_AUTO_MIGRATE": "false"}
    with serve(env, tmp_path / "server.log") as server:
        ready = httpx.get(server.base_url + "/ready")
        health = httpx.get(server.base_url + "/health")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "pending_migrations": sorted(p.name for p in default_migrations_dir().glob("*.sql")),
    }
    assert ready.json()["pending_migrations"][0] == "0001_event_store.sql"


@pytest.mark.slow
def test_default_run_starts_and_stops_the_embedded_database(tmp_path: Path) -> None:
    data_dir = ROOT / ".wazybot" / f"e2e-{uuid.uuid4().hex[:8]}" / "pgdata"
    try:
        with serve({"WAZYBOT_DATA_DIR": str(data_dir)}, tmp_path / "server.log") as server:
            ready = httpx.get(server.base_url + "/ready")
            assert server.stop()

        assert ready.status_code == 200
        assert (data_dir / "PG_VERSION").exists()
        assert not (data_dir / "postmaster.pid").exists(), "embedded server left running"
        assert not EmbeddedPostgres(data_dir).socket_dir.exists(), "socket directory left behind"
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.mark.slow
def test_the_embedded_database_is_reused_across_runs(tmp_path: Path) -> None:
    data_dir = ROOT / ".wazybot" / f"e2e-{uuid.uuid4().hex[:8]}" / "pgdata"
    try:
        for run in range(2):
            with serve({"WAZYBOT_DATA_DIR": str(data_dir)}, tmp_path / f"{run}.log") as server:
                assert httpx.get(server.base_url + "/ready").status_code == 200
                assert server.stop()
        logs = (tmp_path / "0.log").read_text(), (tmp_path / "1.log").read_text()
        assert "embedded_postgres.initdb" in logs[0]
        assert "embedded_postgres.initdb" not in logs[1]
        assert "0001_event_store.sql" in logs[0]
        assert "up to date" in logs[1]
    finally:
        EmbeddedPostgres(data_dir).stop() if (data_dir / "postmaster.pid").exists() else None
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_db_migrate_is_idempotent_and_safe_with_concurrent_callers(
    empty_database_url: str,
) -> None:
    env = {"DATABASE_URL": empty_database_url}
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda _: run_cli("db", "migrate", env=env), range(3)))
    again = run_cli("db", "migrate", env=env)

    assert [r.returncode for r in [*runs, again]] == [0, 0, 0, 0], [r.stderr for r in runs]
    outputs = sorted(r.stdout.strip().splitlines()[-1] for r in runs)
    assert outputs == [
        "applied: " + ", ".join(sorted(p.name for p in default_migrations_dir().glob("*.sql"))),
        "database is up to date",
        "database is up to date",
    ]
    assert again.stdout.strip().endswith("database is up to date")
    assert asyncio.run(_ledger_size(empty_database_url)) == len(
        load_migrations(default_migrations_dir())
    )


async def _ledger_size(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("select count(*) from schema_migrations"))
    finally:
        await connection.close()


def test_a_bad_setting_stops_start_up_with_a_clear_message() -> None:
    result = run_cli("serve", env={"WAZYBOT_PORT": "eighty"})

    assert result.returncode == 2
    assert "WAZYBOT_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_fails_start_up_without_leaking_the_password(
    tmp_path: Path,
) -> None:
    env = {"DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/wazybot"}
    with serve(env, tmp_path / "server.log", wait_for_health=False) as server:
        code = server.process.wait(timeout=60)

    assert code != 0
    assert "hunter2" not in server.logs()


def test_worker_role_runs_subscribers_without_http(empty_database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": empty_database_url}
    with serve(env, tmp_path / "server.log", "--role", "worker", wait_for_health=False) as server:
        wait_for_log(server, "workers.started")
        with pytest.raises(httpx.TransportError):
            httpx.get(server.base_url + "/health", timeout=1)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    assert "workers.stopped" in server.logs()


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["db"], ["db", "migrate"]):
        result = run_cli(*command, "--help", env={})
        assert result.returncode == 0, command
        assert "usage: wazybot" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = shutil.which("wazybot", path=str(Path(ROOT / ".venv" / "bin")))
    if script is None:
        pytest.fail("the wazybot console script is not installed in .venv")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
