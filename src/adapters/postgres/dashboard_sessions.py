"""Dashboard sessions and one-time sign-in links in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg

from application.api_tokens import token_digest
from application.businesses import DEFAULT_BUSINESS_ID
from application.dashboard_sessions import DashboardSession, NewSession, SignInGrant

# The token that opened the session must still be live: a stored one not revoked (in the
# same business), or WAZYBOT_API_TOKEN as it is now ($4) for the default business.
_FIND_SQL: Final = """
update dashboard_sessions s set expires_at = $3
where s.id_sha256 = $1 and s.expires_at > $2
  and (
    (s.token_sha256 = $4 and s.business_id = $5)
    or exists (select 1 from api_tokens t
               where t.token_sha256 = s.token_sha256 and t.business_id = s.business_id
                 and t.revoked_at is null)
  )
returning business_id, agent_name, csrf_token, expires_at
"""


class PostgresDashboardSessions:
    def __init__(self, pool: asyncpg.Pool[Any], environment_token: str | None = None) -> None:
        self._pool = pool
        # No environment token: a digest no token has, so only stored tokens count.
        self._environment_sha256 = token_digest(environment_token) if environment_token else b"\x00"

    async def open(self, session: NewSession) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            # Expired rows are swept by the next sign-in: no background job needed.
            await connection.execute("delete from dashboard_sessions where expires_at < now()")
            await connection.execute(
                "insert into dashboard_sessions (id_sha256, business_id, token_sha256,"
                " agent_name, csrf_token, expires_at) values ($1, $2, $3, $4, $5, $6)",
                session.id_sha256, session.business_id, session.token_sha256,
                session.agent_name, session.csrf_token, session.expires_at,
            )  # fmt: skip

    async def find(
        self, id_sha256: bytes, now: datetime, expires_at: datetime
    ) -> DashboardSession | None:
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                _FIND_SQL, id_sha256, now, expires_at, self._environment_sha256,
                DEFAULT_BUSINESS_ID,
            )  # fmt: skip
        if row is None:
            return None
        return DashboardSession(
            row["business_id"], row["agent_name"], row["csrf_token"], row["expires_at"]
        )

    async def close(self, id_sha256: bytes) -> None:
        async with self._pool.acquire() as connection:
            await connection.execute(
                "delete from dashboard_sessions where id_sha256 = $1", id_sha256
            )

    async def add_link(self, code_sha256: bytes, grant: SignInGrant, expires_at: datetime) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("delete from dashboard_sign_in_links where expires_at < now()")
            await connection.execute(
                "insert into dashboard_sign_in_links (code_sha256, business_id, token_sha256,"
                " agent_name, expires_at) values ($1, $2, $3, $4, $5)",
                code_sha256, grant.business_id, grant.token_sha256, grant.agent_name,
                expires_at,
            )  # fmt: skip

    async def use_link(self, code_sha256: bytes, now: datetime) -> SignInGrant | None:
        # One statement: of two requests racing with one code, exactly one gets the grant.
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "update dashboard_sign_in_links set used_at = $2"
                " where code_sha256 = $1 and used_at is null and expires_at > $2"
                " returning business_id, token_sha256, agent_name",
                code_sha256, now,
            )  # fmt: skip
        if row is None:
            return None
        return SignInGrant(row["business_id"], bytes(row["token_sha256"]), row["agent_name"])
