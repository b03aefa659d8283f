"""Access tokens are encrypted at rest, opened only for sending, never listed."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.secrets.token_cipher import (
    SecretKeyError,
    TokenCipher,
    key_file_beside,
    load_or_create_key_file,
)
from application.businesses import Business, BusinessChanges, BusinessError
from entrypoints.container import provide_token_cipher
from entrypoints.settings import SettingsError, load_settings

TOKEN = "EAAG-the-real-graph-token-0123456789"


def acme(**changes: Any) -> Business:
    fields: dict[str, Any] = {"id": "acme", "name": "Acme", "phone_number_ids": ("111",)}
    return Business(**{**fields, **changes})


def cipher() -> TokenCipher:
    return TokenCipher(Fernet.generate_key())


async def whole_table(pool: asyncpg.Pool[Any]) -> str:
    rows = await pool.fetch("select b::text from businesses b")
    return "\n".join(r[0] for r in rows)


async def test_the_database_holds_no_plaintext_token_and_sending_reads_it_back(
    pool: asyncpg.Pool[Any],
) -> None:
    registry = PostgresBusinessRegistry(pool, cipher())
    await registry.add(acme(access_token=TOKEN))

    assert TOKEN not in await whole_table(pool)
    assert await registry.access_token_of("acme") == TOKEN
    assert (await registry.get("acme")).has_access_token  # type: ignore[union-attr]
    assert all(b.access_token is None for b in await registry.all())

    await registry.update("acme", BusinessChanges(access_token="EAAG-replaced-token-42"))
    assert "EAAG-replaced-token-42" not in await whole_table(pool)
    assert await registry.access_token_of("acme") == "EAAG-replaced-token-42"


async def test_a_wrong_key_gives_an_error_naming_the_setting(pool: asyncpg.Pool[Any]) -> None:
    await PostgresBusinessRegistry(pool, cipher()).add(acme(access_token=TOKEN))
    other = PostgresBusinessRegistry(pool, cipher())

    with pytest.raises(SecretKeyError, match="WAZYBOT_SECRET_KEY"):
        await other.access_token_of("acme")
    (problem,) = await other.secure_stored_tokens()
    assert "acme" in problem
    assert "WAZYBOT_SECRET_KEY" in problem


async def test_without_a_key_a_token_is_refused_and_nothing_is_stored(
    pool: asyncpg.Pool[Any],
) -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://db.invalid/wazybot"})
    registry = PostgresBusinessRegistry(pool, provide_token_cipher(settings))

    with pytest.raises(BusinessError, match="set WAZYBOT_SECRET_KEY"):
        await registry.add(acme(access_token=TOKEN))

    assert await registry.get("acme") is None
    await registry.add(acme())  # a business without a token needs no key
    assert await registry.access_token_of("acme") is None


async def test_plaintext_tokens_are_encrypted_once_at_start_up(pool: asyncpg.Pool[Any]) -> None:
    registry = PostgresBusinessRegistry(pool, cipher())
    await registry.add(acme())
    await pool.execute("update businesses set access_token = $1 where id = 'acme'", TOKEN)

    assert await registry.secure_stored_tokens() == []
    first = await whole_table(pool)
    assert await registry.secure_stored_tokens() == []

    assert TOKEN not in first
    assert await whole_table(pool) == first  # idempotent: the ciphertext stays as it is
    assert await registry.access_token_of("acme") == TOKEN


async def test_the_environment_token_is_used_and_stored_only_encrypted(
    pool: asyncpg.Pool[Any],
) -> None:
    keyless = PostgresBusinessRegistry(pool, TokenCipher.without_key("no key"), TOKEN)
    default = Business(id="default", name="Default", phone_number_ids=("999",),
                       source="environment", access_token=TOKEN)  # fmt: skip

    (problem,) = await keyless.store_environment_business(default)
    assert "WAZYBOT_SECRET_KEY" in problem
    assert TOKEN not in await whole_table(pool)
    assert await keyless.access_token_of("default") == TOKEN

    keyed = PostgresBusinessRegistry(pool, cipher(), TOKEN)
    assert await keyed.store_environment_business(default) == []
    assert TOKEN not in await whole_table(pool)
    assert await PostgresBusinessRegistry(pool, keyed._cipher).access_token_of("default") == TOKEN


def test_the_key_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "state" / "pgdata"
    path = key_file_beside(data_dir)

    first = load_or_create_key_file(path)
    second = load_or_create_key_file(path)

    assert path == tmp_path / "state" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first == second
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    sealed = TokenCipher(first).encrypt(TOKEN)
    reread = provide_token_cipher(load_settings({"WAZYBOT_DATA_DIR": str(data_dir)}))
    assert reread.decrypt(sealed) == TOKEN


def test_a_damaged_key_file_is_reported_never_a_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    key_file_beside(data_dir).write_text("not a key\n")

    keyless = provide_token_cipher(load_settings({"WAZYBOT_DATA_DIR": str(data_dir)}))

    with pytest.raises(SecretKeyError, match="WAZYBOT_SECRET_KEY"):
        keyless.encrypt(TOKEN)


@pytest.mark.parametrize("raw", ["short", "x" * 44, "a2V5"])
def test_a_malformed_secret_key_setting_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="WAZYBOT_SECRET_KEY must be 32 random bytes"):
        load_settings({"WAZYBOT_SECRET_KEY": raw})


def test_a_standard_base64_key_is_accepted() -> None:
    settings = load_settings({"WAZYBOT_SECRET_KEY": "+" * 43 + "="})
    assert settings.secret_key is not None
    assert "+" * 43 not in repr(settings)
