"""`wazybot business ...` against a running server and real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import WAZYBOT, RunningServer, child_env, run_cli, serve
from tests.e2e.test_webhook import post, query, server_env
from tests.support.database import ROOT
from tests.support.webhooks import PHONE_NUMBER_ID, encode, messages_change, text_message, webhook

ENV_ACCESS_TOKEN = "EAAG-environment-access-token-0123456789"
STDIN_ACCESS_TOKEN = "EAAG-stdin-access-token-9876543210"
SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="  # 32 bytes in base64
ACME_NUMBER = "106540352242922"
ACME_SECOND = "106540352242923"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    env = server_env(
        database_url, WHATSAPP_ACCESS_TOKEN=ENV_ACCESS_TOKEN, WAZYBOT_SECRET_KEY=SECRET_KEY
    )
    with serve(env, tmp_path / "server.log") as running:
        yield running


def bare(database_url: str) -> dict[str, str]:
    """Another terminal: the same database, none of the server's WHATSAPP_* settings."""
    return {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY}


def cli(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    if stdin is None:
        return run_cli(*args, env=bare(database_url))
    return subprocess.run(
        [*WAZYBOT, *args], cwd=ROOT, env=child_env(bare(database_url)), input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def businesses(database_url: str, *args: str) -> dict[str, dict[str, Any]]:
    result = cli(database_url, "business", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {b["id"]: b for b in json.loads(result.stdout)}


def owner_of_delivery(server: RunningServer, database_url: str, number: str) -> str:
    """Deliver one message to a number; the business its events went to, or 'unrouted'."""
    unrouted_sql = "select count(*) from events where stream_id = 'unrouted'"
    unrouted_before = query(database_url, unrouted_sql)[0][0]
    message = text_message()
    body = encode(webhook(messages_change([message], phone_number_id=number)))
    assert post(server, body).status_code == 200
    rows = query(
        database_url,
        "select data->>'business_id' from events where data::text like $1",
        f"%{message['id']}%",
    )
    if rows:
        return str(rows[0][0])
    assert query(database_url, unrouted_sql)[0][0] == unrouted_before + 1
    return "unrouted"


def test_the_environment_business_is_stored_and_seen_from_any_terminal(
    server: RunningServer, database_url: str
) -> None:
    listed = businesses(database_url)
    table = cli(database_url, "business", "list")
    created = cli(database_url, "tokens", "create", "--business", "default")

    default = listed["default"]
    assert default["source"] == "environment"
    assert default["phone_number_ids"] == [PHONE_NUMBER_ID]
    assert default["has_access_token"] is True
    assert created.returncode == 0, created.stderr
    api = httpx.get(server.base_url + "/api/v1/conversations",
                    headers={"Authorization": f"Bearer {created.stdout.strip()}"})  # fmt: skip
    assert api.status_code == 200
    assert businesses(database_url)["default"]["api_tokens"] == 1
    everything = table.stdout + table.stderr + json.dumps(listed) + server.logs()
    assert ENV_ACCESS_TOKEN not in everything


def test_the_listing_explains_its_columns_and_counts_active_tokens(
    server: RunningServer, database_url: str
) -> None:
    for _ in range(3):
        assert cli(database_url, "tokens", "create", "--business", "default").returncode == 0
    token_id = json.loads(cli(database_url, "tokens", "list", "--json").stdout)[0]["id"]
    assert cli(database_url, "tokens", "revoke", token_id).returncode == 0

    table = cli(database_url, "business", "list").stdout
    header, row = table.splitlines()[:2]

    assert header.split() == ["ID", "NAME", "PHONE", "NUMBER", "IDS", "ACCOUNT", "FLOOD/MIN",
                              "SEND/S", "ACCESS", "TOKEN", "TOKENS", "SOURCE"]  # fmt: skip
    assert row.split()[-2:] == ["2", "environment"]
    for column in ("PHONE NUMBER IDS:", "ACCOUNT:", "FLOOD/MIN:", "SEND/S:", "ACCESS TOKEN:",
                   "TOKENS:", "SOURCE:"):  # fmt: skip
        assert column in table


def test_update_changes_numbers_and_settings_and_routing_follows_at_once(
    server: RunningServer, database_url: str
) -> None:
    added = cli(database_url, "business", "add", "--id", "acme", "--name", "Acme",
                "--phone-number-id", ACME_NUMBER)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert owner_of_delivery(server, database_url, ACME_SECOND) == "unrouted"

    updated = cli(
        database_url, "business", "update", "acme", "--name", "Acme Shoes",
        "--add-phone-number-id", ACME_SECOND, "--flood-limit", "7", "--account-id", "900",
        "--send-rate", "40", "--access-token-stdin", stdin=STDIN_ACCESS_TOKEN + "\n",
    )  # fmt: skip

    assert updated.returncode == 0, updated.stderr
    acme = businesses(database_url)["acme"]
    assert acme["name"] == "Acme Shoes"
    assert acme["phone_number_ids"] == [ACME_NUMBER, ACME_SECOND]
    assert (acme["flood_limit"], acme["account_id"], acme["has_access_token"]) == (7, "900", True)
    assert acme["send_rate"] == 40
    assert query(database_url, "select send_rate from businesses where id = 'acme'")[0][0] == 40
    assert owner_of_delivery(server, database_url, ACME_SECOND) == "acme"
    stored = query(database_url, "select b::text from businesses b where id = 'acme'")
    assert stored[0][0].count("fernet:") == 1  # encrypted at rest
    assert STDIN_ACCESS_TOKEN not in stored[0][0]
    shown = updated.stdout + updated.stderr + cli(database_url, "business", "list").stdout
    assert STDIN_ACCESS_TOKEN not in shown + server.logs()

    dropped = cli(database_url, "business", "update", "acme", "--remove-phone-number-id",
                  ACME_NUMBER)  # fmt: skip
    assert dropped.returncode == 0, dropped.stderr
    assert businesses(database_url)["acme"]["phone_number_ids"] == [ACME_SECOND]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("update", "nobody", "--name", "X"), "no business with id 'nobody'"),
        (("update", "acme"), "nothing to change"),
        (("update", "acme", "--add-phone-number-id", PHONE_NUMBER_ID), "belongs to business"),
        (("update", "acme", "--remove-phone-number-id", ACME_NUMBER), "at least one phone"),
        (("update", "acme", "--remove-phone-number-id", "42"), "does not own"),
        (("update", "acme", "--flood-limit", "0"), "flood limit"),
        (("update", "acme", "--send-rate", "0"), "send rate must be from 1 to 1000"),
        (("update", "acme", "--send-rate", "1001"), "send rate must be from 1 to 1000"),
        (("update", "acme", "--add-phone-number-id", "12ab"), "not a Meta id"),
        (("remove", "nobody"), "no business with id 'nobody'"),
    ],
)
def test_bad_changes_are_refused_with_exit_2_and_change_nothing(
    server: RunningServer, database_url: str, args: tuple[str, ...], says: str
) -> None:
    assert cli(database_url, "business", "add", "--id", "acme", "--name", "Acme",
               "--phone-number-id", ACME_NUMBER).returncode == 0  # fmt: skip
    before = businesses(database_url)

    result = cli(database_url, "business", *args)

    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert businesses(database_url) == before


