"""Settings from environment variables (and a `.env` file), validated at start.

Every problem is reported at once, each naming its variable.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from adapters.secrets.token_cipher import parse_secret_key
from domain.send_pacing import DEFAULT_SEND_RATE, MAX_SEND_RATE


class SettingsError(ValueError):
    """One or more invalid settings; ``problems`` holds one sentence for each."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class Environment(enum.Enum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Role(enum.Enum):
    """Which parts of the product a process runs; several processes may share one database."""

    ALL = "all"
    API = "api"
    WORKER = "worker"

    @property
    def runs_api(self) -> bool:
        return self in (Role.ALL, Role.API)

    @property
    def runs_workers(self) -> bool:
        return self in (Role.ALL, Role.WORKER)


LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MEBIBYTE: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: its repr and str hide it."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".wazybot/pgdata")
    environment: Environment = Environment.DEVELOPMENT
    log_level: str | None = None  # info for the server, warning for the other commands
    host: str = "127.0.0.1"
    port: int = 8000
    role: Role = Role.ALL
    db_pool_size: int = 10
    subscriber_poll_seconds: float = 2.0
    auto_migrate: bool = True
    secret_key: Secret | None = None
    notify_webhook_url: Secret | None = None
    notify_smtp_url: Secret | None = None
    notify_email_from: str | None = None
    notify_email_to: tuple[str, ...] | None = None
    whatsapp_verify_token: Secret | None = None
    whatsapp_app_secret: Secret | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_business_account_id: str | None = None
    whatsapp_access_token: Secret | None = None
    whatsapp_graph_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v26.0"
    send_lease_seconds: float = 90.0
    webhook_max_bytes: int = 4 * MEBIBYTE
    flood_limit: int = 20
    send_rate: int = DEFAULT_SEND_RATE
    benchmark_endpoints: bool = False
    api_token: Secret | None = None
    media_max_bytes: int = 64 * MEBIBYTE
    openai_api_key: Secret | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_timeout_seconds: float = 20.0
    openai_max_retries: int = 2
    openai_max_output_tokens: int | None = None
    auto_replies: bool = True
    assistant_concurrency: int = 16
    assistant_turn_timeout_seconds: float = 90.0
    sandbox: bool | None = None  # None: on in development without WHATSAPP_ACCESS_TOKEN


@dataclass(frozen=True, slots=True)
class _Variable:
    field: str
    name: str
    parse: Callable[[str, str], Any]
    help: str


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise SettingsError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
        return value

    return parse


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 3600:
        raise SettingsError(f"{name} must be a number of seconds from 0.05 to 3600, got {raw!r}")
    return value


def _lease_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 3 <= value <= 3600:
        raise SettingsError(f"{name} must be a number of seconds from 3 to 3600, got {raw!r}")
    return value


def _choice(options: Mapping[str, Any]) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            return options[raw.strip().lower()]
        except KeyError:
            allowed = ", ".join(options)
            raise SettingsError(f"{name} must be one of {allowed}; got {raw!r}") from None

    return parse


def _database_url(name: str, raw: str) -> str | None:
    if not raw.strip():
        return None
    scheme = urlsplit(raw.strip()).scheme
    if scheme not in ("postgres", "postgresql"):
        raise SettingsError(f"{name} must be a postgresql:// URL, got one starting {scheme!r}")
    return raw.strip()


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingsError(f"{name} must not be empty")
    return raw.strip()


def _secret(name: str, raw: str) -> Secret:
    return Secret(_text(name, raw))


def _api_token(name: str, raw: str) -> Secret:
    token = _text(name, raw)
    if len(token) < 24:
        raise SettingsError(f"{name} must be at least 24 characters (use a random value)")
    return Secret(token)


def _meta_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.isdigit() or len(value) > 30:
        raise SettingsError(f"{name} must be the numeric id Meta shows (digits only)")
    return value


def _http_url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s):// URL such as https://graph.facebook.com")
    return value


def _openai_base_url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be the http(s):// URL of an OpenAI-compatible API, "
                            "such as https://api.openai.com/v1")  # fmt: skip
    return value


def _api_version(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"v\d{1,3}\.\d{1,3}", value):
        raise SettingsError(f"{name} must be a Graph API version such as v26.0, got {raw!r}")
    return value


def _path(name: str, raw: str) -> Path:
    return Path(_text(name, raw))


def _secret_key(name: str, raw: str) -> Secret:
    try:
        return Secret(parse_secret_key(raw).decode("ascii"))
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _notify_webhook_url(name: str, raw: str) -> Secret | None:
    if not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL with a host")
    return Secret(raw.strip())


def _smtp_url(name: str, raw: str) -> Secret | None:
    if not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "smtp" or not parts.hostname or port == -1:
        raise SettingsError(f"{name} must look like smtp://user:password@host:port")
    return Secret(raw.strip())


