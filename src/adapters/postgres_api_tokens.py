"""API tokens in PostgreSQL, and the authority that tells which business a bearer token opens."""

from __future__ import annotations

from typing import Any

import asyncpg

from application.api_tokens import IssuedToken, issue_token, same_token, token_digest
from application.businesses import DEFAULT_BUSINESS_ID


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
                "select business_id from api_tokens where token_sha256 = $1 and revoked_at is null",
                token_digest(token),
            )
        return business_id


class ApiTokenAuthority:
    """Stored tokens, plus the one WAZYBOT_API_TOKEN gives the default business."""

    def __init__(self, tokens: PostgresApiTokens, environment_token: str | None = None) -> None:
        self._tokens = tokens
        self._environment_token = environment_token

    async def business_of(self, token: str) -> str | None:
        if self._environment_token is not None and same_token(token, self._environment_token):
            return DEFAULT_BUSINESS_ID
        return await self._tokens.business_of(token)