def test_a_removed_business_keeps_its_data_and_its_numbers_stop_routing(
    server: RunningServer, database_url: str
) -> None:
    assert cli(database_url, "business", "add", "--id", "acme", "--name", "Acme",
               "--phone-number-id", ACME_NUMBER).returncode == 0  # fmt: skip
    token = cli(database_url, "tokens", "create", "--business", "acme").stdout.strip()
    assert owner_of_delivery(server, database_url, ACME_NUMBER) == "acme"

    removed = cli(database_url, "business", "remove", "acme")

    assert removed.returncode == 0, removed.stderr
    assert "acme" not in businesses(database_url)
    assert businesses(database_url, "--all")["acme"]["removed_at"] is not None
    deadline = time.monotonic() + 15  # the server's directory refreshes every 5 s
    while owner_of_delivery(server, database_url, ACME_NUMBER) != "unrouted":
        assert time.monotonic() < deadline, "the removed business still receives updates"
    assert query(database_url, "select count(*) from events where data->>'business_id' = 'acme'"
                 )[0][0] >= 1  # fmt: skip
    assert cli(database_url, "business", "remove", "acme").returncode == 2
    assert cli(database_url, "business", "update", "acme", "--name", "X").returncode == 2
    readable = httpx.get(server.base_url + "/api/v1/conversations",
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert readable.status_code == 200

    again = cli(database_url, "business", "add", "--id", "globex", "--name", "Globex",
                "--phone-number-id", ACME_NUMBER)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert owner_of_delivery(server, database_url, ACME_NUMBER) == "globex"


def test_a_removed_environment_business_comes_back_when_the_server_starts_with_it(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url)
    with serve(env, tmp_path / "first.log"):
        pass
    removed = cli(database_url, "business", "remove", "default")
    assert removed.returncode == 0, removed.stderr
    assert "WHATSAPP_PHONE_NUMBER_ID" in removed.stderr
    assert "default" not in businesses(database_url)
    with serve(env, tmp_path / "second.log"):
        assert businesses(database_url)["default"]["removed_at"] is None


def test_the_environment_never_takes_a_number_a_stored_business_owns(
    database_url: str, tmp_path: Path
) -> None:
    assert cli(database_url, "business", "add", "--id", "acme", "--name", "Acme",
               "--phone-number-id", PHONE_NUMBER_ID).returncode == 0  # fmt: skip
    with serve(server_env(database_url), tmp_path / "server.log") as server:
        assert owner_of_delivery(server, database_url, PHONE_NUMBER_ID) == "acme"
        assert "business.environment_not_applied" in server.logs()
    assert businesses(database_url)["default"]["phone_number_ids"] == []
