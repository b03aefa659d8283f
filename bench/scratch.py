"""Where a benchmark's database comes from when DATABASE_URL names a server: a scratch
database of its own on that server, dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from adapters.postgres.connection import connect


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
