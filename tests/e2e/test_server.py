"""The running product, through its command line and over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.migrations import default_migrations_dir, load_migrations
from tests.e2e.server import free_port, run_cli, serve, wait_for_log
from tests.support.database import ROOT


def test_serve_migrates_an_empty_database_and_answers_health_and_ready(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": empty_database_url, "WAZYBOT_ENV": "production"}
    with serve(env, tmp_path / "server.log") as server:
        health = httpx.get(server.base_url + "/health")
        ready = httpx.get(server.base_url + "/ready", headers={"X-Request-ID": "req-42"})
        probes = [httpx.head(server.base_url + path) for path in ("/health", "/ready")]
        assert server.stop()

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert [(p.status_code, p.content) for p in probes] == [(200, b""), (200, b"")]
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
        probe = httpx.head(server.base_url + "/ready")

    assert health.status_code == 200
    assert ready.status_code == probe.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "pending_migrations": sorted(p.name for p in default_migrations_dir().glob("*.sql")),
    }
    assert ready.json()["pending_migrations"][0] == "0001_event_store.sql"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory of its own for the embedded server, removed with all kept for it."""
    path = ROOT / ".wazybot" / f"e2e-{uuid.uuid4().hex[:8]}" / "pgdata"
    yield path
    embedded = EmbeddedPostgres(path)
    embedded.stop_unused(force=True)
    embedded.remove()
    shutil.rmtree(path.parent, ignore_errors=True)


def postmaster_alive(data_dir: Path) -> bool:
    pid_file = EmbeddedPostgres(data_dir).data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_default_run_starts_and_stops_the_embedded_database(data_dir: Path, tmp_path: Path) -> None:
    with serve({"WAZYBOT_DATA_DIR": str(data_dir)}, tmp_path / "server.log") as server:
        ready = httpx.get(server.base_url + "/ready")
        socket_dir = Path(Path(f"{data_dir}.socket").read_text().strip())
        assert socket_dir.is_dir()
        assert server.stop()

    assert ready.status_code == 200
    assert (EmbeddedPostgres(data_dir).data_dir / "PG_VERSION").exists()
    assert not postmaster_alive(data_dir), "embedded server left running"
    assert not socket_dir.exists(), "socket directory left behind"
    assert not Path(f"{data_dir}.socket").exists()


@pytest.mark.slow
def test_the_embedded_database_is_reused_across_runs(data_dir: Path, tmp_path: Path) -> None:
    for run in range(2):
        with serve({"WAZYBOT_DATA_DIR": str(data_dir)}, tmp_path / f"{run}.log") as server:
            assert httpx.get(server.base_url + "/ready").status_code == 200
            assert server.stop()
    logs = (tmp_path / "0.log").read_text(), (tmp_path / "1.log").read_text()
    assert "embedded_postgres.initdb" in logs[0]
    assert "embedded_postgres.initdb" not in logs[1]
    assert "0001_event_store.sql" in logs[0]
    assert "up to date" in logs[1]


@pytest.mark.slow
def test_an_embedded_server_orphaned_by_kill_9_is_reused_then_stopped(
    data_dir: Path, tmp_path: Path
) -> None:
    env = {"WAZYBOT_DATA_DIR": str(data_dir)}
    with serve(env, tmp_path / "killed.log") as killed:
        killed.process.kill()
        killed.process.wait()
    assert postmaster_alive(data_dir), "the orphan scenario needs the server to outlive WazyBot"

    with serve(env, tmp_path / "next.log") as server:
        assert httpx.get(server.base_url + "/ready").status_code == 200
        assert server.stop()

    assert "embedded_postgres.starting" not in server.logs(), "the orphan was not reused"
    assert not postmaster_alive(data_dir), "the next run did not stop the server when it left"


@pytest.mark.slow
def test_db_stop_stops_an_orphan_but_not_a_server_in_use_unless_forced(
    data_dir: Path, tmp_path: Path
) -> None:
    env = {"WAZYBOT_DATA_DIR": str(data_dir)}
    with serve(env, tmp_path / "live.log") as live:
        refused = run_cli("db", "stop", env=env)
        assert postmaster_alive(data_dir)
        forced = run_cli("db", "stop", "--force", env=env)
        assert not postmaster_alive(data_dir)
        live.process.kill()
    with serve(env, tmp_path / "killed.log") as killed:
        killed.process.kill()
        killed.process.wait()
    orphan = run_cli("db", "stop", env=env)
    stopped_again = run_cli("db", "stop", env=env)

    assert (refused.returncode, forced.returncode) == (1, 0), refused.stderr + forced.stderr
    assert str(live.process.pid) in refused.stderr
    assert "--force" in refused.stderr
    assert orphan.returncode == 0, orphan.stderr
    assert orphan.stdout.startswith("stopped the embedded PostgreSQL")
    assert not postmaster_alive(data_dir)
    assert (stopped_again.returncode, stopped_again.stdout.strip()) == (
        0,
        f"no embedded PostgreSQL runs for {data_dir}",
    )


