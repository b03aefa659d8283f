"""`wazybot templates ...`: a business's message templates at Meta, and the stored copy.

Every command works on one business (``--business``), with its WhatsApp Business
Account id and its stored access token. What changes is recorded as events; the
templates projection applies them (this command waits for it, running it itself when
no server does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.postgres.read_models import TemplatesProjection
from adapters.postgres.templates import PostgresTemplateBook
from adapters.secrets.token_cipher import SecretKeyError
from application.event_log import FeedPosition
from application.gateway import AccessToken, GatewayError
from application.templates import StoredTemplate, TemplateError, TemplateService, WabaAccess
from domain.template_definitions import TemplateDefinitionError, validate_new_template
from entrypoints.cli_admin import print_table
from entrypoints.container import Container, resolve, with_container
from entrypoints.projection_wait import wait_until_applied
from entrypoints.settings import Settings

T = TypeVar("T")
PROJECTION_WAIT: Final = 30.0
STATUSES: Final = (
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION",
    "DELETED", "LIMIT_EXCEEDED", "ARCHIVED", "UNKNOWN",
)  # fmt: skip
LEGEND: Final = """\
STATUS: Meta's review state; only APPROVED templates can be sent (in that language).
DELETED: gone from Meta (deleted here, or missing from the last sync). QUALITY: Meta's
quality rating (GREEN, YELLOW, RED), when known. Status, quality and category follow
Meta's template notifications; `wazybot templates sync` reloads everything."""


