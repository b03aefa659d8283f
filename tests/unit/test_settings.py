from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings import Environment, Role, Settings, SettingsError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})

    assert settings == Settings()
    assert settings.database_url is None
    assert settings.data_dir == Path(".wazybot/pgdata")
    assert (settings.host, settings.port, settings.role) == ("127.0.0.1", 8000, Role.ALL)


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u@db/wazybot",
            "WAZYBOT_DATA_DIR": "/var/lib/wazybot",
            "WAZYBOT_ENV": "production",
            "WAZYBOT_LOG_LEVEL": "DEBUG",
            "WAZYBOT_HOST": "0.0.0.0",  # noqa: S104
            "WAZYBOT_PORT": "9000",
            "WAZYBOT_ROLE": "worker",
            "WAZYBOT_DB_POOL_SIZE": "20",
            "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.5",
            "WAZYBOT_AUTO_MIGRATE": "no",
        }
    )

    assert settings == Settings(
        database_url="postgresql://u@db/wazybot",
        data_dir=Path("/var/lib/wazybot"),
        environment=Environment.PRODUCTION,
        log_level="debug",
        host="0.0.0.0",  # noqa: S104
        port=9000,
        role=Role.WORKER,
        db_pool_size=20,
        subscriber_poll_seconds=0.5,
        auto_migrate=False,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WAZYBOT_PORT", "eighty"),
        ("WAZYBOT_PORT", "70000"),
        ("WAZYBOT_ROLE", "everything"),
        ("WAZYBOT_ENV", "staging"),
        ("WAZYBOT_LOG_LEVEL", "loud"),
        ("WAZYBOT_DB_POOL_SIZE", "1"),
        ("WAZYBOT_SUBSCRIBER_POLL_SECONDS", "soon"),
        ("WAZYBOT_AUTO_MIGRATE", "maybe"),
        ("DATABASE_URL", "mysql://db/x"),
        ("WAZYBOT_HOST", "  "),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})

    assert name in str(raised.value)


def test_a_bad_database_url_error_does_not_echo_the_url() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": "mysql://user:hunter2@db/x"})

    assert "hunter2" not in str(raised.value)


def test_command_line_overrides_win_over_the_environment() -> None:
    settings = load_settings({"WAZYBOT_PORT": "9000"}, port=9100, host=None)

    assert (settings.port, settings.host) == (9100, "127.0.0.1")
