"""`wazybot serve` with no WhatsApp credentials: the sandbox, said plainly, on its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.e2e.server import (
    CHILD_CWD,
    WAZYBOT,
    child_env,
    free_port,
    run_cli,
    serve,
    wait_for_log,
)
from tests.support.sandbox_server import SECRET_KEY

BANNER = "WazyBot is running in SANDBOX mode."


def test_serve_without_an_access_token_runs_the_sandbox(database_url: str, tmp_path: Path) -> None:
    # WAZYBOT_SANDBOX unset: no access token in development means the sandbox.
    env = {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY}
    with serve(env, tmp_path / "server.log", unset=("WAZYBOT_SANDBOX",)) as server:
        wait_for_log(server, BANNER)
        assert "not to Meta" in server.logs()
        assert f"Dashboard:  {server.base_url}/" in server.logs()
        created = run_cli("tokens", "create", "--business", "sandbox", env=env)
        assert created.returncode == 0, created.stderr
        token = created.stdout.splitlines()[0]
        headers = {"Authorization": f"Bearer {token}"}

        def products() -> list[object]:
            answer = httpx.get(f"{server.base_url}/api/v1/products?limit=50", headers=headers)
            items: list[object] = answer.json()["items"]
            return items

        _wait_until(lambda: len(products()) == 21)
        link = _sign_in_link(server.logs())
        with httpx.Client(base_url=server.base_url) as browser:
            opened = browser.get(link)
            assert opened.status_code == 303
            assert opened.headers["location"] == "/"
            assert browser.get("/").status_code == 200  # the session cookie opens the dashboard
            assert browser.get(link).status_code == 401  # once only
        assert server.stop()


def _sign_in_link(logs: str) -> str:
    line = next(line for line in logs.splitlines() if line.strip().startswith("Sign in:"))
    return line.split("Sign in:", 1)[1].strip()


def test_the_sandbox_on_a_database_url_needs_a_secret_key(database_url: str) -> None:
    result = run_cli("serve", env={"DATABASE_URL": database_url, "WAZYBOT_SANDBOX": "1"})
    assert result.returncode == 1
    assert "set WAZYBOT_SECRET_KEY too" in result.stderr


def test_the_sandbox_refuses_to_run_split_in_roles(database_url: str) -> None:
    result = run_cli("serve", "--role", "api",
                     env={"DATABASE_URL": database_url, "WAZYBOT_SANDBOX": "1",
                          "WAZYBOT_SECRET_KEY": SECRET_KEY})  # fmt: skip
    assert result.returncode == 1
    assert "sandbox mode runs everything in one process" in result.stderr


def test_production_without_an_access_token_is_no_sandbox(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "WAZYBOT_ENV": "production"}
    with serve(env, tmp_path / "server.log") as server:
        wait_for_log(server, "app.started")
        assert BANNER not in server.logs()


def _wait_until(check: object, timeout: float = 20) -> None:
    import time

    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.1)


def test_a_database_serving_businesses_is_never_a_sandbox_by_accident(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY}
    added = run_cli("business", "add", "--id", "acme", "--name", "Acme",
                    "--phone-number-id", "1065000000001", env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    process = subprocess.run(
        [*WAZYBOT, "serve", "--port", str(free_port())], cwd=CHILD_CWD,
        env=child_env(env, unset=("WAZYBOT_SANDBOX",)), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert process.returncode == 1
    assert "this database serves business(es) acme: set WAZYBOT_SANDBOX=0" in process.stderr


def test_a_configured_number_without_a_token_is_no_sandbox(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "WHATSAPP_PHONE_NUMBER_ID": "1065000000002",
           "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v"}  # fmt: skip
    with serve(env, tmp_path / "server.log", unset=("WAZYBOT_SANDBOX",)) as server:
        wait_for_log(server, "app.started")
        assert BANNER not in server.logs()


def test_the_status_command_sends_a_sandbox_to_the_server(database_url: str) -> None:
    result = run_cli("status", env={"DATABASE_URL": database_url, "WAZYBOT_SANDBOX": "1"})
    assert result.returncode == 2
    assert "ask the server (GET /api/v1/status" in result.stderr
