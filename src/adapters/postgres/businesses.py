"""Businesses in PostgreSQL: the registry the CLI edits and the directory the webhook reads.

The directory keeps the whole number -> business map in memory and refreshes
it every few seconds. A number or account missing from the map is looked up in
the database at once, so a business added by `wazybot business add` in another
process receives its very next update; a removed business stops routing at the
next refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import structlog

from adapters.secrets.token_cipher import (
    ENCRYPTED_PREFIX,
    KEY_SETTING,
    SecretKeyError,
    TokenCipher,
)
from application.businesses import (
    Business,
    BusinessChanges,
    BusinessError,
    BusinessRoute,
    apply_changes,
    validate_business,
)
from domain.conversation import DEFAULT_FLOOD_LIMIT

REFRESH_SECONDS: Final = 5.0

log = structlog.get_logger(__name__)

_SELECT_SQL = """
select b.id, b.name, b.account_id, b.flood_limit, b.access_token is not null as has_token,
       b.send_rate, b.source, b.removed_at,
       array(select n.phone_number_id from business_phone_numbers n
             where n.business_id = b.id order by n.phone_number_id) as numbers
from businesses b
"""
_ACTIVE_SQL = _SELECT_SQL + " where b.removed_at is null order by b.id"
_EVERY_SQL = _SELECT_SQL + " order by b.id"
_ONE_SQL = _SELECT_SQL + " where b.id = $1"
_FIND_SQL = (
    _SELECT_SQL
    + """
where b.removed_at is null
  and (b.id in (select business_id from business_phone_numbers where phone_number_id = $1)
       or b.account_id = $2)
limit 1
"""
)
# A removed business keeps its row (and the record of its numbers) until another business
# claims one of its numbers or its account: then they move.
_RELEASE_NUMBERS_SQL = """
delete from business_phone_numbers n using businesses b
where n.business_id = b.id and b.removed_at is not null and b.id <> $1
  and n.phone_number_id = any($2::text[])
