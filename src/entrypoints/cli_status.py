"""`wazybot status`: is a business's WhatsApp connection working, and if not, why."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from typing import Any, Final

import msgspec

from adapters.postgres.businesses import PostgresBusinessRegistry
from application.businesses import DEFAULT_BUSINESS_ID
from application.connection_status import (
    ConnectionStatus,
    ConnectionStatusService,
    UnknownBusinessError,
)
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, resolve, with_container
from entrypoints.settings import Settings, sandbox_wanted

LEGEND: Final = """\
access_token: Meta accepts the stored access token. phone_number: Meta knows each number
and the token may use it. webhook_subscription: an app receives the account's webhooks
(customers' messages arrive). unknown: not checked (Meta did not answer, an earlier check
failed, or a setting is missing)."""


DETAIL_WIDTH: Final = 64  # the table fits 100 columns


class StatusCommandError(Exception):
    """Bad usage or an unknown business: exit code 2."""


def add_status_command(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="check a business's WhatsApp connection with Meta (token, numbers, webhooks)",
        description="Asks Meta's Graph API whether the business's access token is accepted, "
        "whether its phone numbers exist for that token, and whether an app receives its "
        "account's webhooks. Exit code 0 when connected, 1 when not, 2 for bad usage.",
    )
    status.add_argument(
        "--business", metavar="ID",
        help=f"the business's id (default: {DEFAULT_BUSINESS_ID!r}, or the only business)",
    )  # fmt: skip
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    status.set_defaults(handler=_status, needs_args=True)


def _status(settings: Settings, args: argparse.Namespace) -> int:
    if sandbox_wanted(settings):
        # The sandbox's simulator lives inside the server process, on a port of its own: a
        # command cannot reach it, and asking Meta would say nothing about the sandbox.
        print("wazybot: these settings run the sandbox, whose WhatsApp simulator lives inside"
              " the server: ask the server (GET /api/v1/status with a token of the business,"
              " or the dashboard's overview); set WhatsApp credentials, or WAZYBOT_SANDBOX=0,"
              " to check a real number from here", file=sys.stderr)  # fmt: skip
        return 2

    async def work(container: Container) -> ConnectionStatus:
        registry: PostgresBusinessRegistry = await resolve(container.business_registry())
        business_id = args.business or await _default_business(registry)
        service: ConnectionStatusService = await resolve(container.connection_status())
        try:
            return await service.status(business_id)
        except UnknownBusinessError:
            raise StatusCommandError(f"no active business {business_id!r} (see `wazybot "
                                     "business list`)") from None  # fmt: skip

    try:
        status = asyncio.run(with_container(settings, work))
    except StatusCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(status)).decode())
    else:
        _print(status)
    return 0 if status.connected else 1


async def _default_business(registry: PostgresBusinessRegistry) -> str:
    active = [business.id for business in await registry.all()]
    if DEFAULT_BUSINESS_ID in active:
        return DEFAULT_BUSINESS_ID
    if len(active) == 1:
        return active[0]
    if not active:
        raise StatusCommandError("no business yet: add one with `wazybot business add` (or set "
                                 "WHATSAPP_PHONE_NUMBER_ID and start the server)")  # fmt: skip
    raise StatusCommandError("several businesses: choose one with --business ID ("
                             + ", ".join(sorted(active)) + ")")  # fmt: skip


def _print(status: ConnectionStatus) -> None:
    checked = status.checked_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"Business {status.business_id!r} ({status.business_name}), {status.mode} mode, "
          f"numbers {', '.join(status.phone_number_ids)}; checked {checked}\n")  # fmt: skip
    rows = [("CHECK", "STATE", "DETAIL")]
    for check in status.checks:
        lines = textwrap.wrap(check.detail, DETAIL_WIDTH, break_on_hyphens=False) or [""]
        rows.append((check.name, check.state, lines[0]))
        rows += [("", "", line) for line in lines[1:]]
    print_table(rows)
    print(f"\n{'connected' if status.connected else 'NOT connected'}\n")
    print(LEGEND)
