"""The sandbox in this process, served over real HTTP: the app, its workers and the Cloud API
simulator it runs instead of Meta, as `wazybot serve` runs them in sandbox mode."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from entrypoints.container import Container
from entrypoints.http import create_app
from entrypoints.sandbox import Sandbox
from entrypoints.settings import load_settings
from entrypoints.startup import start_resources
from tests.e2e.server import free_port
from tests.support.asgi import serving_asgi

SECRET_KEY = base64.b64encode(b"sandbox-test-key-of-32-bytes!!!!").decode()


@dataclass
class SandboxServer:
    base_url: str
    sandbox: Sandbox
    container: Container

    async def eventually(
        self, check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 20
    ) -> None:
        """Wait (bounded) for what the workers do asynchronously."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            outcome = check()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{what}: not seen in {timeout} s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def sandbox_server(database_url: str, **env: str) -> AsyncIterator[SandboxServer]:
    port = free_port()
    settings = load_settings({
        "DATABASE_URL": database_url, "WAZYBOT_SANDBOX": "1", "WAZYBOT_PORT": str(port),
        "WAZYBOT_SECRET_KEY": SECRET_KEY, "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.1", **env,
    })  # fmt: skip
    sandbox = Sandbox(settings)
    async with sandbox.simulator_running() as graph_url:
        container = Container(settings=sandbox.settings_for(graph_url))
        await start_resources(container)
        app = create_app(container, run_workers=True, sandbox=sandbox)
        async with serving_asgi(app, lifespan="on", port=port):
            yield SandboxServer(f"http://127.0.0.1:{port}", sandbox, container)
