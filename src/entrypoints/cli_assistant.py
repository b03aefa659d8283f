"""`wazybot assistant show|set`: a business's assistant settings, recorded as events;
`wazybot assistant evaluate`: try them (or other instructions) on past conversations."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

from adapters.postgres.assistant_turns import PostgresLastingEvents
from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.postgres.conversation_activity import PostgresActiveConversations
from adapters.reports.evaluation import write_report
from application.assistant_evaluation import (
    AssistantEvaluation,
    Evaluation,
    EvaluationRequest,
    EvaluationSummary,
)
from application.assistant_settings import (
    AssistantSettingsService,
    SettingsContentionError,
    SettingsState,
)
from domain.assistant_settings import (
    MAX_PAUSE_MINUTES,
    AssistantSettingsError,
    SettingsChanges,
    validated,
)
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, named_assistant, resolve, with_container
from entrypoints.settings import Settings

SWITCH: Final = {"on": True, "off": False}
_DURATION: Final = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
# The option that sets each field, to name it in errors.
OPTIONS: Final = {
    "auto_reply": "--auto-reply",
    "language": "--language",
    "escalation_keywords": "--escalation-keywords",
    "max_consecutive_failures": "--max-consecutive-failures",
    "business_hours": "--business-hours",
    "instructions": "--instructions-file",
    "fallback_message_fr": "--fallback-message-fr",
    "fallback_message_en": "--fallback-message-en",
    "handoff_message_fr": "--handoff-message-fr",
    "handoff_message_en": "--handoff-message-en",
    "pause_after_human_minutes": "--pause-after-human",
    "group_auto_replies": "--group-auto-replies",
}
LEGEND: Final = """\
Change them with `wazybot assistant set --business ID ...` (or PATCH /api/v1/assistant);
fields never set follow the defaults."""


class AssistantCommandError(Exception):
    """A command that cannot go on; exit code 2 (bad usage or unknown business)."""


def add_assistant_commands(commands: Any) -> None:
    assistant = commands.add_parser("assistant", help="the assistant's settings per business")
    sub = assistant.add_subparsers(dest="assistant_command", required=True, metavar="COMMAND")
    show = sub.add_parser("show", help="a business's assistant settings")
    _business(show)
    show.add_argument("--json", action="store_true", help="one JSON object instead of a list")
    show.set_defaults(handler=_show, needs_args=True)
    change = sub.add_parser("set", help="change some of a business's assistant settings",
                            description="Change the settings given; the others keep their value."
                            " Setting a value it already has records nothing.")  # fmt: skip
    _business(change)
    _add_setting_options(change)
    change.set_defaults(handler=_set, needs_args=True)
    _add_evaluate(sub)


def _business(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--business", required=True, metavar="ID", help="the business's id")


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--auto-reply", choices=SWITCH, help="whether the assistant answers customers by itself")
    add(
        "--language",
        choices=("auto", "fr", "en"),
        help="auto: the customer's language (French or English); fr or en: always that one",
    )
    add(
        "--escalation-keywords",
        metavar='"A,B"',
        help='comma-separated words or phrases that hand a conversation to a person ("": none)',
    )
    add(
        "--max-consecutive-failures",
        type=int,
        metavar="N",
        help="provider failures in a row before a person takes over (1 to 10, default 2)",
    )
    add(
        "--business-hours",
        metavar="TEXT",
        help='opening hours as the assistant tells them ("": none)',
    )
    add(
        "--instructions-file",
        metavar="FILE",
        help="a UTF-8 text file with the business's instructions to the assistant ('-': stdin)",
    )
    for kind, when in (
        ("fallback", "the assistant cannot answer"),
        ("handoff", "a person takes over"),
    ):
        for language, name in (("fr", "French"), ("en", "English")):
            add(
                f"--{kind}-message-{language}",
                metavar="TEXT",
                help=f"the message sent when {when}, in {name}",
            )
    add(
        "--pause-after-human",
        metavar="DURATION",
        help="how long the assistant stays silent after a person answered from the WhatsApp"
        " Business app, e.g. 12h, 90m, 1d, 0 (default 12h)",
    )
    add("--group-auto-replies", choices=SWITCH, help="stays off: group conversations get no "
        "automatic replies while nothing can be sent to groups (on is refused)")  # fmt: skip


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        await _business_of(container, args.business, for_change=False)
        state = await (await _service(container)).current(args.business)
        if args.json:
            print(json.dumps(settings_json(state), indent=2, ensure_ascii=False))
        else:
            _print_settings(args.business, state)
        return 0

    return _run(settings, work)


def _set(settings: Settings, args: argparse.Namespace) -> int:
    try:
        changes = _changes(args)
    except AssistantCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2

    async def work(container: Container) -> int:
        await _business_of(container, args.business, for_change=True)
        try:
            update = await (await _service(container)).change(args.business, changes)
        except AssistantSettingsError as error:
            raise AssistantCommandError(f"{OPTIONS[error.field]}: {error.problem}") from None
        if update.changed:
            names = ", ".join(OPTIONS[field].removeprefix("--") for field in update.changed)
            print(f"changed {names} of business {args.business!r} (version "
                  f"{update.state.version})")  # fmt: skip
        else:
            print(f"nothing changed: business {args.business!r} already has these settings")
        return 0

    return _run(settings, work)


def _run(settings: Settings, work: Any) -> int:
    try:
        return int(asyncio.run(with_container(settings, work)))
    except AssistantCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2
    except SettingsContentionError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 1


async def _service(container: Container) -> AssistantSettingsService:
    service: AssistantSettingsService = await resolve(container.assistant_settings())
    return service


async def _business_of(container: Container, business_id: str, *, for_change: bool) -> None:
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    business = await registry.get(business_id)
    if business is None:
        raise AssistantCommandError(f"no business {business_id!r} (see `wazybot business list`)")
    if for_change and business.removed_at is not None:
        raise AssistantCommandError(f"business {business_id!r} was removed")


def _changes(args: argparse.Namespace) -> SettingsChanges:
    given: dict[str, Any] = {}
    if args.auto_reply is not None:
        given["auto_reply"] = SWITCH[args.auto_reply]
    if args.group_auto_replies is not None:
        given["group_auto_replies"] = SWITCH[args.group_auto_replies]
    if args.escalation_keywords is not None:
        given["escalation_keywords"] = tuple(args.escalation_keywords.split(","))
    if args.instructions_file is not None:
        given["instructions"] = _read_text(args.instructions_file)
    if args.pause_after_human is not None:
        given["pause_after_human_minutes"] = minutes_of(args.pause_after_human)
    for field in ("language", "max_consecutive_failures", "business_hours",
                  "fallback_message_fr", "fallback_message_en", "handoff_message_fr",
                  "handoff_message_en"):  # fmt: skip
        if (value := getattr(args, field)) is not None:
            given[field] = value
    if not given:
        raise AssistantCommandError(
            "give at least one setting to change (see `wazybot assistant set --help`)"
        )
    return SettingsChanges(**given)


def _read_text(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AssistantCommandError(f"--instructions-file: cannot read {file}: {error}") from None


def minutes_of(text: str) -> int:
    """Minutes in a duration such as 12h, 90m, 1d12h or 0."""
    cleaned = text.strip().lower()
    if cleaned == "0":
        return 0
    found = _DURATION.match(cleaned)
    if not cleaned or found is None:
        raise AssistantCommandError(
            f"--pause-after-human: {text!r} is not a duration such as 12h, 90m, 1d or 0"
        )
    days, hours, minutes = (int(part or 0) for part in found.groups())
    total = days * 24 * 60 + hours * 60 + minutes
    if total > MAX_PAUSE_MINUTES:
        raise AssistantCommandError("--pause-after-human: must be at most 7 days")
    return total


def duration_of(minutes: int) -> str:
    if minutes == 0:
        return "0"
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest else "")


def settings_json(state: SettingsState) -> dict[str, Any]:
    value = state.settings
    fields: dict[str, Any] = {name: getattr(value, name) for name in value.__struct_fields__}
    fields["escalation_keywords"] = list(value.escalation_keywords)
    fields["version"] = state.version
    fields["updated_at"] = state.updated_at.isoformat() if state.updated_at else None
    return fields


def _print_settings(business_id: str, state: SettingsState) -> None:
    value = state.settings
    changed = (f"version {state.version}, changed {state.updated_at:%Y-%m-%d %H:%M} UTC"
               if state.updated_at else "all defaults")  # fmt: skip
    print(f"Assistant settings of business {business_id!r} ({changed})\n")
    on_off = {True: "on", False: "off"}
    language = {"auto": "auto (the customer's)", "fr": "fr (always)", "en": "en (always)"}
    groups = "off"
    if value.group_auto_replies:  # stored before turning it on was refused
        groups = "on (no effect: groups get no automatic replies yet)"
    rows = [
        ("auto reply", on_off[value.auto_reply]),
        ("language", language[value.language]),
        ("escalation keywords", ", ".join(value.escalation_keywords) or "-"),
        ("max consecutive failures", str(value.max_consecutive_failures)),
        ("pause after human", duration_of(value.pause_after_human_minutes)),
        ("group auto-replies", groups),
        ("business hours", _line(value.business_hours)),
        ("fallback message (fr)", _line(value.fallback_message_fr)),
        ("fallback message (en)", _line(value.fallback_message_en)),
        ("handoff message (fr)", _line(value.handoff_message_fr)),
        ("handoff message (en)", _line(value.handoff_message_en)),
    ]
    print_table(rows)
    print("instructions:" if value.instructions else "instructions: -")
    for line in value.instructions.splitlines():
        print(f"  {line}")
    print("\n" + LEGEND)


def _line(text: str) -> str:
    return " / ".join(text.splitlines()) or "-"


# --- wazybot assistant evaluate ----------------------------------------------------------

EVALUATE_HELP: Final = """\
Replay the business's past customer messages through the assistant, with its current
settings (and the instructions of --instructions-file, when given), and write what was
answered then beside what would be answered now: evaluation.csv and evaluation.html.
Nothing is sent to anyone and nothing is recorded."""
DEFAULT_SINCE: Final = "7d"
DEFAULT_CONCURRENCY: Final = 4


def _add_evaluate(sub: Any) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="try the assistant on past conversations (sends nothing)",
        description=EVALUATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _business(evaluate)
    add = evaluate.add_argument
    add("--since", default=DEFAULT_SINCE, metavar="WHEN",
        help="the oldest customer messages to replay: how long ago (7d, 12h, 30m) or a UTC "
        "time (2026-11-20 or 2026-11-20T08:00); default 7d")  # fmt: skip
    add("--until", metavar="WHEN", help="replay messages before this (same forms); default now")
    add("--limit", type=int, metavar="N", help="replay the newest N turns only")
    add("--provider", choices=("offline", "openai"), default="offline",
        help="offline: the rules assistant (default); openai: the provider OPENAI_API_KEY, "
        "OPENAI_MODEL and OPENAI_BASE_URL configure")  # fmt: skip
    add(
        "--instructions-file",
        metavar="FILE",
        help="instructions to try instead of the business's (used for this run only)",
    )
    add("--out", metavar="DIR", help="where to write the report (default: a new directory "
        "evaluation-<business>-<time> in the current one)")  # fmt: skip
    add(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"assistant calls at once (default {DEFAULT_CONCURRENCY})",
    )
    add("--timeout", type=float, metavar="SECONDS", help="longest wait for one answer "
        "(default: WAZYBOT_ASSISTANT_TURN_TIMEOUT_SECONDS)")  # fmt: skip
    add("--json", action="store_true", help="the summary and the files' paths as one JSON "
        "object instead of a table")  # fmt: skip
    evaluate.set_defaults(handler=_evaluate, needs_args=True)


@dataclass(frozen=True, slots=True)
class _EvaluateOptions:
    request: EvaluationRequest
    out: Path


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    try:
        options = _evaluate_options(settings, args, datetime.now(UTC))
        if args.provider == "openai" and settings.openai_api_key is None:
            raise AssistantCommandError(
                "--provider openai: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
                "compatible provider)"
            )
    except AssistantCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2

    async def work(container: Container) -> int:
        await _business_of(container, args.business, for_change=False)
        pool = await resolve(container.pool())
        store = await resolve(container.event_store())
        catalog = await resolve(container.catalog_queries())  # products as they are now
        async with named_assistant(settings, args.provider, catalog) as assistant:
            evaluation = AssistantEvaluation(
                PostgresActiveConversations(pool),
                store,
                await _service(container),
                assistant,
                PostgresLastingEvents(pool, store),
            )
            result = await evaluation.evaluate(options.request, ReplayProgress(sys.stderr).show)
        return _report(result, options.out, as_json=args.json)

    return _run(settings, work)


def _evaluate_options(
    settings: Settings, args: argparse.Namespace, now: datetime
) -> _EvaluateOptions:
    since = moment_of(args.since, "--since", now)
    until = now if args.until is None else moment_of(args.until, "--until", now)
    if since >= until:
        raise AssistantCommandError("--since must be before --until")
    if args.limit is not None and args.limit < 1:
        raise AssistantCommandError("--limit: must be at least 1")
    if not 1 <= args.concurrency <= 64:
        raise AssistantCommandError("--concurrency: must be from 1 to 64")
    timeout = settings.assistant_turn_timeout_seconds if args.timeout is None else args.timeout
    if not 0 < timeout <= 600:
        raise AssistantCommandError("--timeout: must be more than 0 and at most 600 seconds")
    instructions = None
    if args.instructions_file is not None:
        instructions = _instructions(args.instructions_file)
    out = Path(args.out) if args.out else Path.cwd() / _default_directory(args.business, now)
    _check_writable(out)
    request = EvaluationRequest(
        business_id=args.business, since=since, until=until, limit=args.limit,
        instructions=instructions, concurrency=args.concurrency, timeout_seconds=timeout,
    )  # fmt: skip
    return _EvaluateOptions(request, out)


def _check_writable(out: Path) -> None:
    """Before any replay (which may cost provider calls): can the report be written there?"""
    if out.exists() and not out.is_dir():
        raise AssistantCommandError(f"--out: {out} exists and is not a directory")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise AssistantCommandError(f"--out: cannot write in {existing}")


def _instructions(file: str) -> str:
    text = _read_text(file)
    if not text.strip():
        raise AssistantCommandError(f"--instructions-file: {file} is empty")
    try:
        tidy = validated(SettingsChanges(instructions=text))
    except AssistantSettingsError as error:
        raise AssistantCommandError(f"--instructions-file: {error.problem}") from None
    return str(tidy.instructions)


_WHEN_AGO: Final = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def moment_of(text: str, option: str, now: datetime) -> datetime:
    """A time given as how long ago (7d, 12h, 30m, 1d12h) or as a UTC date or time."""
    cleaned = text.strip().lower()
    found = _WHEN_AGO.match(cleaned)
    if cleaned and found is not None:
        days, hours, minutes = (int(part or 0) for part in found.groups())
        try:
            return now - timedelta(days=days, hours=hours, minutes=minutes)
        except (OverflowError, ValueError):
            raise AssistantCommandError(f"{option}: {text!r} reaches too far back") from None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AssistantCommandError(
            f"{option}: {text!r} is neither a duration such as 7d, 12h or 30m nor a time "
            "such as 2026-11-20T08:00"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _default_directory(business_id: str, now: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", business_id)[:60]
    return f"evaluation-{safe}-{now:%Y%m%d-%H%M%S}"


def _report(result: Evaluation, out: Path, *, as_json: bool) -> int:
    window = f"{result.since:%Y-%m-%d %H:%M} to {result.until:%Y-%m-%d %H:%M} UTC"
    paths: tuple[Path, Path] | None = None
    if result.turns:
        try:
            paths = write_report(result, out)
        except OSError as error:
            raise AssistantCommandError(
                f"--out: cannot write the report in {out}: {error}"
            ) from None
    if as_json:
        print(json.dumps(summary_json(result, paths), indent=2))
    elif paths is None:
        print(f"no customer messages of business {result.business_id!r} from {window}: "
              "nothing to replay, no report written")  # fmt: skip
    else:
        print(f"Replayed {len(result.turns)} turns of business {result.business_id!r} "
              f"({window}) with the {result.provider} assistant; nothing was sent\n")  # fmt: skip
        print_table(summary_rows(result.summary))
        print(f"\nreport: {paths[0]}\n        {paths[1]}")
    return 0


def summary_json(result: Evaluation, paths: tuple[Path, Path] | None) -> dict[str, Any]:
    """The summary for scripts; no files (null paths) when the window held nothing."""
    figures = dataclasses.asdict(result.summary)
    return {
        "business_id": result.business_id,
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "provider": result.provider,
        **figures,
        "csv": str(paths[0]) if paths else None,
        "html": str(paths[1]) if paths else None,
    }


def summary_rows(summary: EvaluationSummary) -> list[tuple[str, str]]:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    return [
        ("turns replayed", str(summary.turns)),
        ("changed", str(summary.changed)),
        ("escalations then / now", f"{summary.escalations_then} / {summary.escalations_now}"),
        ("failures then / now", f"{summary.failures_then} / {summary.failures_now}"),
        ("latency now p50 / p99", f"{ms(summary.latency_p50_ms)} / {ms(summary.latency_p99_ms)}"),
    ]


class ReplayProgress:
    """Turns replayed so far, on standard error: redrawn in place on a terminal, else a line
    every few seconds."""

    def __init__(self, out: TextIO, interval: float = 5.0) -> None:
        self._out = out
        self._tty = out.isatty()
        self._interval = 0.1 if self._tty else interval
        self._last = time.monotonic()

    def show(self, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done == total
        if not finished and now - self._last < self._interval:
            return
        self._last = now
        line = f"replayed {done:,}/{total:,} turns ({done / max(total, 1):.0%})"
        if self._tty:
            self._out.write("\r" + line + ("\n" if finished else ""))
        elif finished:
            return  # the summary follows on standard output
        else:
            self._out.write(line + "\n")
        self._out.flush()
