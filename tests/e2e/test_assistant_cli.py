"""`wazybot assistant show|set` as a user runs it, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from domain.assistant_settings import DEFAULT_FALLBACK_FR, DEFAULT_HANDOFF_EN
from tests.e2e.server import WAZYBOT, child_env
from tests.support.database import ROOT

SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY}

    async def __call__(
        self, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run, [*WAZYBOT, *args], cwd=ROOT, env=child_env(self.env), input=stdin,
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        return result

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        result = await self(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    async def refused(self, *args: str) -> str:
        result = await self(*args)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert result.stdout == ""
        return result.stderr

    async def shown(self, business: str = "acme") -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(
            await self.ok("assistant", "show", "--business", business, "--json")
        )
        return shown


@pytest.fixture
async def cli(database_url: str) -> Cli:
    cli = Cli(database_url)
    await cli.ok("business", "add", "--id", "acme", "--name", "Acme", "--phone-number-id",
                 "106540352242922")  # fmt: skip
    return cli


async def test_show_then_set_then_show(cli: Cli, tmp_path: Path) -> None:
    defaults = await cli.shown()
    assert defaults["auto_reply"] is True
    assert defaults["language"] == "auto"
    assert defaults["max_consecutive_failures"] == 2
    assert defaults["fallback_message_fr"] == DEFAULT_FALLBACK_FR
    assert (defaults["version"], defaults["updated_at"]) == (0, None)
    table = await cli.ok("assistant", "show", "--business", "acme")
    assert "auto (the customer's)" in table
    assert DEFAULT_HANDOFF_EN in table

    instructions = tmp_path / "instructions.txt"
    instructions.write_text("Vouvoyez toujours le client.\nNe promettez aucun délai.\n",
                            encoding="utf-8")  # fmt: skip
    said = await cli.ok(
        "assistant", "set", "--business", "acme", "--auto-reply", "off", "--language", "fr",
        "--escalation-keywords", "humain, conseiller ,", "--max-consecutive-failures", "3",
        "--business-hours", "Lun-ven 9h-18h", "--instructions-file", str(instructions),
        "--fallback-message-en", "One moment please.", "--pause-after-human", "1d6h",
        "--group-auto-replies", "off",
    )  # fmt: skip
    assert "changed auto-reply, language" in said
    assert "(version 1)" in said
    changed = await cli.shown()
    assert {k: changed[k] for k in ("auto_reply", "language", "escalation_keywords",
                                    "max_consecutive_failures", "business_hours", "instructions",
                                    "fallback_message_en", "fallback_message_fr",
                                    "pause_after_human_minutes", "group_auto_replies",
                                    "version")} == {
        "auto_reply": False, "language": "fr", "escalation_keywords": ["humain", "conseiller"],
        "max_consecutive_failures": 3, "business_hours": "Lun-ven 9h-18h",
        "instructions": "Vouvoyez toujours le client.\nNe promettez aucun délai.",
        "fallback_message_en": "One moment please.", "fallback_message_fr": DEFAULT_FALLBACK_FR,
        "pause_after_human_minutes": 30 * 60, "group_auto_replies": False, "version": 1,
    }  # fmt: skip
    table = await cli.ok("assistant", "show", "--business", "acme")
    assert "  Ne promettez aucun délai." in table
    assert re.search(r"^pause after human +30h$", table, re.MULTILINE)

    again = await cli.ok("assistant", "set", "--business", "acme", "--language", "fr")
    assert "nothing changed" in again
    assert (await cli.shown())["version"] == 1
    cleared = await cli.ok("assistant", "set", "--business", "acme", "--escalation-keywords", "")
    assert "changed escalation-keywords" in cleared
    assert (await cli.shown())["escalation_keywords"] == []


async def test_bad_input_is_refused_naming_the_option_and_changes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    cases = {
        ("--max-consecutive-failures", "0"): "--max-consecutive-failures: must be a whole number",
        ("--fallback-message-fr", "  "): "--fallback-message-fr: must not be empty",
        ("--pause-after-human", "12 hours"): "--pause-after-human: '12 hours' is not a duration",
        ("--pause-after-human", "8d"): "--pause-after-human: must be at most 7 days",
        ("--instructions-file", str(tmp_path / "missing.txt")): "--instructions-file: cannot read",
        (): "give at least one setting",
        ("--group-auto-replies", "on"): "--group-auto-replies: cannot be turned on",
    }
    for options, message in cases.items():
        given = ("--auto-reply", "off", *options) if options else ()
        stderr = await cli.refused("assistant", "set", "--business", "acme", *given)
        assert message in stderr, (options, stderr)
    usage = await cli.refused("assistant", "set", "--business", "acme", "--auto-reply", "maybe")
    assert "invalid choice: 'maybe'" in usage
    unknown = await cli.refused("assistant", "set", "--business", "nope", "--auto-reply", "off")
    assert "no business 'nope'" in unknown
    assert "no business 'nope'" in await cli.refused("assistant", "show", "--business", "nope")
    assert (await cli.shown())["version"] == 0