_EMAIL: Final = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _email_address(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _EMAIL.match(value):
        raise SettingsError(f"{name} must be an email address like team@example.com")
    return value


def _email_addresses(name: str, raw: str) -> tuple[str, ...] | None:
    addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    if not addresses:
        return None
    if any(not _EMAIL.match(a) for a in addresses):
        raise SettingsError(f"{name} must be email addresses separated by commas")
    return addresses


_BOOLEANS: Final = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

VARIABLES: Final = (
    _Variable("database_url", "DATABASE_URL", _database_url,
              "PostgreSQL URL; unset runs the embedded server"),
    _Variable("data_dir", "WAZYBOT_DATA_DIR", _path,
              "data directory of the embedded PostgreSQL"),
    _Variable("environment", "WAZYBOT_ENV", _choice({e.value: e for e in Environment}),
              "development (readable logs) or production (JSON logs)"),
    _Variable("log_level", "WAZYBOT_LOG_LEVEL", _choice({v: v for v in LOG_LEVELS}),
              "debug, info, warning or error (unset: info for servers, warning for commands)"),
    _Variable("host", "WAZYBOT_HOST", _text, "address the HTTP server listens on"),
    _Variable("port", "WAZYBOT_PORT", _integer(1, 65535), "port the HTTP server listens on"),
    _Variable("role", "WAZYBOT_ROLE", _choice({r.value: r for r in Role}),
              "all (API and workers), api or worker"),
    _Variable("db_pool_size", "WAZYBOT_DB_POOL_SIZE", _integer(2, 100),
              "connections in this process's pool"),
    _Variable("subscriber_poll_seconds", "WAZYBOT_SUBSCRIBER_POLL_SECONDS", _seconds,
              "safety-net poll of the event feed when no notification arrives"),
    _Variable("auto_migrate", "WAZYBOT_AUTO_MIGRATE", _choice(_BOOLEANS),
              "apply database migrations at start-up"),
    _Variable("secret_key", "WAZYBOT_SECRET_KEY", _secret_key,
              "key that encrypts stored access tokens (32 bytes, base64); unset with the"
              " embedded database: a key file made once beside its data directory"),
    _Variable("notify_webhook_url", "WAZYBOT_NOTIFY_WEBHOOK_URL", _notify_webhook_url,
              "team notifications as JSON POSTs (Slack-compatible `text`)"),
    _Variable("notify_smtp_url", "WAZYBOT_NOTIFY_SMTP_URL", _smtp_url,
              "team notifications by email: smtp://user:pass@host:port (STARTTLS when offered)"),
    _Variable("notify_email_from", "WAZYBOT_NOTIFY_EMAIL_FROM", _email_address,
              "sender address of notification emails"),
    _Variable("notify_email_to", "WAZYBOT_NOTIFY_EMAIL_TO", _email_addresses,
              "recipients of notification emails, separated by commas"),
    _Variable("whatsapp_verify_token", "WHATSAPP_VERIFY_TOKEN", _secret,
              "token Meta echoes when it verifies the webhook (GET)"),
    _Variable("whatsapp_app_secret", "WHATSAPP_APP_SECRET", _secret,
              "Meta app secret that signs every webhook POST"),
    _Variable("whatsapp_phone_number_id", "WHATSAPP_PHONE_NUMBER_ID", _meta_id,
              "phone number id owned by the default business"),
    _Variable("whatsapp_business_account_id", "WHATSAPP_BUSINESS_ACCOUNT_ID", _meta_id,
              "WhatsApp Business Account id of the default business (template updates)"),
    _Variable("whatsapp_access_token", "WHATSAPP_ACCESS_TOKEN", _secret,
              "Graph API access token of the default business"),
    _Variable("whatsapp_graph_url", "WHATSAPP_GRAPH_URL", _http_url,
              "base URL of the Graph API that messages are sent through"),
    _Variable("whatsapp_api_version", "WHATSAPP_API_VERSION", _api_version,
              "Graph API version of every request to Meta"),
    _Variable("send_lease_seconds", "WAZYBOT_SEND_LEASE_SECONDS", _lease_seconds,
              "how long a sender holds a message; a dead sender's message is sent again after it"),
    _Variable("webhook_max_bytes", "WAZYBOT_WEBHOOK_MAX_BYTES", _integer(1024, 64 * MEBIBYTE),
              "largest webhook body accepted, in bytes"),
    _Variable("flood_limit", "WAZYBOT_FLOOD_LIMIT", _integer(1, 10_000),
              "messages a minute after which a customer gets no automatic replies"),
    _Variable("send_rate", "WAZYBOT_SEND_RATE", _integer(1, MAX_SEND_RATE),
              "messages a second each phone number sends at most, across all processes"
              " (a business's --send-rate overrides it)"),
    _Variable("benchmark_endpoints", "WAZYBOT_BENCHMARK_ENDPOINTS", _choice(_BOOLEANS),
              "serve the signature-only endpoint that bench/ingest compares against"),
    _Variable("api_token", "WAZYBOT_API_TOKEN", _api_token,
              "bearer token of the read-model API for the default business"),
    _Variable("media_max_bytes", "WAZYBOT_MEDIA_MAX_BYTES", _integer(1024, 1024 * MEBIBYTE),
              "largest file GET /api/v1/media/{id} passes on from Meta, in bytes"),
    _Variable("openai_api_key", "OPENAI_API_KEY", _secret,
              "API key of the AI provider; unset: the offline rules assistant answers"),
    _Variable("openai_model", "OPENAI_MODEL", _text,
              "model the assistant asks (any chat model the provider serves)"),
    _Variable("openai_base_url", "OPENAI_BASE_URL", _openai_base_url,
              "base URL of the OpenAI-compatible API (a local server works too)"),
    _Variable("openai_timeout_seconds", "OPENAI_TIMEOUT_SECONDS", _seconds,
              "how long one request to the AI provider may take"),
    _Variable("openai_max_retries", "OPENAI_MAX_RETRIES", _integer(0, 5),
              "retries of a request that timed out or got 429 or 5xx from the AI provider"),
    _Variable("openai_max_output_tokens", "OPENAI_MAX_OUTPUT_TOKENS", _integer(1, 1_000_000),
              "most tokens the model may write in one answer (max_completion_tokens);"
              " unset: no limit is sent"),
    _Variable("auto_replies", "WAZYBOT_AUTO_REPLIES", _choice(_BOOLEANS),
              "false: customer messages start no assistant turn in any business (people answer)"),
    _Variable("assistant_concurrency", "WAZYBOT_ASSISTANT_CONCURRENCY", _integer(1, 1000),
              "conversations whose assistant turn runs at once, in each worker process"),
    _Variable("assistant_turn_timeout_seconds", "WAZYBOT_ASSISTANT_TURN_TIMEOUT_SECONDS",
              _lease_seconds,
              "longest wait for the assistant's answer (retries included) before the fallback"),
    _Variable("sandbox", "WAZYBOT_SANDBOX", _choice(_BOOLEANS),
              "1: sandbox mode (built-in WhatsApp simulator, demo business); 0: never; unset: on"
              " in development when WHATSAPP_ACCESS_TOKEN is not set"),
)  # fmt: skip


ENV_FILE: Final = Path(".env")
_ENV_LINE: Final = re.compile(
    r"^(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)$"
)
# Command-line options that override a variable, for messages.
_OPTION_NAMES: Final = {"host": "--host", "port": "--port", "role": "--role"}


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Read every variable; raise one SettingsError naming every bad one.

    Without ``environ`` the process environment is read, over the ``.env`` file of
    the working directory (real environment variables win).
    """
    reads_file = environ is None or env_file is not None
    file_values, problems = read_env_file(env_file or ENV_FILE) if reads_file else ({}, [])
    env = {**file_values, **(os.environ if environ is None else environ)}
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for variable in VARIABLES:
        override = overrides.get(variable.field)
        if override is not None:
            name = _OPTION_NAMES.get(variable.field, variable.name)
            raw = override.value if isinstance(override, enum.Enum) else str(override)
        elif (raw_value := env.get(variable.name)) is not None:
            name, raw = variable.name, raw_value
        else:
            continue
        try:
            values[variable.field] = variable.parse(name, raw)
        except SettingsError as error:
            problems.extend(error.problems)
    values.update(
        {k: v for k, v in overrides.items() if k in known and v is not None and k not in values}
    )
    problems.extend(_missing_companions(values))
    if problems:
        raise SettingsError(*problems)
    return Settings(**values)


def _missing_companions(values: Mapping[str, Any]) -> list[str]:
    """Settings that only work together with others."""
    if values.get("notify_smtp_url") is None:
        return []
    return [
        f"WAZYBOT_NOTIFY_SMTP_URL needs {name} too"
        for field_name, name in (("notify_email_from", "WAZYBOT_NOTIFY_EMAIL_FROM"),
                                 ("notify_email_to", "WAZYBOT_NOTIFY_EMAIL_TO"))
        if not values.get(field_name)
    ]  # fmt: skip


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """``KEY=value`` lines of a `.env` file (comments, blank lines, optional quotes).

    Returns the values and one problem per malformed line; a missing file is empty.
    The line's text is never echoed: it may hold a secret.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as error:
        return {}, [f"{path} cannot be read: {error}"]
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(stripped)
        value = _env_value(match.group("value")) if match else None
        if match is None or value is None:
            problems.append(f"{path} line {number} is not KEY=value (or its quotes do not close)")
            continue
        values[match.group("key")] = value
    return values, problems


def _env_value(raw: str) -> str | None:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end == -1 or raw[end + 1 :].strip()[:1] not in ("", "#"):
            return None
        return raw[1:end]
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def describe_variables() -> list[tuple[str, str, str]]:
    """(name, default, meaning) for each variable, for docs and `--help`."""
    defaults = Settings()
    rows = []
    for variable in VARIABLES:
        default = getattr(defaults, variable.field)
        shown = default.value if isinstance(default, enum.Enum) else default
        shown = "" if isinstance(shown, Secret) else shown
        rows.append((variable.name, "" if shown is None else str(shown), variable.help))
    return rows


def sandbox_wanted(settings: Settings) -> bool:
    """WAZYBOT_SANDBOX when set; otherwise on in development without WHATSAPP_ACCESS_TOKEN."""
    if settings.sandbox is not None:
        return settings.sandbox
    development = settings.environment is Environment.DEVELOPMENT
    return settings.whatsapp_access_token is None and development
