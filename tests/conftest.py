from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from adapters.postgres.connection import create_pool
from tests.support import database


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with database.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    return str(database.run_sync(database.ensure_template(postgres_admin_url)))


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for this test only."""
    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    name = database.run_sync(database.create_database(postgres_admin_url, None))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    yield pool
    await pool.close()