"""
_RELEASE_ACCOUNT_SQL = """
update businesses set account_id = null
where account_id = $2 and removed_at is not null and id <> $1
"""


class PostgresBusinessRegistry:
    """Businesses and their numbers; access tokens are stored encrypted and never listed.

    The environment's business has its token from WHATSAPP_ACCESS_TOKEN
    (``environment_token``), stored encrypted too when there is a key, so that
    other processes see it; without a key this process still uses it.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        cipher: TokenCipher | None = None,
        environment_token: str | None = None,
    ) -> None:
        self._pool = pool
        self._cipher = cipher or TokenCipher.without_key(
            f"set {KEY_SETTING} to store access tokens"
        )
        self._environment_token = environment_token

    def _sealed(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._cipher.encrypt(token)
        except SecretKeyError as error:
            raise BusinessError(f"cannot store the access token: {error}") from None

    def _environment_copy(self, business: Business, problems: list[str]) -> str | None:
        """The environment's token, encrypted for other processes; None without a key."""
        if business.access_token is None:
            return None
        if not self._cipher.has_key:
            problems.append(f"WHATSAPP_ACCESS_TOKEN is not stored (set {KEY_SETTING} to store"
                            " it encrypted); this process still uses it")  # fmt: skip
            return None
        return self._cipher.encrypt(business.access_token)

    async def access_token_of(self, business_id: str) -> str | None:
        """The Graph API token of an active business, decrypted; None when it has none.

        Raises SecretKeyError (naming WAZYBOT_SECRET_KEY) when the stored token cannot be
        opened with the configured key.
        """
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "select access_token, source from businesses where id = $1 and removed_at is null",
                business_id,
            )
        if row is None:
            return None
        if row["access_token"] is not None:
            return self._cipher.decrypt(row["access_token"])
        return self._environment_token if row["source"] == "environment" else None

    async def secure_stored_tokens(self) -> list[str]:
        """Encrypt tokens stored in plain text and check the key opens the others.

        Idempotent; run at start-up. Returns problems to report: they never stop the
        process (only sending for the businesses concerned needs the token).
        """
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "select id, access_token from businesses where access_token is not null"
                " order by id for update"
            )
            plain = [r for r in rows if not r["access_token"].startswith(ENCRYPTED_PREFIX)]
            sealed = [r for r in rows if r["access_token"].startswith(ENCRYPTED_PREFIX)]
            if plain and not self._cipher.has_key:
                return [f"{len(plain)} access token(s) are stored unencrypted; "
                        f"set {KEY_SETTING} to encrypt them"]  # fmt: skip
            await connection.executemany(
                "update businesses set access_token = $2 where id = $1",
                [(r["id"], self._cipher.encrypt(r["access_token"])) for r in plain],
            )
        if plain:
            log.info("business.access_tokens_encrypted", count=len(plain))
        unreadable = [r["id"] for r in sealed if not self._opens(r["access_token"])]
        if unreadable:
            return [f"the access tokens of {', '.join(unreadable)} cannot be decrypted with this "
                    f"key; set {KEY_SETTING} to the key they were stored with, or store them"
                    " again with `wazybot business update ID --access-token-stdin`"]  # fmt: skip
        return []

    def _opens(self, stored: str) -> bool:
        try:
            self._cipher.decrypt(stored)
        except SecretKeyError:
            return False
        return True

    async def add(self, business: Business) -> None:
        """Store a new business and its numbers, all or nothing."""
        validate_business(business)
        access_token = self._sealed(business.access_token)
        async with self._pool.acquire() as connection, connection.transaction():
            existing = await connection.fetchrow(
                "select removed_at from businesses where id = $1", business.id
            )
            if existing is not None:
                removed = " (removed; choose another id)" if existing["removed_at"] else ""
                raise BusinessError(f"a business with id {business.id!r} already exists{removed}")
            await _claim(connection, business.id, business.phone_number_ids, business.account_id)
            await connection.execute(
                "insert into businesses (id, name, account_id, access_token, flood_limit,"
                " send_rate) values ($1, $2, $3, $4, $5, $6)",
                business.id, business.name.strip(), business.account_id, access_token,
                business.flood_limit, business.send_rate,
            )  # fmt: skip
            await _insert_numbers(connection, business.id, business.phone_number_ids)

    async def update(self, business_id: str, changes: BusinessChanges) -> Business:
        """Change a business's settings and numbers, all or nothing; the result."""
        if changes.empty:
            raise BusinessError("nothing to change: give at least one option (see --help)")
        access_token = self._sealed(changes.access_token)
        async with self._pool.acquire() as connection, connection.transaction():
            current = await _locked_active(connection, business_id)
            updated = apply_changes(current, changes)
            added = tuple(n for n in updated.phone_number_ids if n not in current.phone_number_ids)
            account = updated.account_id if updated.account_id != current.account_id else None
            await _claim(connection, business_id, added, account)
            await connection.execute(
                "update businesses set name = $2, account_id = $3, flood_limit = $4,"
                " access_token = coalesce($5, access_token), send_rate = $6 where id = $1",
                business_id, updated.name, updated.account_id, updated.flood_limit,
                access_token, updated.send_rate,
            )  # fmt: skip
            await connection.execute(
                "delete from business_phone_numbers where business_id = $1"
                " and phone_number_id = any($2::text[])",
                business_id, list(changes.remove_phone_number_ids),
            )  # fmt: skip
            await _insert_numbers(connection, business_id, added)
        return updated

    async def remove(self, business_id: str) -> Business:
        """Soft delete: the business and its data stay, its numbers and account stop routing."""
        async with self._pool.acquire() as connection, connection.transaction():
            current = await _locked_active(connection, business_id)
            await connection.execute(
                "update businesses set removed_at = now() where id = $1", business_id
            )
        return current

    async def store_environment_business(self, business: Business) -> list[str]:
        """Store (or refresh) the business the environment defines; what could not be applied.

        A business added with `business add` keeps what it owns: a number or an account it
        holds is not taken, and a database business with the same id is left alone. The
        environment revives its business if it was removed.
        """
        problems: list[str] = []
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "select pg_advisory_xact_lock(hashtext('wazybot.environment_business'))"
            )
            existing = await connection.fetchrow(
                "select source from businesses where id = $1", business.id
            )
            if existing is not None and existing["source"] != "environment":
                return [f"business {business.id!r} was added with `business add`; the"
                        " WHATSAPP_* settings are not applied to it"]  # fmt: skip
            account = business.account_id
            if account and await _owner_of_account(connection, business.id, account):
                problems.append(f"account {account} belongs to another business; not taken")
                account = None
            await connection.execute(
                "insert into businesses (id, name, account_id, access_token, source)"
                " values ($1, $2, $3, $4, 'environment')"
                " on conflict (id) do update set account_id = coalesce($3, businesses.account_id),"
                " access_token = coalesce($4, businesses.access_token), removed_at = null",
                business.id, business.name, account, self._environment_copy(business, problems),
            )  # fmt: skip
            free = []
            for number in business.phone_number_ids:
                owner = await _owner_of_number(connection, business.id, number)
                if owner is None:
                    free.append(number)
                elif owner != business.id:
                    problems.append(
                        f"phone number id {number} belongs to business {owner!r}; not taken"
                    )
            await connection.execute(_RELEASE_NUMBERS_SQL, business.id, free)
            await connection.executemany(
                "insert into business_phone_numbers (phone_number_id, business_id)"
                " values ($1, $2) on conflict (phone_number_id) do nothing",
                [(number, business.id) for number in free],
            )
        return problems

    async def all(self, *, include_removed: bool = False) -> list[Business]:
        return await self._fetch(_EVERY_SQL if include_removed else _ACTIVE_SQL)

    async def get(self, business_id: str) -> Business | None:
        found = await self._fetch(_ONE_SQL, business_id)
        return found[0] if found else None

    async def find(self, *, phone_number_id: str | None = None, account_id: str | None = None
                   ) -> Business | None:  # fmt: skip
        """The active business owning this number (or account), straight from the database."""
        found = await self._fetch(_FIND_SQL, phone_number_id, account_id)
        return found[0] if found else None

    async def _fetch(self, sql: str, *args: Any) -> list[Business]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(sql, *args)
        return [_business(row, self._environment_token is not None) for row in rows]


