"""Businesses in PostgreSQL: the registry the CLI edits and the directory the webhook reads.

The directory keeps the whole number -> business map in memory and refreshes
it every few seconds. A number or account missing from the map is looked up in
the database at once, so a business added by `wazybot business add` in another
process receives its very next update.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from application.businesses import Business, BusinessError, BusinessRoute, validate_business
from domain.conversation import DEFAULT_FLOOD_LIMIT

REFRESH_SECONDS: Final = 5.0

_SELECT_SQL = """
select b.id, b.name, b.account_id, b.flood_limit, b.access_token is not null as has_token,
       array(select n.phone_number_id from business_phone_numbers n
             where n.business_id = b.id order by n.phone_number_id) as numbers
from businesses b
"""
_LIST_SQL = _SELECT_SQL + " order by b.id"
_FIND_SQL = (
    _SELECT_SQL
    + """
where b.id in (select business_id from business_phone_numbers where phone_number_id = $1)
   or b.account_id = $2
limit 1
"""
)


class PostgresBusinessRegistry:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def add(self, business: Business) -> None:
        """Store a new business and its numbers, all or nothing."""
        validate_business(business)
        async with self._pool.acquire() as connection, connection.transaction():
            await self._check_free(connection, business)
            await connection.execute(
                "insert into businesses (id, name, account_id, access_token, flood_limit)"
                " values ($1, $2, $3, $4, $5)",
                business.id, business.name.strip(), business.account_id, business.access_token,
                business.flood_limit,
            )  # fmt: skip
            await connection.executemany(
                "insert into business_phone_numbers (phone_number_id, business_id) values ($1, $2)",
                [(number, business.id) for number in business.phone_number_ids],
            )

    async def _check_free(self, connection: Any, business: Business) -> None:
        if await connection.fetchval("select 1 from businesses where id = $1", business.id):
            raise BusinessError(f"a business with id {business.id!r} already exists")
        owner = await connection.fetchrow(
            "select phone_number_id, business_id from business_phone_numbers"
            " where phone_number_id = any($1::text[]) limit 1",
            list(business.phone_number_ids),
        )
        if owner is not None:
            raise BusinessError(
                f"phone number id {owner['phone_number_id']} already belongs to business"
                f" {owner['business_id']!r}"
            )
        if business.account_id and await connection.fetchval(
            "select id from businesses where account_id = $1", business.account_id
        ):
            raise BusinessError(f"account {business.account_id} already belongs to a business")

    async def all(self) -> list[Business]:
        return await self._fetch(_LIST_SQL)

    async def find(self, *, phone_number_id: str | None = None, account_id: str | None = None
                   ) -> Business | None:  # fmt: skip
        """The business owning this number (or account), straight from the database."""
        found = await self._fetch(_FIND_SQL, phone_number_id, account_id)
        return found[0] if found else None

    async def _fetch(self, sql: str, *args: Any) -> list[Business]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(sql, *args)
        return [
            Business(
                id=row["id"],
                name=row["name"],
                phone_number_ids=tuple(row["numbers"]),
                account_id=row["account_id"],
                flood_limit=row["flood_limit"],
                has_access_token=row["has_token"],
            )
            for row in rows
        ]


@dataclass(slots=True)
class _Snapshot:
    numbers: dict[str, BusinessRoute] = field(default_factory=dict)
    accounts: dict[str, BusinessRoute] = field(default_factory=dict)
    loaded_at: float = float("-inf")


class PostgresBusinessDirectory:
    """Routes updates to businesses; the default business (from settings) fills the gaps."""

    def __init__(
        self,
        registry: PostgresBusinessRegistry,
        *,
        default: Business | None = None,
        default_flood_limit: int = DEFAULT_FLOOD_LIMIT,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._registry = registry
        self._default = default
        self._default_flood_limit = default_flood_limit
        self._refresh_seconds = refresh_seconds
        self._snapshot = _Snapshot()
        self._refreshing = asyncio.Lock()

    async def by_phone_number(self, phone_number_id: str) -> BusinessRoute | None:
        return await self._lookup(phone_number_id, numbers=True)

    async def by_account(self, account_id: str) -> BusinessRoute | None:
        return await self._lookup(account_id, numbers=False)

    async def _lookup(self, key: str, *, numbers: bool) -> BusinessRoute | None:
        if time.monotonic() - self._snapshot.loaded_at > self._refresh_seconds:
            await self._refresh(self._snapshot.loaded_at)
        known = (self._snapshot.numbers if numbers else self._snapshot.accounts).get(key)
        if known is not None:
            return known
        found = await (self._registry.find(phone_number_id=key) if numbers
                       else self._registry.find(account_id=key))  # fmt: skip
        return found.route(self._default_flood_limit) if found is not None else None

    async def _refresh(self, seen_loaded_at: float) -> None:
        async with self._refreshing:
            if self._snapshot.loaded_at != seen_loaded_at:
                return  # another request refreshed while this one waited
            stored = await self._registry.all()
            defaults = [self._default] if self._default is not None else []
            self._snapshot = _snapshot_of([*defaults, *stored], self._default_flood_limit)


def _snapshot_of(businesses: Sequence[Business], default_flood_limit: int) -> _Snapshot:
    """Later businesses win: stored ones take a number over from the default business."""
    snapshot = _Snapshot(loaded_at=time.monotonic())
    for business in businesses:
        route = business.route(default_flood_limit)
        for number in business.phone_number_ids:
            snapshot.numbers[number] = route
        if business.account_id:
            snapshot.accounts[business.account_id] = route
    return snapshot
