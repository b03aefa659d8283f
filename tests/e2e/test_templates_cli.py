"""`wazybot templates ...` as a user runs it: real PostgreSQL, the Cloud API simulator over HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.whatsapp.simulator import CloudApiSimulator, running
from tests.e2e.server import WAZYBOT, child_env
from tests.support.database import ROOT

SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="  # 32 bytes in base64
ACCESS_TOKEN = "EAAG-templates-cli-token-0123456789"
ACCOUNT_ID = "102290129340398"
BODY: list[dict[str, Any]] = [{"type": "BODY", "text": "Hello {{1}}"}]
NEW_TEMPLATE: dict[str, Any] = {
    "name": "order_ready",
    "language": "fr",
    "category": "UTILITY",
    "components": [
        {"type": "BODY", "text": "Commande {{1}} prête", "example": {"body_text": [["A-1"]]}},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Voir", "url": "https://acme.test/o/{{1}}",
             "example": ["https://acme.test/o/A-1"]}]},
    ],
}  # fmt: skip


class Cli:
    def __init__(self, database_url: str, graph_url: str) -> None:
        self.env = {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY,
                    "WHATSAPP_GRAPH_URL": graph_url}  # fmt: skip

    async def __call__(
        self, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run, [*WAZYBOT, *args], cwd=ROOT, env=child_env(self.env), input=stdin,
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        assert ACCESS_TOKEN not in result.stdout + result.stderr
        return result

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        result = await self(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    async def listed(self, *args: str) -> list[dict[str, Any]]:
        return list(json.loads(await self.ok("templates", "list", "--business", "acme", "--json",
                                             *args)))  # fmt: skip


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[CloudApiSimulator, Cli]]:
    sim = CloudApiSimulator(access_tokens=[ACCESS_TOKEN], app_secret="cli-secret")
    sim.add_template("order_confirmation", "en_US", BODY)
    sim.add_template("order_confirmation", "fr", BODY, status="PENDING")
    for n in range(30):  # more than one of Meta's default pages
        sim.add_template(f"notice_{n:02d}", "en", BODY, category="MARKETING")
    async with running(sim) as running_sim:
        assert running_sim.base_url is not None
        cli = Cli(database_url, running_sim.base_url)
        await cli.ok("business", "add", "--id", "acme", "--name", "Acme", "--phone-number-id",
                     "106540352242922", "--account-id", ACCOUNT_ID, "--access-token-stdin",
                     stdin=ACCESS_TOKEN + "\n")  # fmt: skip
        yield running_sim, cli


async def test_sync_list_create_delete(
    world: tuple[CloudApiSimulator, Cli], tmp_path: Path
) -> None:
    _, cli = world

    first = await cli.ok("templates", "sync", "--business", "acme")
    again = await cli.ok("templates", "sync", "--business", "acme")
    table = await cli.ok("templates", "list", "--business", "acme")
    approved = await cli.listed("--status", "approved", "--language", "en_US")

    assert "32 template(s) at Meta, 32 changed, 0 gone from Meta" in first
    assert "32 template(s) at Meta, 0 changed, 0 gone from Meta" in again
    assert "order_confirmation  fr        PENDING" in table
    assert [(t["name"], t["status"], t["components"]) for t in approved] == [
        ("order_confirmation", "APPROVED", BODY)
    ]

    definition = tmp_path / "order_ready.json"
    definition.write_text(json.dumps(NEW_TEMPLATE))
    created = await cli.ok("templates", "create", str(definition), "--business", "acme")
    assert "created template 'order_ready' (fr, UTILITY)" in created
    assert [t["name"] for t in await cli.listed("--language", "fr")] == [
        "order_confirmation",
        "order_ready",
    ]

    deleted = await cli.ok("templates", "delete", "order_confirmation", "--business", "acme")
    assert "2 stored language(s) marked deleted" in deleted
    statuses = {(t["name"], t["language"]): t["status"] for t in await cli.listed()}
    assert (
        statuses["order_confirmation", "en_US"] == statuses["order_confirmation", "fr"] == "DELETED"
    )
    assert statuses["order_ready", "fr"] == "APPROVED"  # the simulator approves at once


async def test_a_template_deleted_elsewhere_is_marked_deleted_by_the_next_sync(
    world: tuple[CloudApiSimulator, Cli],
) -> None:
    sim, cli = world
    await cli.ok("templates", "sync", "--business", "acme")
    sim.state.templates = [t for t in sim.state.templates if t.name != "notice_07"]

    synced = await cli.ok("templates", "sync", "--business", "acme")

    assert "31 template(s) at Meta, 0 changed, 1 gone from Meta" in synced
    assert [t["name"] for t in await cli.listed("--status", "DELETED")] == ["notice_07"]


async def test_a_broken_file_is_refused_before_meta_is_called(
    world: tuple[CloudApiSimulator, Cli], tmp_path: Path
) -> None:
    sim, cli = world
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**NEW_TEMPLATE, "name": "Order Ready"}))
    not_json = tmp_path / "not.json"
    not_json.write_text("{name: ")

    bad_name = await cli("templates", "create", str(broken), "--business", "acme")
    bad_json = await cli("templates", "create", str(not_json), "--business", "acme")
    missing = await cli("templates", "create", str(tmp_path / "nope.json"), "--business", "acme")

    assert bad_name.returncode == 2
    assert "name: lowercase letters, digits and underscores" in bad_name.stderr
    assert bad_json.returncode == 2
    assert "not valid JSON" in bad_json.stderr
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert not [r for r in sim.requests if r.method == "POST"]


async def test_clear_errors_for_businesses_and_meta_refusals(
    world: tuple[CloudApiSimulator, Cli],
) -> None:
    sim, cli = world
    await cli.ok("business", "add", "--id", "globex", "--name", "Globex", "--phone-number-id",
                 "106540352242999")  # fmt: skip

    unknown = await cli("templates", "sync", "--business", "nobody")
    no_account = await cli("templates", "sync", "--business", "globex")
    gone = await cli("templates", "delete", "never_was", "--business", "acme")
    sim.fail(190, count=1)
    expired = await cli("templates", "sync", "--business", "acme")

    assert (unknown.returncode, "no active business 'nobody'" in unknown.stderr) == (2, True)
    assert no_account.returncode == 2
    assert "--account-id" in no_account.stderr
    assert gone.returncode == 1
    assert "Meta refused" in gone.stderr
    assert expired.returncode == 1
    assert "code 190" in expired.stderr
    assert await cli.listed() == []  # nothing was recorded


async def test_a_graph_api_that_does_not_answer_is_named_with_the_setting(
    world: tuple[CloudApiSimulator, Cli],
) -> None:
    _, cli = world
    cli.env["WHATSAPP_GRAPH_URL"] = "http://127.0.0.1:9"  # the discard port: nobody listens

    unreachable = await cli("templates", "sync", "--business", "acme")

    assert unreachable.returncode == 1
    assert "no answer from the Graph API at http://127.0.0.1:9" in unreachable.stderr
    assert "WHATSAPP_GRAPH_URL" in unreachable.stderr
