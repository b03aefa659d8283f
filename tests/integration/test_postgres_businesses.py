"""The business registry and directory on PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from adapters.postgres.businesses import PostgresBusinessDirectory, PostgresBusinessRegistry
from adapters.secrets.token_cipher import TokenCipher
from application.businesses import Business, BusinessError, BusinessRoute


def acme(**changes: Any) -> Business:
    fields: dict[str, Any] = {
        "id": "acme",
        "name": "Acme",
        "phone_number_ids": ("111", "222"),
        "account_id": "900",
    }
    fields.update(changes)
    return Business(**fields)


async def test_added_businesses_are_listed_with_their_numbers(pool: asyncpg.Pool[Any]) -> None:
    registry = PostgresBusinessRegistry(pool, TokenCipher(Fernet.generate_key()))
    await registry.add(acme(access_token="secret-token", flood_limit=5))
    await registry.add(acme(id="beta", name="Beta", phone_number_ids=("333",), account_id=None))

    listed = await registry.all()

    assert [
        (b.id, b.phone_number_ids, b.account_id, b.flood_limit, b.has_access_token) for b in listed
    ] == [
        ("acme", ("111", "222"), "900", 5, True),
        ("beta", ("333",), None, None, False),
    ]
    assert all(b.access_token is None for b in listed)  # never read back


@pytest.mark.parametrize(
    ("business", "says"),
    [
        (acme(), "already exists"),
        (acme(id="other", phone_number_ids=("222",), account_id=None), "already belongs"),
        (acme(id="other", phone_number_ids=("444",)), "account 900 already belongs"),
        (acme(id="Bad Id"), "lowercase"),
        (acme(id="other", phone_number_ids=()), "at least one"),
        (acme(id="other", phone_number_ids=("12ab",)), "digits only"),
        (acme(id="other", phone_number_ids=("5", "5")), "twice"),
        (acme(id="other", phone_number_ids=("5",), flood_limit=0), "flood limit"),
        (acme(id="other", name=" "), "name"),
    ],
)
async def test_conflicting_or_invalid_businesses_are_refused_and_nothing_changes(
    pool: asyncpg.Pool[Any], business: Business, says: str
) -> None:
    registry = PostgresBusinessRegistry(pool)
    await registry.add(acme())

    with pytest.raises(BusinessError, match=says):
        await registry.add(business)

    assert [b.id for b in await registry.all()] == ["acme"]


async def test_directory_routes_by_number_and_account_and_sees_new_businesses_at_once(
    pool: asyncpg.Pool[Any],
) -> None:
    registry = PostgresBusinessRegistry(pool)
    default = Business(id="default", name="D", phone_number_ids=("777",), source="environment")
    await registry.store_environment_business(default)  # as every serving process does
    directory = PostgresBusinessDirectory(registry, default_flood_limit=20, refresh_seconds=3600)
    assert await directory.by_phone_number("111") is None

    await registry.add(acme(flood_limit=7))

    assert await directory.by_phone_number("111") == BusinessRoute("acme", 7)
    assert await directory.by_account("900") == BusinessRoute("acme", 7)
    assert await directory.by_phone_number("777") == BusinessRoute("default", 20)
    assert await directory.by_account("404") is None
