"""The `wazybot` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import structlog

from adapters.postgres.embedded import EmbeddedPostgres, StopOutcome
from application.api_tokens import ApiTokenError
from application.businesses import BusinessError
from entrypoints.cli_admin import add_projection_commands, add_token_commands
from entrypoints.cli_assistant import add_assistant_commands
from entrypoints.cli_business import add_business_commands
from entrypoints.cli_catalog import add_catalog_commands
from entrypoints.cli_orders import add_order_commands
from entrypoints.cli_send import add_send_command
from entrypoints.cli_simulator import add_simulator_commands
from entrypoints.cli_status import add_status_command
from entrypoints.cli_templates import add_template_commands
from entrypoints.cli_webhooks import add_webhook_commands
from entrypoints.container import (
    Container,
    apply_migrations,
    prepare_database,
    provide_database_url,
    resolve,
    start_workers,
    stop_workers,
)
from entrypoints.logging import configure_logging
from entrypoints.settings import (
    Role,
    Settings,
    SettingsError,
    describe_variables,
    load_settings,
    sandbox_wanted,
)
from entrypoints.startup import (
    STARTUP_ERRORS,
    StartupError,
    ensure_port_free,
    report_failure,
    start_resources,
)

if TYPE_CHECKING:  # the server's modules load only when a server starts: commands stay quick
    import uvicorn

    from entrypoints.sandbox import Sandbox

log = structlog.get_logger(__name__)
T = TypeVar("T")
SERVERS: Final = frozenset({"serve", "simulator"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wazybot",
        description="WazyBot: an AI assistant backend for WhatsApp Business.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API and the background workers")
    serve.add_argument("--host", help="listen address (default: WAZYBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: WAZYBOT_PORT or 8000)")
    serve.add_argument(
        "--role",
        choices=[r.value for r in Role],
        help="all: API and workers (default); api: HTTP only; worker: event subscribers only",
    )
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    migrate = db_commands.add_parser("migrate", help="apply pending migrations (safe to repeat)")
    migrate.set_defaults(handler=_migrate)
    stop = db_commands.add_parser(
        "stop",
        help="stop the embedded PostgreSQL of WAZYBOT_DATA_DIR (e.g. one left by a killed process)",
        description="Stop the embedded PostgreSQL of the configured data directory, unless a "
        "live WazyBot process still uses it.",
    )
    stop.add_argument(
        "--force", action="store_true", help="stop it even while WazyBot processes use it"
    )
    stop.set_defaults(handler=_db_stop, needs_args=True)
    add_business_commands(commands)
    add_token_commands(commands)
    add_projection_commands(commands)
    add_webhook_commands(commands)
    add_simulator_commands(commands)
    add_send_command(commands)
    add_template_commands(commands)
    add_assistant_commands(commands)
    add_order_commands(commands)
    add_catalog_commands(commands)
    add_status_command(commands)
    return parser


def _settings_help() -> str:
    lines = ["settings (environment variables, or KEY=value lines of ./.env; see .env.example):"]
    for name, default, meaning in describe_variables():
        shown = f" (default: {default})" if default else ""
        lines.append(f"  {name:<32} {meaning}{shown}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            role=Role(args.role) if getattr(args, "role", None) else None,
        )
    except SettingsError as error:
        for problem in error.problems:
            print(f"wazybot: invalid setting: {problem}", file=sys.stderr)
        return 2
    configure_logging(
        production=settings.environment.value == "production",
        # Servers (the product and the simulator) log their work; one-shot commands only trouble.
        level=settings.log_level or ("info" if args.command in SERVERS else "warning"),
        # Only the server logs to standard output; other commands keep it for their results.
        stream=sys.stdout if args.command == "serve" else sys.stderr,
    )
    try:
        if getattr(args, "needs_args", False):
            return int(args.handler(settings, args))
        return int(args.handler(settings))
    except (BusinessError, ApiTokenError) as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2
    except STARTUP_ERRORS as error:
        return report_failure(error)
    except KeyboardInterrupt:
        return 130


def _migrate(settings: Settings) -> int:
    async def run() -> list[str]:
        generator = provide_database_url(settings)
        url = await anext(generator)
        try:
            return await apply_migrations(url)
        finally:
            await generator.aclose()

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _db_stop(settings: Settings, args: argparse.Namespace) -> int:
    if settings.database_url:
        print(
            "wazybot: DATABASE_URL is set, so no embedded PostgreSQL is used; nothing to stop",
            file=sys.stderr,
        )
        return 2
    embedded = EmbeddedPostgres(settings.data_dir)
    result = embedded.stop_unused(force=args.force)
    where = embedded.configured_dir
    if result.outcome is StopOutcome.NOT_RUNNING:
        print(f"no embedded PostgreSQL runs for {where}")
    elif result.outcome is StopOutcome.IN_USE:
        pids = ", ".join(str(pid) for pid in result.users)
        print(
            f"wazybot: the embedded PostgreSQL of {where} is in use by WazyBot process(es) "
            f"{pids}; stop them first, or use --force",
            file=sys.stderr,
        )
        return 1
    else:
        print(f"stopped the embedded PostgreSQL of {where}")
    return 0


def _serve(settings: Settings) -> int:
    if sandbox_wanted(settings):
        return _serve_sandbox(settings)
    container = Container(settings=settings)
    if settings.role.runs_api:
        return _serve_http(container, settings)
    asyncio.run(_serve_workers_only(container))
    return 0


SHUTDOWN_GRACE_SECONDS: Final = 10


def _uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        # Open dashboard pages hold live-update streams that never end by themselves: at
        # shutdown, requests get this long to finish, then they are cancelled.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def _serve_http(container: Container, settings: Settings) -> int:
    import uvicorn

    from entrypoints.http import create_app

    ensure_port_free(settings.host, settings.port)
    config = _uvicorn_config(create_app(container, run_workers=settings.role.runs_workers),
                             settings)  # fmt: skip
    server = uvicorn.Server(config)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        # The slow part (database, migrations) runs before the server, so that its failure
        # is reported in one line; the app's own start-up then finds the resources ready.
        runner.run(start_resources(container))
        log.info("http.listening", host=settings.host, port=settings.port, role=settings.role.value)
        runner.run(server.serve())
    return 0 if server.started else 1


def _serve_sandbox(settings: Settings) -> int:
    """The server, its workers and the simulator standing in for Meta, in this one process."""
    if settings.role is not Role.ALL:
        raise StartupError(
            "sandbox mode runs everything in one process: use --role all, or set "
            "WAZYBOT_SANDBOX=0 to serve the businesses you configured"
        )
    if settings.database_url and settings.secret_key is None:
        raise StartupError(
            "sandbox mode stores the demo business's access token encrypted: with DATABASE_URL,"
            " set WAZYBOT_SECRET_KEY too (see .env.example)"
        )
    from entrypoints.sandbox import Sandbox

    ensure_port_free(settings.host, settings.port)
    sandbox = Sandbox(settings)
    loop_factory = _uvicorn_config(None, settings).get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_run_sandbox(sandbox, settings))


async def _run_sandbox(sandbox: Sandbox, settings: Settings) -> int:
    import uvicorn

    from entrypoints.http import create_app

    async with sandbox.simulator_running() as graph_url:
        container = Container(settings=sandbox.settings_for(graph_url))
        server = uvicorn.Server(
            _uvicorn_config(create_app(container, run_workers=True, sandbox=sandbox), settings)
        )
        await start_resources(container)
        refusal = await sandbox.refusal(container)
        if refusal is not None:
            await resolve(container.shutdown_resources())
            raise StartupError(refusal)
        log.info("http.listening", host=settings.host, port=settings.port, mode="sandbox")
        await server.serve()
    return 0 if server.started else 1


async def _serve_workers_only(container: Container) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await start_resources(container)
    await prepare_database(container)
    subscribers = await start_workers(container)
    log.info("workers.started", subscribers=subscribers)
    try:
        await stop.wait()
    finally:
        await stop_workers(container)
        await resolve(container.shutdown_resources())
        log.info("workers.stopped")


if __name__ == "__main__":
    sys.exit(main())
