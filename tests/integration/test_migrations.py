from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.postgres.migrations import (
    MigrationError,
    default_migrations_dir,
    load_migrations,
    migrate,
    pending_migrations,
)


async def _migrate(url: str, directory: Path) -> list[str]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url)
    try:
        return await migrate(connection, load_migrations(directory))
    finally:
        await connection.close()


async def _ledger(url: str) -> list[tuple[int, str]]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("select version, name from schema_migrations order by 1")
    finally:
        await connection.close()
    return [(row["version"], row["name"]) for row in rows]


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_migrate_applies_everything_once_then_nothing(empty_database_url: str) -> None:
    expected = [m.file_name for m in load_migrations(default_migrations_dir())]

    first = await _migrate(empty_database_url, default_migrations_dir())
    second = await _migrate(empty_database_url, default_migrations_dir())

    assert first == expected
    assert second == []
    assert len(await _ledger(empty_database_url)) == len(expected)


async def test_concurrent_migrators_apply_each_migration_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    slow = _write(
        tmp_path / "m",
        {
            "0001_first.sql": "create table first (id int); select pg_sleep(0.3);",
            "0002_second.sql": "create table second (id int);",
        },
    )

    results = await asyncio.gather(*(_migrate(empty_database_url, slow) for _ in range(4)))

    assert sorted(name for applied in results for name in applied) == [
        "0001_first.sql",
        "0002_second.sql",
    ]
    assert await _ledger(empty_database_url) == [(1, "first"), (2, "second")]


async def test_a_changed_applied_migration_is_an_error(
    empty_database_url: str, tmp_path: Path
) -> None:
    directory = _write(tmp_path / "m", {"0001_first.sql": "create table first (id int);"})
    await _migrate(empty_database_url, directory)
    _write(directory, {"0001_first.sql": "create table first (id bigint);"})

    with pytest.raises(MigrationError, match=r"0001_first\.sql was changed after it was applied"):
        await _migrate(empty_database_url, directory)


async def test_a_failing_migration_is_rolled_back_and_not_recorded(
    empty_database_url: str, tmp_path: Path
) -> None:
    directory = _write(
        tmp_path / "m",
        {"0001_ok.sql": "create table ok (id int);", "0002_bad.sql": "create table bad (id nope);"},
    )

    with pytest.raises(MigrationError, match=r"migration 0002_bad\.sql failed: ") as raised:
        await _migrate(empty_database_url, directory)

    assert isinstance(raised.value.__cause__, asyncpg.PostgresError)

    assert await _ledger(empty_database_url) == [(1, "ok")]
    connection: asyncpg.Connection[Any] = await asyncpg.connect(empty_database_url)
    try:
        assert await pending_migrations(connection, load_migrations(directory)) == ["0002_bad.sql"]
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_short.sql": ""}, "named NNNN_snake_name.sql"),
        ({"0001_a.sql": "", "0001_b.sql": ""}, "number 1 is used twice"),
    ],
)
def test_badly_named_migration_files_are_refused(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(MigrationError, match=message):
        load_migrations(_write(tmp_path / "m", files))


def test_a_missing_migrations_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        load_migrations(tmp_path / "nowhere")
