"""Real PostgreSQL for tests: DATABASE_URL, else Docker (testcontainers), else embedded.

Every test gets its own database, cloned from a template that already has the
migrations applied, so tests run in any order and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapters.postgres.embedded import FAST_TEST_SETTINGS, EmbeddedPostgres
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate

ROOT = Path(__file__).resolve().parents[2]
TEST_DATA_DIR = ROOT / ".wazybot" / "test-pgdata"


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin URL of a server the tests may create databases on."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    with _docker_postgres() as url:
        if url is not None:
            yield url
            return
    embedded = EmbeddedPostgres(TEST_DATA_DIR, FAST_TEST_SETTINGS)
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


@contextmanager
def _docker_postgres() -> Iterator[str | None]:
    if not _docker_answers():
        yield None
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:18", driver=None) as container:
        yield container.get_connection_url()


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


def template_name() -> str:
    digest = hashlib.sha256()
    for migration in load_migrations(default_migrations_dir()):
        digest.update(migration.checksum.encode())
    return f"wazybot_template_{digest.hexdigest()[:12]}"


async def ensure_template(admin_url: str) -> str:
    name = template_name()
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            building = f"{name}_building"
            await admin.execute(f'drop database if exists "{building}" with (force)')
            await admin.execute(f'create database "{building}"')
            await _migrate(with_database(admin_url, building))
            await admin.execute(f'alter database "{building}" rename to "{name}"')
    finally:
        await admin.close()
    return name


async def _migrate(url: str) -> None:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url)
    try:
        await migrate(connection, load_migrations(default_migrations_dir()))
    finally:
        await connection.close()


async def create_database(admin_url: str, template: str | None) -> str:
    name = f"wazybot_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(admin_url)
    try:
        source = f' template "{template}"' if template else ""
        await admin.execute(f'create database "{name}"{source}')
    finally:
        await admin.close()
    return name


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


def run_sync(coroutine: Any) -> Any:
    """Run admin SQL from sync fixtures, even when a test's event loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()
