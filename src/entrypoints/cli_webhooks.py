"""`wazybot webhooks ...`: the webhook changes the parser could not read when they came."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.postgres.stored_changes import PostgresStoredChanges
from adapters.whatsapp.webhook import parse_webhook
from application.businesses import BusinessError
from application.webhook_reprocess import ReprocessReport, WebhookReprocessor
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, default_business, resolve, with_container
from entrypoints.settings import Settings


def add_webhook_commands(commands: Any) -> None:
    webhooks = commands.add_parser(
        "webhooks", help="stored webhook changes the parser could not read"
    )
    sub = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="COMMAND")
    reprocess = sub.add_parser(
        "reprocess",
        help="read stored unreadable changes again with this version's parser and record them",
        description=(
            "Reads every stored unreadable webhook change with the current parser. What it"
            " can read now is recorded exactly as if it had arrived readable (same event ids,"
            " so running it again adds nothing); what it still cannot read stays stored."
        ),
    )
    reprocess.add_argument(
        "--business", metavar="ID", help="only this business's changes (default: all, unrouted too)"
    )
    reprocess.add_argument(
        "--dry-run", action="store_true", help="only tell what could be read now; record nothing"
    )
    reprocess.add_argument("--json", action="store_true", help="print the summary as JSON")
    reprocess.set_defaults(handler=_reprocess, needs_args=True)


def _reprocess(settings: Settings, args: argparse.Namespace) -> int:
    async def run(container: Container) -> ReprocessReport:
        pool = await resolve(container.pool())
        if args.business is not None:
            await _check_business(pool, settings, args.business)
        store = await resolve(container.event_store())
        reprocessor = WebhookReprocessor(
            store,
            PostgresStoredChanges(pool, store),
            await resolve(container.webhook_ingestor()),
            parse_webhook,
        )
        return await reprocessor.reprocess(args.business, dry_run=args.dry_run, progress=_progress)

    report = asyncio.run(with_container(settings, run))
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **_fields(report)}))
    else:
        rows = [(name.replace("_", " "), str(count)) for name, count in _fields(report).items()]
        print_table([("RESULT", "COUNT"), *rows])
        if args.dry_run:
            print("dry run: nothing was recorded", file=sys.stderr)
    return 0


async def _check_business(pool: Any, settings: Settings, business_id: str) -> None:
    known = {b.id for b in await PostgresBusinessRegistry(pool).all()}
    default = default_business(settings)
    if default is not None:
        known.add(default.id)
    if business_id not in known:
        listed = ", ".join(sorted(known)) or "none yet"
        raise BusinessError(f"no business with id {business_id!r} (known: {listed})")


def _fields(report: ReprocessReport) -> dict[str, int]:
    return {
        "examined": report.examined,
        "recovered": report.recovered,
        "still_unreadable": report.still_unreadable,
        "already_recovered": report.already_recovered,
        "updates": report.updates,
        "events_appended": report.appended,
    }


def _progress(done: int, total: int) -> None:
    """Redrawn in place on a terminal; elsewhere a line at each tenth and at the end."""
    line = f"reprocessing unreadable changes: {done}/{total}"
    if sys.stderr.isatty():
        print("\r" + line, end="\n" if done == total else "", file=sys.stderr, flush=True)
    elif done == total or done % max(1, total // 10) == 0:
        print(line, file=sys.stderr, flush=True)
