"""The whole application in this process, served over real HTTP, with the Cloud API simulator
standing in for Meta on both sides (the Graph API it calls, the webhook it receives)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.businesses import Business
from entrypoints.container import Container, resolve
from entrypoints.http import create_app
from entrypoints.settings import load_settings
from tests.e2e.server import free_port
from tests.support.asgi import serving_asgi

APP_SECRET = "in-process-app-secret"
NUMBER = "106540352242922"
ACCESS_TOKEN = "EAAG-default-business"
API_TOKEN = "default-business-token-0123456789"
GLOBEX_NUMBER = "2233445566778"
GLOBEX_ACCESS_TOKEN = "EAAG-globex"
SECRET_KEY = base64.b64encode(b"in-process-test-key-of-32-bytes!").decode()


@dataclass
class AppServer:
    base_url: str
    sim: CloudApiSimulator
    container: Container
    pool: asyncpg.Pool[Any]
    globex_api_token: str

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20
    ) -> None:
        """Wait (bounded) for what the workers do asynchronously."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{what}: not seen in {timeout} s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def app_server(
    database_url: str, configure: Callable[[Container], None] | None = None, **env: str
) -> AsyncIterator[AppServer]:
    """The default business (NUMBER, ACCESS_TOKEN, API_TOKEN) and Globex, with its own number,
    access token and API token; workers running; extra settings from ``env``; ``configure``
    may override providers before anything starts."""
    simulator = CloudApiSimulator(access_tokens=[], app_secret=APP_SECRET)
    simulator.bind_token(NUMBER, ACCESS_TOKEN)
    simulator.bind_token(GLOBEX_NUMBER, GLOBEX_ACCESS_TOKEN)
    async with running(simulator) as sim:
        assert sim.base_url is not None
        port = free_port()
        sim.webhooks.url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        settings = load_settings({
            "DATABASE_URL": database_url, "WAZYBOT_ENV": "production",
            "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": "verify",
            "WHATSAPP_PHONE_NUMBER_ID": NUMBER, "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "WHATSAPP_GRAPH_URL": sim.base_url, "WAZYBOT_API_TOKEN": API_TOKEN,
            "WAZYBOT_SECRET_KEY": SECRET_KEY,
            "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.1", "WAZYBOT_AUTO_REPLIES": "false", **env,
        })  # fmt: skip
        container = Container(settings=settings)
        if configure is not None:
            configure(container)
        app = create_app(container, run_workers=True)
        async with serving_asgi(app, lifespan="on", port=port):
            registry = await resolve(container.business_registry())
            await registry.add(Business(id="globex", name="Globex",
                                        phone_number_ids=(GLOBEX_NUMBER,),
                                        access_token=GLOBEX_ACCESS_TOKEN,
                                        has_access_token=True))  # fmt: skip
            issued = await (await resolve(container.api_tokens())).create("globex", "tests")
            yield AppServer(f"http://127.0.0.1:{port}", sim, container,
                            await resolve(container.pool()), issued.token)  # fmt: skip