def _business(row: asyncpg.Record, environment_has_token: bool = False) -> Business:
    from_environment = row["source"] == "environment" and environment_has_token
    return Business(
        id=row["id"],
        name=row["name"],
        phone_number_ids=tuple(row["numbers"]),
        account_id=row["account_id"],
        flood_limit=row["flood_limit"],
        send_rate=row["send_rate"],
        has_access_token=row["has_token"] or from_environment,
        source=row["source"],
        removed_at=row["removed_at"],
    )


async def _locked_active(connection: Any, business_id: str) -> Business:
    row = await connection.fetchrow(_ONE_SQL + " for update of b", business_id)
    if row is None:
        raise BusinessError(f"no business with id {business_id!r} (see `wazybot business list`)")
    if row["removed_at"] is not None:
        raise BusinessError(f"business {business_id!r} was removed")
    return _business(row)


async def _owner_of_number(connection: Any, business_id: str, number: str) -> str | None:
    """The active business (other than this one) or this one owning a number; None if free."""
    owner: str | None = await connection.fetchval(
        "select n.business_id from business_phone_numbers n join businesses b"
        " on b.id = n.business_id where n.phone_number_id = $1"
        " and (b.removed_at is null or b.id = $2)",
        number, business_id,
    )  # fmt: skip
    return owner


async def _owner_of_account(connection: Any, business_id: str, account: str) -> str | None:
    owner: str | None = await connection.fetchval(
        "select id from businesses where account_id = $1 and removed_at is null and id <> $2",
        account, business_id,
    )  # fmt: skip
    return owner


async def _claim(
    connection: Any, business_id: str, numbers: Sequence[str], account_id: str | None
) -> None:
    """Refuse numbers or an account an active business holds; take them from removed ones."""
    for number in numbers:
        owner = await _owner_of_number(connection, business_id, number)
        if owner is not None:
            raise BusinessError(f"phone number id {number} already belongs to business {owner!r}")
    if account_id and await _owner_of_account(connection, business_id, account_id):
        raise BusinessError(f"account {account_id} already belongs to a business")
    await connection.execute(_RELEASE_NUMBERS_SQL, business_id, list(numbers))
    if account_id:
        await connection.execute(_RELEASE_ACCOUNT_SQL, business_id, account_id)


async def _insert_numbers(connection: Any, business_id: str, numbers: Sequence[str]) -> None:
    await connection.executemany(
        "insert into business_phone_numbers (phone_number_id, business_id) values ($1, $2)",
        [(number, business_id) for number in numbers],
    )


@dataclass(slots=True)
class _Snapshot:
    numbers: dict[str, BusinessRoute] = field(default_factory=dict)
    accounts: dict[str, BusinessRoute] = field(default_factory=dict)
    loaded_at: float = float("-inf")


class PostgresBusinessDirectory:
    """Routes updates to the stored businesses (the environment's one included, stored at start)."""

    def __init__(
        self,
        registry: PostgresBusinessRegistry,
        *,
        default_flood_limit: int = DEFAULT_FLOOD_LIMIT,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._registry = registry
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
            self._snapshot = _snapshot_of(await self._registry.all(), self._default_flood_limit)


def _snapshot_of(businesses: Sequence[Business], default_flood_limit: int) -> _Snapshot:
    snapshot = _Snapshot(loaded_at=time.monotonic())
    for business in businesses:
        route = business.route(default_flood_limit)
        for number in business.phone_number_ids:
            snapshot.numbers[number] = route
        if business.account_id:
            snapshot.accounts[business.account_id] = route
    return snapshot
