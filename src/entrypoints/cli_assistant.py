"""`wazybot assistant show|set`: a business's assistant settings, recorded as events."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

from adapters.postgres.businesses import PostgresBusinessRegistry
from application.assistant_settings import (
    AssistantSettingsService,
    SettingsContentionError,
    SettingsState,
)
from domain.assistant_settings import (
    MAX_PAUSE_MINUTES,
    AssistantSettingsError,
    SettingsChanges,
)
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, resolve, with_container
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
