"""`wazybot business ...`: the businesses, the numbers they own and their settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from adapters.postgres.api_tokens import PostgresApiTokens
from adapters.postgres.businesses import PostgresBusinessRegistry
from application.businesses import Business, BusinessChanges, BusinessError, validate_business
from domain.send_pacing import MAX_SEND_RATE
from entrypoints.cli_admin import print_table
from entrypoints.container import environment_access_token, provide_token_cipher, with_pool
from entrypoints.settings import Settings

LEGEND = """\
ID: the business's id (what `tokens create --business` takes). PHONE NUMBER IDS: Meta's ids
of the numbers it owns; their updates are routed to it. ACCOUNT: its WhatsApp Business
Account id (template and account updates). FLOOD/MIN: customer messages a minute before
automatic replies pause. SEND/S: messages a second each of its numbers sends at most.
ACCESS TOKEN: whether a Graph API token is stored (encrypted, never shown).
TOKENS: its active API tokens (`wazybot tokens list`). SOURCE: database (`business add`) or
environment (WHATSAPP_PHONE_NUMBER_ID, stored when the server starts)."""


def add_business_commands(commands: Any) -> None:
    business = commands.add_parser("business", help="businesses and the numbers they own")
    sub = business.add_subparsers(dest="business_command", required=True, metavar="COMMAND")
    _add_add(sub)
    _add_update(sub)
    remove = sub.add_parser(
        "remove", help="remove a business: its data stays, its numbers stop routing"
    )
    remove.add_argument("id", metavar="ID", help="the business's id")
    remove.set_defaults(handler=_business_remove, needs_args=True)
    listing = sub.add_parser("list", help="list businesses, their numbers, settings and tokens")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.add_argument("--all", action="store_true", help="include removed businesses")
    listing.set_defaults(handler=_business_list, needs_args=True)


def _add_add(sub: Any) -> None:
    add = sub.add_parser("add", help="add a business that owns one or more WhatsApp numbers")
    add.add_argument("--id", required=True, help="short id, e.g. acme (lowercase, digits, - _)")
    add.add_argument("--name", required=True, help="name shown on the dashboard")
    add.add_argument(
        "--phone-number-id", action="append", required=True, dest="phone_number_ids",
        metavar="ID", help="Meta phone number id the business owns (repeat for several)",
    )  # fmt: skip
    add.add_argument("--account-id", help="WhatsApp Business Account id (for template updates)")
    _add_settings(add)
    add.set_defaults(handler=_business_add, needs_args=True)


def _add_update(sub: Any) -> None:
    update = sub.add_parser("update", help="change a business's name, numbers or settings")
    update.add_argument("id", metavar="ID", help="the business's id")
    update.add_argument("--name", help="a new name")
    update.add_argument(
        "--add-phone-number-id", action="append", default=[], dest="add_numbers", metavar="ID",
        help="a phone number id it now owns too (repeat for several)",
    )  # fmt: skip
    update.add_argument(
        "--remove-phone-number-id", action="append", default=[], dest="remove_numbers",
        metavar="ID", help="a phone number id it no longer owns (repeat for several)",
    )  # fmt: skip
    update.add_argument("--account-id", help="a new WhatsApp Business Account id")
    _add_settings(update)
    update.set_defaults(handler=_business_update, needs_args=True)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flood-limit", type=int, metavar="N",
        help="messages a minute before automatic replies pause (default: WAZYBOT_FLOOD_LIMIT)",
    )  # fmt: skip
    parser.add_argument(
        "--send-rate", type=int, metavar="N",
        help=f"messages a second each of its numbers sends at most, 1 to {MAX_SEND_RATE}"
        " (default: WAZYBOT_SEND_RATE)",
    )  # fmt: skip
    parser.add_argument(
        "--access-token-stdin", action="store_true",
        help="read the business's Graph API access token from standard input",
    )  # fmt: skip


def _access_token(args: argparse.Namespace) -> str | None:
    if not args.access_token_stdin:
        return None
    token = sys.stdin.readline().strip()
    if not token:
        raise BusinessError("--access-token-stdin was given but standard input held no token")
    return token


def _registry(settings: Settings, pool: Any) -> PostgresBusinessRegistry:
    """The registry with the key that encrypts access tokens (WAZYBOT_SECRET_KEY or key file)."""
    cipher = provide_token_cipher(settings)
    return PostgresBusinessRegistry(pool, cipher, environment_access_token(settings))


def _business_add(settings: Settings, args: argparse.Namespace) -> int:
    business = Business(
        id=args.id, name=args.name, phone_number_ids=tuple(args.phone_number_ids),
        account_id=args.account_id, flood_limit=args.flood_limit, access_token=_access_token(args),
        send_rate=args.send_rate,
    )  # fmt: skip
    validate_business(business)
    asyncio.run(with_pool(settings, lambda pool: _registry(settings, pool).add(business)))
    print(f"added business {business.id!r} with numbers {', '.join(business.phone_number_ids)}")
    return 0


def _business_update(settings: Settings, args: argparse.Namespace) -> int:
    changes = BusinessChanges(
        name=args.name, add_phone_number_ids=tuple(args.add_numbers),
        remove_phone_number_ids=tuple(args.remove_numbers), account_id=args.account_id,
        flood_limit=args.flood_limit, access_token=_access_token(args), send_rate=args.send_rate,
    )  # fmt: skip
    updated = asyncio.run(
        with_pool(settings, lambda pool: _registry(settings, pool).update(args.id, changes))
    )
    print(f"updated business {updated.id!r}: numbers {', '.join(updated.phone_number_ids)}"
          f"{'; access token replaced' if changes.access_token else ''}")  # fmt: skip
    return 0


def _business_remove(settings: Settings, args: argparse.Namespace) -> int:
    removed = asyncio.run(
        with_pool(settings, lambda pool: PostgresBusinessRegistry(pool).remove(args.id))
    )
    print(f"removed business {removed.id!r}: its data stays; numbers"
          f" {', '.join(removed.phone_number_ids)} stop routing within seconds")  # fmt: skip
    if removed.source == "environment":
        print("note: a server started with WHATSAPP_PHONE_NUMBER_ID stores it again;"
              " unset that setting to keep it removed", file=sys.stderr)  # fmt: skip
    return 0


def _business_list(settings: Settings, args: argparse.Namespace) -> int:
    async def read(pool: Any) -> tuple[list[Business], dict[str, int]]:
        businesses = await PostgresBusinessRegistry(pool).all(include_removed=args.all)
        return businesses, await PostgresApiTokens(pool).active_counts()

    businesses, tokens = asyncio.run(with_pool(settings, read))
    if args.json:
        print(json.dumps([_json(b, tokens, settings) for b in businesses], indent=2))
        return 0
    if not businesses:
        print("no businesses yet: set WHATSAPP_PHONE_NUMBER_ID and start the server,"
              " or run `wazybot business add`")  # fmt: skip
        return 0
    header = ("ID", "NAME", "PHONE NUMBER IDS", "ACCOUNT", "FLOOD/MIN", "SEND/S", "ACCESS TOKEN",
              "TOKENS", "SOURCE", *(("REMOVED",) if args.all else ()))  # fmt: skip
    rows = [header]
    for b in businesses:
        rows.append((
            b.id, b.name, ",".join(b.phone_number_ids) or "-", b.account_id or "-",
            str(b.flood_limit or settings.flood_limit), str(b.send_rate or settings.send_rate),
            "set" if b.has_access_token else "-", str(tokens.get(b.id, 0)), b.source,
            *((b.removed_at.strftime("%Y-%m-%d %H:%M") if b.removed_at else "-",)
              if args.all else ()),
        ))  # fmt: skip
    print_table(rows)
    print("\n" + LEGEND)
    return 0


def _json(business: Business, tokens: dict[str, int], settings: Settings) -> dict[str, Any]:
    return {
        "id": business.id, "name": business.name,
        "phone_number_ids": list(business.phone_number_ids), "account_id": business.account_id,
        "flood_limit": business.flood_limit or settings.flood_limit,
        "send_rate": business.send_rate or settings.send_rate,
        "has_access_token": business.has_access_token, "api_tokens": tokens.get(business.id, 0),
        "source": business.source,
        "removed_at": business.removed_at.isoformat() if business.removed_at else None,
    }  # fmt: skip
