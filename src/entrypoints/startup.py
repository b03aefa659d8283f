"""Start-up checks and failures: fast checks first, one clear line when something fails."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Final

import asyncpg
import structlog

from adapters.postgres.embedded import EmbeddedPostgresError
from adapters.postgres.migrations import MigrationError
from entrypoints.container import Container, DatabaseUnavailableError, resolve
from entrypoints.logging import redact_text

log = structlog.get_logger(__name__)


class StartupError(RuntimeError):
    """A start-up problem the user can fix; its message says how."""


# What may stop a command before it does its work: each is reported in one line, no traceback.
STARTUP_ERRORS: Final = (
    StartupError,
    DatabaseUnavailableError,
    EmbeddedPostgresError,
    MigrationError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def ensure_port_free(host: str, port: int) -> None:
    """Bind the listen address once, before the slow start-up, to report a busy port at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option uvicorn sets, so a port in TIME_WAIT is not reported as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use; "
                    "choose another with --port or WAZYBOT_PORT"
                ) from None
            raise StartupError(
                f"cannot listen on {host}:{port} ({error.strerror or error}); "
                "check --host/WAZYBOT_HOST and --port/WAZYBOT_PORT"
            ) from None


async def start_resources(container: Container) -> None:
    """Start the database (embedded or not), migrate, open the pool; undo it all on failure."""
    try:
        await resolve(container.init_resources())
    except BaseException:
        await resolve(container.shutdown_resources())
        raise


def report_failure(error: BaseException) -> int:
    """Log the whole reason, print its first line on standard error; the exit status is 1."""
    detail = str(error) or type(error).__name__
    log.error("command.failed", error=detail, error_type=type(error).__name__)
    first_line = redact_text(detail).splitlines()[0]
    print(f"wazybot: {first_line}", file=sys.stderr)
    return 1