class TemplateCommandError(Exception):
    """A command that cannot go on; the message says why (it never holds a secret)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_template_commands(commands: Any) -> None:
    templates = commands.add_parser("templates", help="message templates: sync, list, create, "
                                    "delete")  # fmt: skip
    sub = templates.add_subparsers(dest="templates_command", required=True, metavar="COMMAND")
    sync = sub.add_parser("sync", help="load every template from Meta and record what changed")
    _business(sync)
    sync.set_defaults(handler=_sync, needs_args=True)
    listing = sub.add_parser("list", help="the stored templates of a business")
    _business(listing)
    listing.add_argument("--status", type=str.upper, choices=STATUSES, metavar="STATUS",
                         help="only templates in this status (APPROVED, PENDING, ...)")  # fmt: skip
    listing.add_argument("--language", help="only templates in this language (e.g. en_US)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.set_defaults(handler=_list, needs_args=True)
    create = sub.add_parser("create", help="submit a new template (JSON in Meta's create shape)")
    create.add_argument("file", metavar="FILE", help="a JSON file with name, language, "
                        "category, components as Meta's API takes them ('-': stdin)")  # fmt: skip
    _business(create)
    create.set_defaults(handler=_create, needs_args=True)
    delete = sub.add_parser("delete", help="delete a template at Meta (every language)")
    delete.add_argument("name", metavar="NAME", help="the template's name")
    _business(delete)
    delete.set_defaults(handler=_delete, needs_args=True)


def _business(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--business", required=True, metavar="ID", help="the business's id")


def _run(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    try:
        return asyncio.run(with_container(settings, work))
    except TemplateCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return error.exit_code
    except TemplateError as error:
        print(f"wazybot: {error.message}", file=sys.stderr)
        return 2
    except GatewayError as error:
        print(f"wazybot: {_failure(error, settings.whatsapp_graph_url)}", file=sys.stderr)
        return 1


def _failure(error: GatewayError, graph_url: str) -> str:
    if error.http_status is None and error.code is None:  # no answer at all
        reason = error.classification.reason
        return (f"no answer from the Graph API at {graph_url} ({reason}); check "
                "WHATSAPP_GRAPH_URL (in the environment or .env)")  # fmt: skip
    return f"Meta refused: {_describe(error)}"


def _describe(error: GatewayError) -> str:
    parts = [error.meta_message or error.classification.reason]
    if error.details and error.details not in parts[0]:
        parts.append(error.details)
    if error.code is not None:
        parts.append(f"code {error.code}")
    if error.retryable:
        parts.append("temporary: try again later")
    return "; ".join(parts)


async def _access(container: Container, business_id: str) -> WabaAccess:
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    business = await registry.get(business_id)
    if business is None or business.removed_at is not None:
        raise TemplateCommandError(f"no active business {business_id!r} (see `wazybot business "
                                   "list`)")  # fmt: skip
    if not business.account_id:
        raise TemplateCommandError(
            f"business {business_id!r} has no WhatsApp Business Account id: set it with "
            f"`wazybot business update {business_id} --account-id ID`"
        )
    try:
        token = await registry.access_token_of(business_id)
    except SecretKeyError as error:
        raise TemplateCommandError(str(error)) from None
    if not token:
        raise TemplateCommandError(
            f"business {business_id!r} has no access token: set one with `wazybot business "
            f"update {business_id} --access-token-stdin`"
        )
    return WabaAccess(business.account_id, AccessToken(token))


async def _service(container: Container) -> TemplateService:
    gateway = await resolve(container.template_gateway())
    book = await resolve(container.template_book())
    store = await resolve(container.event_store())
    return TemplateService(gateway, book, store)


async def _applied(container: Container, position: FeedPosition | None) -> bool:
    """Wait until the templates projection has applied ``position``."""
    if position is None:
        return True
    return await wait_until_applied(container, TemplatesProjection(), position, PROJECTION_WAIT)


def _note_if_pending(applied: bool) -> None:
    if not applied:
        print("note: recorded; the list shows it once the server's templates projection has"
              " caught up (see `wazybot projections status`)", file=sys.stderr)  # fmt: skip


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        waba = await _access(container, args.business)
        result = await (await _service(container)).sync(args.business, waba)
        applied = await _applied(container, result.last_position)
        print(f"synced business {args.business!r}: {result.listed} template(s) at Meta, "
              f"{result.changed} changed, {result.removed} gone from Meta")  # fmt: skip
        _note_if_pending(applied)
        return 0

    return _run(settings, work)


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        book: PostgresTemplateBook = await resolve(container.template_book())
        templates = [
            t for t in await book.all_templates(args.business)
            if args.status in (None, t.status) and args.language in (None, t.language)
        ]  # fmt: skip
        if args.json:
            print(json.dumps([_json(t) for t in templates], indent=2))
        elif not templates:
            print(f"no templates stored for business {args.business!r}"
                  f"{' with these filters' if args.status or args.language else ''}:"
                  " run `wazybot templates sync`")  # fmt: skip
        else:
            _table(templates)
        return 0

    return _run(settings, work)


def _table(templates: list[StoredTemplate]) -> None:
    rows = [("NAME", "LANGUAGE", "STATUS", "CATEGORY", "QUALITY", "META ID", "UPDATED")]
    rows.extend(
        (t.name, t.language, t.status, t.category or "-", t.quality or "-", t.template_id or "-",
         t.updated_at.strftime("%Y-%m-%d %H:%M"))
        for t in templates
    )  # fmt: skip
    print_table(rows)
    print("\n" + LEGEND)


def _json(template: StoredTemplate) -> dict[str, Any]:
    return {
        "name": template.name, "language": template.language, "status": template.status,
        "category": template.category, "quality": template.quality,
        "components": template.components, "meta_id": template.template_id,
        "updated_at": template.updated_at.isoformat(),
    }  # fmt: skip


def _read_definition(file: str) -> Any:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateCommandError(f"cannot read {file}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateCommandError(f"{file} is not valid JSON: {error}") from None


def _create(settings: Settings, args: argparse.Namespace) -> int:
    try:
        new = validate_new_template(_read_definition(args.file))
    except TemplateDefinitionError as error:
        print(f"wazybot: {args.file}: {error}", file=sys.stderr)
        return 2
    except TemplateCommandError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return error.exit_code

    async def work(container: Container) -> int:
        waba = await _access(container, args.business)
        service = await _service(container)
        created, recorded = await service.create(args.business, waba, new)
        applied = await _applied(container, recorded.last_position)
        print(f"created template {new.name!r} ({new.language}, {created.category}): "
              f"status {created.status}, Meta id {created.id}")  # fmt: skip
        if created.status != "APPROVED":
            print("Meta reviews it; its status follows Meta's notifications, or run "
                  "`wazybot templates sync`")  # fmt: skip
        _note_if_pending(applied)
        return 0

    return _run(settings, work)


def _delete(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        waba = await _access(container, args.business)
        removed = await (await _service(container)).delete(args.business, waba, args.name)
        applied = await _applied(container, removed.last_position)
        print(f"deleted template {args.name!r} at Meta ({removed.count} stored language(s)"
              " marked deleted)")  # fmt: skip
        _note_if_pending(applied)
        return 0

    return _run(settings, work)
