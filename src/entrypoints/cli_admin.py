"""Administration commands of the `wazybot` CLI: API tokens and projections."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from adapters.postgres.api_tokens import PostgresApiTokens
from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.postgres.projection_admin import (
    ParkedRetry,
    PostgresProjectionAdmin,
    ProjectionStatus,
    RebuildError,
    RebuildProgress,
    RebuildRefusedError,
)
from adapters.postgres.read_models import PROJECTIONS
from application.api_tokens import ApiTokenError, IssuedToken, TokenInfo
from entrypoints.container import (
    Container,
    resolve,
    with_container,
    with_pool,
)
from entrypoints.settings import Settings


def add_token_commands(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="bearer tokens of the read-model API")
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    create = sub.add_parser(
        "create", help="create a token for one business; it is printed once and stored hashed"
    )
    create.add_argument("--business", required=True, metavar="ID", help="the business's id")
    create.add_argument("--name", default="", help="what the token is for (shown in listings)")
    create.set_defaults(handler=_tokens_create, needs_args=True)
    listing = sub.add_parser(
        "list",
        help="list tokens: id, business, name, created, last used, revoked (never the token)",
    )
    listing.add_argument("--business", metavar="ID", help="only this business's tokens")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.set_defaults(handler=_tokens_list, needs_args=True)
    revoke = sub.add_parser("revoke", help="revoke a token: it answers 401 from the next request")
    revoke.add_argument("id", metavar="ID", help="the token's id, as `tokens list` shows it")
    revoke.set_defaults(handler=_tokens_revoke, needs_args=True)


def _tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    async def create(pool: Any) -> IssuedToken:
        known = {b.id for b in await PostgresBusinessRegistry(pool).all()}
        if args.business not in known:
            listed = ", ".join(sorted(known)) or "none yet"
            raise ApiTokenError(
                f"no business with id {args.business!r} (known: {listed}; the business of"
                " WHATSAPP_PHONE_NUMBER_ID is stored once the server has started with it)"
            )
        return await PostgresApiTokens(pool).create(args.business, args.name.strip())

    issued = asyncio.run(with_pool(settings, create))
    print(issued.token)
    print(
        f"created token {issued.id} for business {issued.business_id!r}; it is shown only"
        " this once: send it as 'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def _tokens_list(settings: Settings, args: argparse.Namespace) -> int:
    tokens = asyncio.run(
        with_pool(settings, lambda pool: PostgresApiTokens(pool).list(args.business))
    )
    if args.json:
        print(json.dumps([_token_json(t) for t in tokens], indent=2))
        return 0
    if not tokens:
        print("no tokens yet: create one with `wazybot tokens create --business ID`")
        return 0
    rows = [("ID", "BUSINESS", "NAME", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (t.id, t.business_id, t.name or "-", _when(t.created_at), _when(t.last_used_at),
         _when(t.revoked_at))
        for t in tokens
    ]  # fmt: skip
    print_table(rows)
    print("\nLAST USED is exact to the minute; REVOKED tokens answer 401. Times are UTC.")
    return 0


def _tokens_revoke(settings: Settings, args: argparse.Namespace) -> int:
    revoked = asyncio.run(with_pool(settings, lambda pool: PostgresApiTokens(pool).revoke(args.id)))
    if revoked is None:
        raise ApiTokenError(f"no token with id {args.id!r} (see `wazybot tokens list`)")
    print(f"token {revoked.id} of business {revoked.business_id!r} is revoked"
          f" (since {_when(revoked.revoked_at)}); it answers 401")  # fmt: skip
    return 0


def _token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id, "business_id": token.business_id, "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "active": token.active,
    }  # fmt: skip


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def add_projection_commands(commands: Any) -> None:
    projections = commands.add_parser("projections", help="the read models and their rebuilds")
    sub = projections.add_subparsers(dest="projections_command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", help="each projection's checkpoint, lag, errors and runner")
    status.set_defaults(handler=_projections_status)
    rebuild = sub.add_parser(
        "rebuild",
        help="replay the whole log into fresh tables and swap them in (the API keeps serving)",
    )
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", choices=[p.kind for p in PROJECTIONS], metavar="NAME",
                       help=f"one of {', '.join(p.kind for p in PROJECTIONS)}")  # fmt: skip
    which.add_argument("--all", action="store_true", help="rebuild every projection in turn")
    rebuild.set_defaults(handler=_projections_rebuild, needs_args=True)
    retry = sub.add_parser(
        "retry-parked",
        help="replay the events a projection set aside (once the bug behind them is fixed);"
        " those that still fail stay parked with their new error",
    )
    retry.add_argument("name", choices=[p.kind for p in PROJECTIONS], metavar="NAME",
                       help=f"one of {', '.join(p.kind for p in PROJECTIONS)}")  # fmt: skip
    retry.add_argument("--json", action="store_true", help="one JSON object per parked event")
    retry.set_defaults(handler=_projections_retry_parked, needs_args=True)


async def _admin(container: Container) -> PostgresProjectionAdmin:
    return PostgresProjectionAdmin(
        await resolve(container.database_url()), await resolve(container.event_store())
    )


def _projections_status(settings: Settings) -> int:
    async def status(container: Container) -> list[ProjectionStatus]:
        return await (await _admin(container)).status()

    rows = [("PROJECTION", "CHECKPOINT", "BEHIND", "PARKED", "UPDATED", "RUNNER", "REBUILD",
             "LAST ERROR")]  # fmt: skip
    for s in asyncio.run(with_container(settings, status)):
        rows.append((
            s.name,
            f"{s.tx}/{s.position}" if s.position is not None else "never ran",
            f"{s.behind:,}",
            f"{s.parked:,}",
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S") if s.updated_at else "-",
            s.owner or "-",
            "running" if s.rebuilding else "-",
            _error_summary(s),
        ))  # fmt: skip
    print_table(rows)
    return 0


def _projections_retry_parked(settings: Settings, args: argparse.Namespace) -> int:
    async def retry(container: Container) -> list[ParkedRetry]:
        return await (await _admin(container)).retry_parked(args.name)

    outcomes = asyncio.run(with_container(settings, retry))
    if args.json:
        for o in outcomes:
            print(json.dumps({"position": o.position, "event_id": o.event_id, "type": o.type,
                              "replayed": o.error is None, "error": o.error}))  # fmt: skip
    elif outcomes:
        rows = [("POSITION", "EVENT", "TYPE", "RESULT")]
        rows += [(str(o.position), o.event_id, o.type,
                  "replayed" if o.error is None else "still failing: " + o.error[:80])
                 for o in outcomes]  # fmt: skip
        print_table(rows)
    still = sum(o.error is not None for o in outcomes)
    print(
        f"{args.name}: {len(outcomes) - still} parked event(s) replayed, {still} still parked",
        file=sys.stderr,
    )
    return 1 if still else 0


def _error_summary(status: ProjectionStatus) -> str:
    if status.last_error is None:
        return "-"
    when = status.last_error_at.strftime("%H:%M:%S ") if status.last_error_at else ""
    return when + status.last_error.splitlines()[0][:80]


def _projections_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    names = [p.kind for p in PROJECTIONS] if args.all else [args.name]

    async def rebuild(container: Container) -> None:
        admin = await _admin(container)
        for name in names:
            bar = ProgressBar(sys.stderr)
            done = await admin.rebuild(name, bar.show)
            print(f"rebuilt {name}: {done.handled:,} events in {done.elapsed:.1f} s, swapped in")

    try:
        asyncio.run(with_container(settings, rebuild))
    except RebuildError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2 if isinstance(error, RebuildRefusedError) else 1
    return 0


class ProgressBar:
    """Events replayed, rate and time left; redrawn in place on a terminal, else a line a second."""

    WIDTH = 30

    def __init__(self, out: TextIO, interval: float = 1.0) -> None:
        self._out = out
        self._tty = out.isatty()
        self._interval = 0.1 if self._tty else interval
        self._last = float("-inf")

    async def show(self, progress: RebuildProgress) -> None:
        now = time.monotonic()
        if not progress.swapped and now - self._last < self._interval:
            return
        self._last = now
        line = self.render(progress)
        if self._tty:
            self._out.write("\r" + line + ("\n" if progress.swapped else ""))
        else:
            self._out.write(line + "\n")
        self._out.flush()

    @classmethod
    def render(cls, progress: RebuildProgress) -> str:
        total = max(progress.total, progress.handled, 1)
        share = progress.handled / total
        filled = int(cls.WIDTH * share)
        rate = progress.handled / progress.elapsed if progress.elapsed > 0 else 0.0
        left = (total - progress.handled) / rate if rate > 0 else 0.0
        state = "swapped in" if progress.swapped else f"ETA {_duration(left)}"
        return (
            f"{progress.projection}: [{'#' * filled}{'.' * (cls.WIDTH - filled)}]"
            f" {progress.handled:,}/{total:,} events ({share:.0%}), {rate:,.0f} events/s, {state}"
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
