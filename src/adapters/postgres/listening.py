"""Being told at once of new work: PostgreSQL's LISTEN on one pooled connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextlib.asynccontextmanager
async def listening(
    pool: asyncpg.Pool[Any], channel: str, wake: Callable[[], None]
) -> AsyncIterator[None]:
    """Call ``wake`` on every notification of ``channel`` while in the block.

    Without a connection to listen on, the block runs anyway (its worker then relies on
    its poll), and a warning says so.
    """

    def on_notification(*_: object) -> None:
        wake()

    connection = None
    try:
        connection = await pool.acquire()
        await connection.add_listener(channel, on_notification)
    except _CONNECTION_ERRORS as error:
        if connection is not None:
            await pool.release(connection)
        log.warning("postgres.not_listening", channel=channel, error=type(error).__name__)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await connection.remove_listener(channel, on_notification)
        await pool.release(connection)
