"""API tokens in PostgreSQL, and the authority that tells which business a bearer token opens."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from application.api_tokens import (
    IssuedToken,
    TokenInfo,
    issue_token,
    same_token,
    token_digest,
)
from application.businesses import DEFAULT_BUSINESS_ID
from application.dashboard_sessions import TokenIdentity

LAST_USE_RESOLUTION_SECONDS: Final = 60
# One round trip per request, and no cache: a revoked token is refused by the very next
# request. last_used_at is written only when it is a minute old, so a busy token costs a
# write a minute (in every process together), not one per request.
_AUTHENTICATE_SQL: Final = f"""
with found as (
    select id, business_id, last_used_at from api_tokens
    where token_sha256 = $1 and revoked_at is null
), touched as (
    update api_tokens t set last_used_at = now()
    from found
    where t.id = found.id
      and (found.last_used_at is null
           or found.last_used_at < now() - interval '{LAST_USE_RESOLUTION_SECONDS} seconds')
    returning t.id
)
select business_id from found
"""
_INFO_SQL: Final = (
    "select id, business_id, name, created_at, last_used_at, revoked_at from api_tokens"
)


class PostgresApiTokens:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def create(self, business_id: str, name: str = "") -> IssuedToken:
        issued = issue_token(business_id)
        async with self._pool.acquire() as connection:
            await connection.execute(
                "insert into api_tokens (id, business_id, name, token_sha256)"
                " values ($1, $2, $3, $4)",
                issued.id, business_id, name, token_digest(issued.token),
            )  # fmt: skip
        return issued

    async def business_of(self, token: str) -> str | None:
        async with self._pool.acquire() as connection:
            business_id: str | None = await connection.fetchval(
                _AUTHENTICATE_SQL, token_digest(token)
            )
        return business_id

    async def name_of(self, token: str) -> str | None:
        """The name a live token was given; None for none (or an empty one)."""
        async with self._pool.acquire() as connection:
            name: str | None = await connection.fetchval(
                "select name from api_tokens where token_sha256 = $1 and revoked_at is null",
                token_digest(token),
            )
        return name or None

    async def identify(self, token: str) -> TokenIdentity | None:
        """The live token's business, id and name (what a dashboard session remembers).
        Signing in with it counts as a use (`tokens list` shows it)."""
        if await self.business_of(token) is None:
            return None
        return await self._identity("token_sha256 = $1", token_digest(token))

    async def by_id(self, business_id: str, token_id: str) -> TokenIdentity | None:
        return await self._identity("id = $1 and business_id = $2", token_id, business_id)

    async def _identity(self, where: str, *arguments: Any) -> TokenIdentity | None:
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "select id, business_id, name, token_sha256 from api_tokens"
                f" where {where} and revoked_at is null",
                *arguments,
            )
        if row is None:
            return None
        return TokenIdentity(
            row["business_id"], row["id"], row["name"] or None, bytes(row["token_sha256"])
        )

    async def list(self, business_id: str | None = None) -> list[TokenInfo]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(
                _INFO_SQL + " where $1::text is null or business_id = $1"
                " order by business_id, created_at, id",
                business_id,
            )
        return [_info(row) for row in rows]

    async def active_counts(self) -> dict[str, int]:
        """Tokens not revoked, per business."""
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(
                "select business_id, count(*) as n from api_tokens where revoked_at is null"
                " group by business_id"
            )
        return {row["business_id"]: int(row["n"]) for row in rows}

    async def revoke(self, token_id: str) -> TokenInfo | None:
        """Revoke a token (again is harmless: the first revocation time stays)."""
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1"
                " returning id, business_id, name, created_at, last_used_at, revoked_at",
                token_id,
            )
        return _info(row) if row is not None else None


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(
        id=row["id"], business_id=row["business_id"], name=row["name"],
        created_at=row["created_at"], last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )  # fmt: skip


class ApiTokenAuthority:
    """Stored tokens, plus the one WAZYBOT_API_TOKEN gives the default business."""

    def __init__(self, tokens: PostgresApiTokens, environment_token: str | None = None) -> None:
        self._tokens = tokens
        self._environment_token = environment_token

    async def business_of(self, token: str) -> str | None:
        if self._environment_token is not None and same_token(token, self._environment_token):
            return DEFAULT_BUSINESS_ID
        return await self._tokens.business_of(token)

    async def identify(self, token: str) -> TokenIdentity | None:
        """Who a live token is (for dashboard sign-in); None when it opens nothing."""
        if self._environment_token is not None and same_token(token, self._environment_token):
            return self._environment_identity()
        return await self._tokens.identify(token)

    async def by_id(self, business_id: str, token_id: str | None) -> TokenIdentity | None:
        """A live stored token of the business; None as the id: WAZYBOT_API_TOKEN."""
        if token_id is None:
            if business_id != DEFAULT_BUSINESS_ID:
                return None
            return self._environment_identity()
        return await self._tokens.by_id(business_id, token_id)

    def _environment_identity(self) -> TokenIdentity | None:
        if self._environment_token is None:
            return None
        return TokenIdentity(DEFAULT_BUSINESS_ID, None, None, token_digest(self._environment_token))

    async def name_of(self, token: str) -> str | None:
        """The token's name, to say who did something; None for WAZYBOT_API_TOKEN."""
        if self._environment_token is not None and same_token(token, self._environment_token):
            return None
        return await self._tokens.name_of(token)
