"""`wazybot tokens list` and `revoke` against a running server and real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import query, server_env


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return server_env(database_url)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[RunningServer]:
    with serve(env, tmp_path / "server.log") as running:
        yield running


def create(env: dict[str, str], business: str = "default", name: str = "") -> str:
    created = run_cli("tokens", "create", "--business", business, "--name", name, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def listed(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    result = run_cli("tokens", "list", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def call(server: RunningServer, token: str) -> httpx.Response:
    return httpx.get(server.base_url + "/api/v1/conversations",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip


def test_a_revoked_token_answers_401_at_once(
    server: RunningServer, env: dict[str, str], database_url: str
) -> None:
    token = create(env, name="dashboard")
    assert call(server, token).status_code == 200
    (row,) = listed(env)
    assert row["active"] is True

    revoked = run_cli("tokens", "revoke", row["id"], env=env)

    assert revoked.returncode == 0, revoked.stderr
    assert row["id"] in revoked.stdout
    response = call(server, token)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    (after,) = listed(env)
    assert after["revoked_at"] is not None
    assert after["active"] is False
    again = run_cli("tokens", "revoke", row["id"], env=env)
    assert again.returncode == 0
    assert listed(env)[0]["revoked_at"] == after["revoked_at"]


def test_last_use_is_recorded_at_most_once_a_minute(
    server: RunningServer, env: dict[str, str], database_url: str
) -> None:
    token = create(env)
    assert listed(env)[0]["last_used_at"] is None
    assert call(server, token).status_code == 200
    first = listed(env)[0]["last_used_at"]
    assert first is not None
    assert call(server, token).status_code == 200
    assert listed(env)[0]["last_used_at"] == first  # within the minute: no second write
    query(database_url, "update api_tokens set last_used_at = now() - interval '2 minutes'")
    stale = listed(env)[0]["last_used_at"]
    assert call(server, token).status_code == 200
    assert listed(env)[0]["last_used_at"] > stale


def test_the_listing_shows_everything_but_the_token(
    server: RunningServer, env: dict[str, str]
) -> None:
    added = run_cli("business", "add", "--id", "globex", "--name", "Globex",
                    "--phone-number-id", "2233445566778", env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    mine = create(env, "default", "dashboard")
    theirs = create(env, "globex", "reports")

    table = run_cli("tokens", "list", env=env)
    only_globex = listed(env, "--business", "globex")

    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == ["ID", "BUSINESS", "NAME", "CREATED", "LAST", "USED", "REVOKED"]
    assert "dashboard" in table.stdout
    assert "reports" in table.stdout
    for secret in (mine, theirs):
        assert secret not in table.stdout + table.stderr
        assert secret.split("_", 2)[-1] not in json.dumps(listed(env))  # the secret part whole
    assert [(t["business_id"], t["name"]) for t in only_globex] == [("globex", "reports")]
    assert set(listed(env)[0]) == {
        "id", "business_id", "name", "created_at", "last_used_at", "revoked_at", "active",
    }  # fmt: skip


def test_revoking_an_unknown_token_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_cli("tokens", "revoke", "nope", env=env)
    assert result.returncode == 2
    assert "no token with id 'nope'" in result.stderr
