"""`wazybot assistant evaluate` as a user runs it: a history made by real turns (signed
webhooks, the turn worker, the outbox, the Cloud API simulator, real PostgreSQL), then the
command in a child process, offline and against the scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from domain.assistant_turns import AssistantTurnCompleted, AssistantTurnSkipped
from domain.conversation import conversation_stream
from entrypoints.container import resolve
from tests.e2e.server import run_cli
from tests.support.openai_server import (
    Completion,
    Failure,
    Request,
    ScriptedOpenAi,
    Stall,
    Step,
    serving_openai,
)
from tests.support.sending import SendingWorld, sending_world
from tests.support.webhooks import PHONE_NUMBER_ID

pytestmark = pytest.mark.slow

SECRET_KEY = "ZTJlLXRlc3Qta2V5LW9mLTMyLWJ5dGVzLWV4YWN0bHk="
ASKED_HOURS = "33612345101"  # wrote while automatic replies were off; an agent answered
GREETED = "33612345102"
SCRIPTED = "33612345103"
WANTS_A_PERSON = "33612345104"
HOSTILE = "<script>alert('x')</script> Quels sont vos horaires ?"
HOURS_FILE = "Horaires : du lundi au samedi, 8h-20h\n"


@dataclass
class History:
    world: SendingWorld
    database_url: str
    conversations: dict[str, str]  # phone -> public id

    def env(self, **extra: str) -> dict[str, str]:
        assert self.world.sim.base_url is not None
        return {"DATABASE_URL": self.database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY,
                "WHATSAPP_GRAPH_URL": self.world.sim.base_url, **extra}  # fmt: skip

    async def evaluate(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        result = await asyncio.to_thread(
            run_cli, "assistant", "evaluate", *args, env=env or self.env(), cwd=cwd, timeout=120
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout, result.stderr

    async def footprint(self) -> tuple[int, int, int]:
        """Events stored, outbox rows, and Graph API calls the simulator received."""
        connection = await asyncpg.connect(self.database_url)
        try:
            events = await connection.fetchval("select count(*) from events")
            outbox = await connection.fetchval("select count(*) from outbox")
        finally:
            await connection.close()
        return int(events), int(outbox), len(self.world.sim.state.requests)


@asynccontextmanager
async def history(database_url: str) -> AsyncIterator[History]:
    """One customer answered by a person while automatic replies were off, then three
    customers answered by real turns of the offline assistant."""
    async with sending_world(database_url) as world:
        await world.customer_writes("Bonjour, quels sont vos horaires ?", phone=ASKED_HOURS)
        asked = await world.conversation_of(ASKED_HOURS)
        sent = await world.send(asked, {"text": "Bonjour ! De 9h à 18h."})
        assert sent.status_code == 202, sent.text
    async with sending_world(database_url, WAZYBOT_AUTO_REPLIES="true") as world:
        for phone, text in ((GREETED, "Bonjour"), (SCRIPTED, HOSTILE),
                            (WANTS_A_PERSON, "je veux parler à un conseiller")):  # fmt: skip
            await world.customer_writes(text, phone=phone)
        for phone in (GREETED, SCRIPTED, WANTS_A_PERSON):
            await wait_for_outcome(world, phone)
        phones = (ASKED_HOURS, GREETED, SCRIPTED, WANTS_A_PERSON)
        conversations = {phone: await world.conversation_of(phone) for phone in phones}
        await wait_until_sent(world, 3)  # two replies and a handoff
        await settled(world, database_url)
        yield History(world, database_url, conversations)


async def wait_for_outcome(world: SendingWorld, phone: str) -> None:
    store = await resolve(world.container.event_store())

    async def taken() -> bool:
        recorded = await store.read_stream(conversation_stream(PHONE_NUMBER_ID, phone))
        kinds = (AssistantTurnCompleted, AssistantTurnSkipped)
        return any(isinstance(r.event, kinds) for r in recorded)

    await world.eventually(taken)


async def wait_until_sent(world: SendingWorld, count: int) -> None:
    async def sent() -> bool:
        return len(world.sim.sent_bodies()) == count

    await world.eventually(sent)


async def settled(world: SendingWorld, database_url: str) -> None:
    """Every send recorded as accepted, and every status webhook posted and stored."""

    async def all_accepted() -> bool:
        connection = await asyncpg.connect(database_url)
        try:
            open_rows = await connection.fetchval(
                "select count(*) from outbox where status <> 'accepted'"
            )
        finally:
            await connection.close()
        return int(open_rows) == 0

    await world.eventually(all_accepted)
    await world.sim.drain()


def directories(parent: Path, pattern: str) -> list[Path]:
    return sorted(parent.glob(pattern))


def report(directory: Path) -> tuple[dict[str, dict[str, str]], str, str]:
    """The CSV rows by conversation id, the raw CSV, and the HTML page."""
    raw = (directory / "evaluation.csv").read_text(encoding="utf-8-sig")
    rows = {row["conversation_id"]: row for row in csv.DictReader(io.StringIO(raw))}
    return rows, raw, (directory / "evaluation.html").read_text(encoding="utf-8")


async def test_offline_replay_reports_then_and_now_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async with history(database_url) as past:
        before = await past.footprint()
        same = tmp_path / "same"
        code, out, err = await past.evaluate(
            "--business", "default", "--since", "1h", "--out", str(same), cwd=tmp_path
        )
        assert code == 0, err
        rows, raw, page = report(tmp_path / "same")

        instructions = tmp_path / "hours.txt"
        instructions.write_text(HOURS_FILE, encoding="utf-8")
        code, changed_out, err = await past.evaluate(
            "--business",
            "default",
            "--instructions-file",
            str(instructions),
            "--json",
            cwd=tmp_path,
        )
        assert code == 0, err
        (made,) = await asyncio.to_thread(directories, tmp_path, "evaluation-default-*")
        tried, _, _ = report(made)
        after = await past.footprint()

    assert after == before  # no event, no outbox row, no Graph API call
    ids = past.conversations
    assert set(rows) == set(ids.values())
    for phone in ids:
        assert phone not in raw
        assert phone not in page
    agent = rows[ids[ASKED_HOURS]]
    assert (agent["then_decision"], agent["then_text"]) == ("agent reply", "Bonjour ! De 9h à 18h.")
    assert agent["now_decision"] == "reply"
    assert agent["changed"] == "yes"
    assert agent["latency_then_ms"] == ""
    for phone in (GREETED, SCRIPTED):  # the same rules, the same settings: the same answer
        row = rows[ids[phone]]
        assert (row["then_decision"], row["now_decision"], row["changed"]) == (
            "reply", "reply", "no")  # fmt: skip
        assert row["then_text"] == row["now_text"]
        assert row["provider_now"] == "offline"
    person = rows[ids[WANTS_A_PERSON]]
    assert (person["then_decision"], person["now_decision"]) == ("escalate", "escalate")
    assert (person["escalation_then"], person["escalation_now"], person["changed"]) == (
        "yes", "yes", "no")  # fmt: skip
    assert rows[ids[SCRIPTED]]["customer_messages"] == HOSTILE

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert not re.search(r"<(script|link|img|iframe)\b|src=|https?://", page)
    assert "<style>" in page
    for figure in ("turns replayed", "changed", "escalations then / now", "latency now p50"):
        assert figure in page
    assert re.search(r"^turns replayed +4$", out, re.MULTILINE)
    assert re.search(r"^changed +1$", out, re.MULTILINE)
    assert re.search(r"^escalations then / now +1 / 1$", out, re.MULTILINE)
    assert str(tmp_path / "same" / "evaluation.csv") in out
    assert str(tmp_path / "same" / "evaluation.html") in out

    # The instructions of the file give the hours the business's own instructions lacked.
    assert "8h-20h" in tried[ids[ASKED_HOURS]]["now_text"]
    assert "8h-20h" not in rows[ids[ASKED_HOURS]]["now_text"]
    hostile = tried[ids[SCRIPTED]]
    assert "8h-20h" in hostile["now_text"]
    assert hostile["changed"] == "yes"
    summary = json.loads(changed_out)
    assert (summary["turns"], summary["changed"], summary["provider"]) == (4, 2, "offline")
    assert summary["csv"] == str(made / "evaluation.csv")


def openai_model(request: Request) -> Step:
    """A stand-in model: stalls on the hours question, fails on the person, else answers."""
    said = str(request.messages[-1]["content"])
    if "horaires" in said and "script" in said:
        return Stall(30)
    if "conseiller" in said:
        return Failure(500, "upstream exploded")
    return Completion(f"Réponse du modèle ({len(request.messages)} messages)")


async def test_openai_replay_turns_timeouts_and_errors_into_rows(
    database_url: str, tmp_path: Path
) -> None:
    model = ScriptedOpenAi(responder=openai_model)
    async with history(database_url) as past, serving_openai(model) as openai_url:
        before = await past.footprint()
        env = past.env(OPENAI_API_KEY="sk-test-evaluate", OPENAI_BASE_URL=openai_url,
                       OPENAI_MAX_RETRIES="0")  # fmt: skip
        instructions = tmp_path / "delivery.txt"
        instructions.write_text("Nous livrons le samedi matin.\n", encoding="utf-8")
        code, out, err = await past.evaluate(
            "--business", "default", "--provider", "openai", "--timeout", "2",
            "--concurrency", "2", "--instructions-file", str(instructions),
            "--out", str(tmp_path / "ai"), cwd=tmp_path, env=env,
        )  # fmt: skip
        after = await past.footprint()

    assert code == 0, err
    assert after == before
    assert len(model.requests) == 4
    for request in model.requests:  # the model reads the instructions tried, not the stored
        assert "Nous livrons le samedi matin." in request.messages[1]["content"]
    rows, raw, _ = report(tmp_path / "ai")
    ids = past.conversations
    stalled = rows[ids[SCRIPTED]]
    assert stalled["now_decision"] == "fallback"
    assert stalled["failure_now"] == "the assistant gave no answer in time"
    assert stalled["now_text"].startswith("Désolé")
    assert float(stalled["latency_now_ms"]) >= 2000
    refused = rows[ids[WANTS_A_PERSON]]
    assert refused["failure_now"].startswith("the assistant is unavailable: the AI provider "
                                             "answered 500")  # fmt: skip
    assert (refused["escalation_then"], refused["escalation_now"]) == ("yes", "no")
    answered = rows[ids[GREETED]]
    assert answered["now_text"].startswith("Réponse du modèle")
    assert answered["provider_now"] == "openai"
    assert answered["changed"] == "yes"
    assert "sk-test-evaluate" not in raw + out + err
    assert re.search(r"^failures then / now +0 / 2$", out, re.MULTILINE)
    assert re.search(r"^escalations then / now +1 / 0$", out, re.MULTILINE)


async def test_bad_arguments_are_refused_and_write_nothing(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "WAZYBOT_SECRET_KEY": SECRET_KEY}
    added = await asyncio.to_thread(
        run_cli, "business", "add", "--id", "acme", "--name", "Acme", "--phone-number-id",
        "106540352242999", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    cases: dict[tuple[str, ...], str] = {
        ("--business", "nope"): "no business 'nope'",
        ("--since", "last week"): "--since: 'last week' is neither a duration",
        ("--since", "1h", "--until", "2h"): "--since must be before --until",
        ("--limit", "0"): "--limit: must be at least 1",
        ("--instructions-file", str(tmp_path / "missing.txt")): "--instructions-file: cannot read",
        ("--instructions-file", str(empty)): "is empty",
        ("--out", str(a_file)): "exists and is not a directory",
        ("--out", str(a_file / "report")): f"--out: cannot write in {a_file}",
        ("--since", "99999999d"): "--since: '99999999d' reaches too far back",
        ("--since", "10000000000d"): "reaches too far back",
        ("--provider", "openai"): "--provider openai: set OPENAI_API_KEY",
        ("--provider", "magic"): "invalid choice: 'magic'",
        (): "the following arguments are required: --business",
    }
    for options, message in cases.items():
        given = options if "--business" in options or not options else ("--business", "acme",
                                                                         *options)  # fmt: skip
        result = await asyncio.to_thread(
            run_cli, "assistant", "evaluate", *given, env=env, cwd=tmp_path
        )
        assert result.returncode == 2, (options, result.stdout, result.stderr)
        assert message in result.stderr, (options, result.stderr)
        assert result.stdout == ""
    assert await asyncio.to_thread(directories, tmp_path, "*") == [a_file, empty]

    nothing = await asyncio.to_thread(
        run_cli, "assistant", "evaluate", "--business", "acme", env=env, cwd=tmp_path
    )
    assert nothing.returncode == 0, nothing.stderr
    assert "nothing to replay, no report written" in nothing.stdout
    quiet = await asyncio.to_thread(
        run_cli, "assistant", "evaluate", "--business", "acme", "--json", env=env, cwd=tmp_path
    )
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["turns"] == 0
    assert json.loads(quiet.stdout)["csv"] is None
    assert await asyncio.to_thread(directories, tmp_path, "*") == [a_file, empty]
