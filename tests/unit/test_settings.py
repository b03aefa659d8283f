from __future__ import annotations

import re
from pathlib import Path

import pytest

from entrypoints.settings import (
    VARIABLES,
    Environment,
    Role,
    Settings,
    SettingsError,
    load_settings,
)


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
            "WHATSAPP_GRAPH_URL": "http://127.0.0.1:8081/",
            "WHATSAPP_API_VERSION": "v25.0",
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
        whatsapp_graph_url="http://127.0.0.1:8081",
        whatsapp_api_version="v25.0",
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
        ("WHATSAPP_GRAPH_URL", "graph.facebook.com"),
        ("WHATSAPP_API_VERSION", "26"),
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


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"WAZYBOT_PORT": "eighty", "WAZYBOT_ROLE": "x", "WAZYBOT_ENV": "staging"})

    problems = raised.value.problems
    assert len(problems) == 3
    for name in ("WAZYBOT_PORT", "WAZYBOT_ROLE", "WAZYBOT_ENV"):
        assert sum(name in problem for problem in problems) == 1


def test_a_bad_command_line_value_names_its_option() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({}, port=70000)

    assert raised.value.problems == ["--port must be a whole number from 1 to 65535, got '70000'"]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env",
        "# a comment\n"
        "\n"
        "WAZYBOT_PORT=9000\n"
        "export WAZYBOT_HOST = '0.0.0.0'  # quoted, with a comment after\n"
        'WHATSAPP_VERIFY_TOKEN="with # inside"\n'
        "WAZYBOT_ROLE=worker # trailing comment\n"
        "WAZYBOT_LOG_LEVEL=warning\n",
    )

    settings = load_settings({"WAZYBOT_LOG_LEVEL": "debug"}, env_file=env_file)

    assert (settings.port, settings.host, settings.role) == (9000, "0.0.0.0", Role.WORKER)  # noqa: S104
    assert settings.whatsapp_verify_token is not None
    assert settings.whatsapp_verify_token.value == "with # inside"
    assert settings.log_level == "debug"


def test_the_dotenv_file_of_the_working_directory_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / ".env", "WAZYBOT_FLOOD_LIMIT=7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WAZYBOT_FLOOD_LIMIT", raising=False)

    assert load_settings().flood_limit == 7


def test_malformed_dotenv_lines_are_reported_with_their_numbers_but_not_their_text(
    tmp_path: Path,
) -> None:
    env_file = write(
        tmp_path / ".env",
        "WAZYBOT_PORT=9000\n"
        "this is not a setting hunter2\n"
        "WAZYBOT_HOST='unclosed\n"
        "WAZYBOT_ROLE=x\n",
    )

    with pytest.raises(SettingsError) as raised:
        load_settings({}, env_file=env_file)

    problems = raised.value.problems
    assert [p for p in problems if "line" in p] == [
        f"{env_file} line 2 is not KEY=value (or its quotes do not close)",
        f"{env_file} line 3 is not KEY=value (or its quotes do not close)",
    ]
    assert any("WAZYBOT_ROLE" in p for p in problems)
    assert "hunter2" not in str(raised.value)


ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
_EXAMPLE_LINE = re.compile(r"^(?P<off>#\s*)?(?P<key>[A-Z][A-Z0-9_]+)=(?P<value>.*)$")


def test_env_example_lists_exactly_the_settings_the_code_reads_with_their_defaults() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    entries = {m["key"]: (i, m) for i, line in enumerate(lines) if (m := _EXAMPLE_LINE.match(line))}
    defaults = Settings()

    assert sorted(entries) == sorted(variable.name for variable in VARIABLES)
    for variable in VARIABLES:
        index, entry = entries[variable.name]
        assert lines[index - 1].startswith("# "), f"{variable.name} has no comment above it"
        if entry["off"]:
            assert getattr(defaults, variable.field) is None, f"{variable.name} has a default"
        else:
            parsed = variable.parse(variable.name, entry["value"])
            assert parsed == getattr(defaults, variable.field), variable.name
    # Copied as it is, the example changes nothing.
    assert load_settings({}, env_file=ENV_EXAMPLE) == defaults
