"""Where a benchmark's database comes from: when DATABASE_URL names a server, a scratch
database of its own on that server, dropped afterwards; else a fresh embedded server."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from adapters.postgres.connection import connect
from adapters.postgres.embedded import throwaway_server

T = TypeVar("T")


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A new database on an existing server, dropped afterwards."""
    name = f"wazybot_bench_{secrets.token_hex(6)}"
    admin = await connect(server_url, application_name="wazybot-bench")
    try:
        await admin.execute(f'create database "{name}"')
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


def on_a_database(run: Callable[[str], Coroutine[Any, Any, T]], state_dir: Path) -> tuple[T, str]:
    """``run`` on a scratch database of the DATABASE_URL server when it is set, else on a
    fresh embedded PostgreSQL (fsync on) under ``state_dir``; with where it ran."""
    server_url = os.environ.get("DATABASE_URL")
    if server_url:
        host = urlsplit(server_url).hostname or "local socket"

        async def on_scratch() -> T:
            async with scratch_database(server_url) as url:
                return await run(url)

        return asyncio.run(on_scratch()), f"DATABASE_URL server on {host}, scratch database"
    print("starting a fresh embedded PostgreSQL (fsync on) ...", file=sys.stderr)
    with throwaway_server(state_dir, "bench-pgdata") as url:
        return asyncio.run(run(url)), "fresh embedded server"
