"""`wazybot orders list|show|status|settings`: a business's orders and its order settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Final

import msgspec

from adapters.postgres.businesses import PostgresBusinessRegistry
from application.order_settings import (
    OrderSettingsContentionError,
    OrderSettingsService,
    OrderSettingsState,
)
from application.order_views import ORDER_STATUSES, OrderQueries, OrderView
from application.orders import ContentionError, OrderDesk, OrderRefusedError, StatusCommand
from domain.order_settings import OrderSettingsChanges, OrderSettingsError
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, resolve, with_container
from entrypoints.settings import Settings

OPTIONS: Final = {
    "confirmation_template": "--confirmation-template",
    "status_template": "--status-template",
    "template_language_fr": "--template-language-fr",
    "template_language_en": "--template-language-en",
}
LEGEND: Final = """\
Outside the 24-hour window a confirmation uses the confirmation template and a status notice
(shipped, delivered, cancelled) the status template, each with two body parameters: the
order's reference, then the total or the new status in the customer's language. With no
template the order changes all the same and the customer is not told."""


class OrdersCommandError(Exception):
    """Bad usage, or an unknown business or order: exit code 2."""


def add_order_commands(commands: Any) -> None:
    orders = commands.add_parser("orders", help="a business's orders and order settings")
    sub = orders.add_subparsers(dest="orders_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="the business's orders, newest first")
    _business(listing)
    listing.add_argument("--status", choices=ORDER_STATUSES, help="only orders in this status")
    listing.add_argument("--limit", type=int, default=50, help="how many (1 to 200, default 50)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=_list, needs_args=True)
    show = sub.add_parser("show", help="one order with its items")
    _business(show)
    show.add_argument("order_id", metavar="ORDER_ID")
    show.add_argument("--json", action="store_true", help="one JSON object")
    show.set_defaults(handler=_show, needs_args=True)
    status = sub.add_parser("status", help="mark an order shipped, delivered or cancelled and "
                            "tell the customer")  # fmt: skip
    _business(status)
    status.add_argument("order_id", metavar="ORDER_ID")
    status.add_argument("status", choices=("shipped", "delivered", "cancelled"))
    status.set_defaults(handler=_status, needs_args=True)
    settings = sub.add_parser("settings", help="the business's order templates")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True,
                                           metavar="SETTINGS_COMMAND")  # fmt: skip
    settings_show = settings_sub.add_parser("show", help="the business's order settings")
    _business(settings_show)
    settings_show.add_argument("--json", action="store_true", help="one JSON object")
    settings_show.set_defaults(handler=_settings_show, needs_args=True)
    settings_set = settings_sub.add_parser(
        "set", help="change some order settings", description=LEGEND
    )
    _business(settings_set)
    for field, option in OPTIONS.items():
        language = "French" if field.endswith("_fr") else "English"
        what = (
            "an approved template's name ('' for none)"
            if field.endswith("_template")
            else f"the template language code for customers writing in {language} (e.g. en_US)"
        )
        settings_set.add_argument(option, dest=field, metavar="VALUE", help=what)
    settings_set.set_defaults(handler=_settings_set, needs_args=True)


def _business(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--business", required=True, metavar="ID", help="the business's id")


def _list(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 200:
        print("wazybot: --limit must be from 1 to 200", file=sys.stderr)
        return 2

    async def work(container: Container) -> int:
        await _business_of(container, args.business)
        queries: OrderQueries = await resolve(container.order_queries())
        page = await queries.orders(args.business, args.status, args.limit, None)
        if args.json:
            for order in page.items:
                print(msgspec.json.encode(order).decode())
            return 0
        print_table([("id", "status", "total", "items", "placed")] + [
            (o.id, o.status, f"{o.total_text} {o.currency}", str(sum(i.quantity for i in o.items)),
             f"{o.created_at:%Y-%m-%d %H:%M}") for o in page.items])  # fmt: skip
        return 0

    return _run(settings, work)


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        await _business_of(container, args.business)
        queries: OrderQueries = await resolve(container.order_queries())
        order = await queries.order(args.business, args.order_id)
        if order is None:
            raise OrdersCommandError(f"business {args.business!r} has no order {args.order_id!r}")
        _print_order(order, args.json)
        return 0

    return _run(settings, work)


def _status(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        await _business_of(container, args.business)
        desk: OrderDesk = await resolve(container.order_desk())
        command = StatusCommand(business_id=args.business, order_id=args.order_id,
                                status=args.status, cause="cli:orders-status")  # fmt: skip
        try:
            changed = await desk.change_status(command)
        except OrderRefusedError as refused:
            raise OrdersCommandError(refused.message) from None
        told = {"queued": "the customer is told", "unchanged": "it had that status already",
                "not_sent": "the customer could not be told (the 24-hour window is closed and "
                "no usable status template is set)"}[changed.notice.value]  # fmt: skip
        print(f"order {args.order_id} is {changed.order.status}: {told}")
        return 0

    return _run(settings, work)


def _settings_show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        await _business_of(container, args.business)
        service: OrderSettingsService = await resolve(container.order_settings())
        state = await service.current(args.business)
        if args.json:
            print(json.dumps(_settings_json(state), indent=2))
            return 0
        value = state.settings
        print(f"Order settings of business {args.business!r} (version {state.version})\n")
        print_table([
            ("confirmation template", value.confirmation_template or "-"),
            ("status template", value.status_template or "-"),
            ("template language (fr customers)", value.template_language_fr),
            ("template language (en customers)", value.template_language_en),
        ])  # fmt: skip
        print("\n" + LEGEND)
        return 0

    return _run(settings, work)


def _settings_set(settings: Settings, args: argparse.Namespace) -> int:
    given = {f: getattr(args, f) for f in OPTIONS if getattr(args, f) is not None}
    if not given:
        print("wazybot: give at least one setting to change (see `wazybot orders settings set "
              "--help`)", file=sys.stderr)  # fmt: skip
        return 2

    async def work(container: Container) -> int:
        await _business_of(container, args.business)
        service: OrderSettingsService = await resolve(container.order_settings())
        try:
            state, changed = await service.change(args.business, OrderSettingsChanges(**given))
        except OrderSettingsError as error:
            raise OrdersCommandError(f"{OPTIONS[error.field]}: {error.problem}") from None
        if changed:
            names = ", ".join(OPTIONS[f].removeprefix("--") for f in changed)
            print(f"changed {names} of business {args.business!r} (version {state.version})")
        else:
            print(f"nothing changed: business {args.business!r} already has these settings")
        return 0

    return _run(settings, work)


def _settings_json(state: OrderSettingsState) -> dict[str, Any]:
    value = state.settings
    fields: dict[str, Any] = {name: getattr(value, name) for name in value.__struct_fields__}
    fields["version"] = state.version
    return fields


def _print_order(order: OrderView, as_json: bool) -> None:
    if as_json:
        print(msgspec.json.encode(order).decode())
        return
    print(f"Order {order.id}: {order.status}, {order.total_text} {order.currency} "
          f"({order.source}, placed {order.created_at:%Y-%m-%d %H:%M} UTC)\n")  # fmt: skip
    rows = [(i.product_id, i.name, str(i.quantity), str(i.unit_price)) for i in order.items]
    print_table([("product", "name", "quantity", "unit price"), *rows])


def _run(settings: Settings, work: Any) -> int:
    try:
        return int(asyncio.run(with_container(settings, work)))
    except OrdersCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2
    except (OrderSettingsContentionError, ContentionError) as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 1


async def _business_of(container: Container, business_id: str) -> None:
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    if await registry.get(business_id) is None:
        raise OrdersCommandError(f"no business {business_id!r} (see `wazybot business list`)")
