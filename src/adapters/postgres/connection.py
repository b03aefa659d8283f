"""asyncpg connections configured the way every WazyBot component needs them."""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import asyncpg
import asyncpg.pool

# What a query can run on: a plain connection or one borrowed from a pool.
PgConnection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

# One stuck transaction must not hold back every feed reader behind the snapshot fence.
IDLE_IN_TRANSACTION_TIMEOUT: Final = "60s"


def server_settings(application_name: str) -> dict[str, str]:
    return {
        "application_name": application_name,
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
    }


async def configure_connection(connection: asyncpg.Connection[Any]) -> None:
    """jsonb travels as raw JSON bytes, so msgspec encodes and decodes it directly."""
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
    )


def _encode_jsonb(value: bytes) -> bytes:
    return b"\x01" + value


def _decode_jsonb(value: bytes) -> bytes:
    return value[1:]


async def reset_connection(connection: asyncpg.Connection[Any]) -> None:
    """Make a released connection clean again, in the common case without a round trip.

    asyncpg's default reset sends RESET ALL, UNLISTEN *, CLOSE ALL and an advisory
    unlock on every release, which would add a query to every group commit. Pool
    connections here never hold session state (LISTEN and session advisory locks
    use their own connections; settings use SET LOCAL), so only an abandoned
    transaction needs undoing.
    """
    if connection.is_in_transaction():
        await connection.execute("rollback")


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, application_name: str = "wazybot"
) -> asyncpg.Pool[Any]:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=configure_connection,
        reset=reset_connection,
        server_settings=server_settings(application_name),
    )
    if pool is None:  # the stubs allow None; a created pool never is
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def connect(dsn: str, *, application_name: str = "wazybot") -> asyncpg.Connection[Any]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(
        dsn, server_settings=server_settings(application_name)
    )
    await configure_connection(connection)
    return connection
