"""Numbered SQL migrations, applied once each under an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Any fixed 64-bit key; every process that migrates takes the same one.
MIGRATION_LOCK_KEY: Final = 0x5741_5A59_4D49_4752  # "WAZYMIGR"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_migrations_dir() -> Path:
    packaged = Path(__file__).with_name("db_migrations")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "db" / "migrations"


def load_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: number {version} is used twice")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[v] for v in sorted(migrations)]


_CREATE_LEDGER = """
create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


async def migrate(connection: asyncpg.Connection[Any], migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the file names applied now (empty when up to date)."""
    await connection.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await connection.execute(_CREATE_LEDGER)
        applied = await _applied_checksums(connection)
        _check_unchanged(migrations, applied)
        done = []
        for migration in migrations:
            if migration.version not in applied:
                await _apply(connection, migration)
                done.append(migration.file_name)
        return done
    finally:
        await connection.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def pending_migrations(
    connection: asyncpg.Connection[Any], migrations: list[Migration]
) -> list[str]:
    """File names not yet applied (all of them when the ledger does not exist)."""
    exists = await connection.fetchval("select to_regclass('schema_migrations') is not null")
    applied = await _applied_checksums(connection) if exists else {}
    _check_unchanged(migrations, applied)
    return [m.file_name for m in migrations if m.version not in applied]


async def _applied_checksums(connection: asyncpg.Connection[Any]) -> dict[int, str]:
    rows = await connection.fetch("select version, checksum from schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[int, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"{migration.file_name} was changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )


async def _apply(connection: asyncpg.Connection[Any], migration: Migration) -> None:
    log.info("db.migration.applying", migration=migration.file_name)
    try:
        async with connection.transaction():
            await connection.execute(migration.sql)
            await connection.execute(
                "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as error:
        raise MigrationError(f"migration {migration.file_name} failed: {error}") from error
