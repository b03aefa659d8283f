"""Administration commands of the `wazybot` CLI: API tokens."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from adapters.postgres_api_tokens import PostgresApiTokens
from adapters.postgres_businesses import PostgresBusinessRegistry
from application.api_tokens import ApiTokenError, IssuedToken
from entrypoints.container import default_business, with_pool
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


def _tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    async def create(pool: Any) -> IssuedToken:
        known = {b.id for b in await PostgresBusinessRegistry(pool).all()}
        default = default_business(settings)
        if default is not None:
            known.add(default.id)
        if args.business not in known:
            listed = ", ".join(sorted(known)) or "none yet"
            raise ApiTokenError(f"no business with id {args.business!r} (known: {listed})")
        return await PostgresApiTokens(pool).create(args.business, args.name.strip())

    issued = asyncio.run(with_pool(settings, create))
    print(issued.token)
    print(
        f"created token {issued.id} for business {issued.business_id!r}; it is shown only"
        " this once: send it as 'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0