def test_db_stop_with_database_url_explains_there_is_nothing_to_stop() -> None:
    result = run_cli("db", "stop", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x"})

    assert result.returncode == 2
    assert "DATABASE_URL is set" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("business", "list"), ("tokens", "list"), ("projections", "status"),
     ("webhooks", "reprocess", "--dry-run")],
)  # fmt: skip
def test_admin_commands_run_elsewhere_say_there_is_no_database_instead_of_making_one(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"

    result = run_cli(*command, env={}, cwd=elsewhere)

    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stderr.splitlines()[-1]
    assert said.startswith(f"wazybot: no WazyBot database in {elsewhere / '.wazybot'}")
    assert "WAZYBOT_DATA_DIR" in said
    assert not (elsewhere / ".wazybot").exists()
    assert result.stdout == ""


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_serve_as_root_with_a_data_directory_nobody_else_can_enter(tmp_path: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="wazybot-private-"))  # mode 0700, like `mktemp -d`
    data_dir = private / "project" / ".wazybot" / "pgdata"
    try:
        with serve({"WAZYBOT_DATA_DIR": str(data_dir)}, tmp_path / "server.log") as server:
            ready = httpx.get(server.base_url + "/ready")
            assert server.stop()
        relocated = EmbeddedPostgres(data_dir).data_dir
        assert ready.status_code == 200, server.logs()
        assert "embedded_postgres.data_dir_elsewhere" in server.logs()
        assert str(relocated) in server.logs()
        assert (relocated / "PG_VERSION").exists()
        assert not postmaster_alive(data_dir)
    finally:
        EmbeddedPostgres(data_dir).stop_unused(force=True)
        EmbeddedPostgres(data_dir).remove()
        shutil.rmtree(private, ignore_errors=True)


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


def test_every_bad_setting_is_reported_at_once() -> None:
    env = {"WAZYBOT_PORT": "eighty", "WAZYBOT_ROLE": "everything", "WAZYBOT_DB_POOL_SIZE": "1"}
    result = run_cli("serve", env=env)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    for name in env:
        assert any(name in line for line in lines), name


def test_settings_come_from_the_dotenv_file_of_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# local settings\nWAZYBOT_ROLE=everything\nWAZYBOT_PORT=eighty\nnot a setting\n"
    )

    result = run_cli("serve", env={"WAZYBOT_PORT": "8000"}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"wazybot: invalid setting: {Path('.env')} line 4 is not KEY=value "
        "(or its quotes do not close)",
        "wazybot: invalid setting: WAZYBOT_ROLE must be one of all, api, worker; got 'everything'",
    ]  # the environment's WAZYBOT_PORT wins over the bad line of .env


def test_a_busy_port_is_reported_before_the_database_starts(tmp_path: Path) -> None:
    data_dir = tmp_path / "never-created"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"WAZYBOT_DATA_DIR": str(data_dir), "WAZYBOT_PORT": str(port)}
        result = run_cli("serve", env=env, timeout=20)

    assert result.returncode == 1
    assert "--port" in result.stderr
    assert "WAZYBOT_PORT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not data_dir.exists(), "the database started before the port was checked"


def test_an_unreachable_database_fails_start_up_without_leaking_the_password(
    tmp_path: Path,
) -> None:
    env = {"DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/wazybot"}
    with serve(env, tmp_path / "server.log", wait_for_health=False) as server:
        code = server.process.wait(timeout=60)

    output = server.logs()
    assert code == 1
    # The refused connection's message names the URL, so the password reaches the log path:
    # only redaction keeps it out.
    assert "postgresql://app:***@127.0.0.1:1/wazybot" in output
    assert "hunter2" not in output
    assert "Traceback" not in output


def test_a_migration_that_fails_stops_start_up_with_one_line(empty_database_url: str) -> None:
    asyncio.run(_execute(empty_database_url, "create table events (taken_by text)"))

    result = run_cli("serve", "--port", str(free_port()), env={"DATABASE_URL": empty_database_url})

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("wazybot: ")
    assert result.stderr.startswith("wazybot: migration 0001_event_store.sql failed: ")
    assert '"events" already exists' in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_embedded_database_that_cannot_start_stops_start_up_with_one_line(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "not-a-cluster"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("someone else's files")

    result = run_cli("serve", "--port", str(free_port()), env={"WAZYBOT_DATA_DIR": str(data_dir)})

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "holds no PostgreSQL cluster" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert (data_dir / "notes.txt").exists()


async def _execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def test_worker_role_runs_subscribers_without_http(empty_database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": empty_database_url, "WHATSAPP_PHONE_NUMBER_ID": "1065550001"}
    with serve(env, tmp_path / "server.log", "--role", "worker", wait_for_health=False) as server:
        wait_for_log(server, "workers.started")
        with pytest.raises(httpx.TransportError):
            httpx.get(server.base_url + "/health", timeout=1)
        stored = asyncio.run(_fetch(empty_database_url, "select id from businesses"))
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    started = next(line for line in server.logs().splitlines() if "workers.started" in line)
    assert "team-notices" in started  # the notices are delivered by worker processes too
    assert "outbox" in started
    assert stored == ["default"]  # as by a server of role all: every command sees it
    assert "workers.stopped" in server.logs()


async def _fetch(url: str, sql: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [row[0] for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["db"], ["db", "migrate"], ["db", "stop"]):
        result = run_cli(*command, "--help", env={})
        assert result.returncode == 0, command
        assert "usage: wazybot" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = shutil.which("wazybot", path=str(Path(ROOT / ".venv" / "bin")))
    if script is None:
        pytest.fail("the wazybot console script is not installed in .venv")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
