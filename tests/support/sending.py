"""The whole server (API, webhook, workers) in this process over real HTTP, beside the Cloud
API simulator: what the sending tests drive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from dependency_injector import providers

from adapters.whatsapp.simulator import Business, CloudApiSimulator, inbound, running
from application.gateway import AccessToken
from application.ports import Assistant
from application.templates import TemplateService, WabaAccess
from entrypoints.container import Container, resolve
from entrypoints.http import create_app
from entrypoints.settings import load_settings
from tests.support.asgi import serving_asgi
from tests.support.webhooks import ACCOUNT_ID, APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN

API_TOKEN = "sending-api-token-0123456789abcdef"
ACCESS_TOKEN = "EAAG-sending-access-token"
WEBHOOK_PATH = "/webhooks/whatsapp"


@asynccontextmanager
async def serving(container: Container) -> AsyncIterator[str]:
    """The server with its workers on a free port; its base URL."""
    app = create_app(container, run_workers=True)
    async with serving_asgi(app, lifespan="on") as port:
        yield f"http://127.0.0.1:{port}"


def server_settings(database_url: str, graph_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "WAZYBOT_ENV": "production",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_BUSINESS_ACCOUNT_ID": ACCOUNT_ID,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_GRAPH_URL": graph_url,
        "WAZYBOT_API_TOKEN": API_TOKEN,
        "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.05",
        "WAZYBOT_AUTO_REPLIES": "false",  # the assistant's tests turn them on
        **extra,
    }


@dataclass
class SendingWorld:
    http: httpx.AsyncClient
    sim: CloudApiSimulator
    container: Container

    async def sync_templates(self) -> None:
        """What `wazybot templates sync` does, then wait until the API lists them all."""
        service = TemplateService(await resolve(self.container.template_gateway()),
                                  await resolve(self.container.template_book()),
                                  await resolve(self.container.event_store()))  # fmt: skip
        await service.sync("default", WabaAccess(ACCOUNT_ID, AccessToken(ACCESS_TOKEN)))
        expected = len(self.sim.state.templates)

        async def listed() -> bool:
            answer = await self.http.get("/api/v1/templates", params={"limit": 200})
            return len(answer.json()["items"]) >= expected

        await self.eventually(listed)

    async def customer_writes(self, text: str, phone: str, **options: Any) -> str:
        """A customer's message through the signed webhook; its wamid."""
        wamid, delivery = await self.sim.customer_sends(inbound.text(text, **options), phone=phone)
        assert delivery.ok, delivery.error
        return wamid

    async def eventually(self, probe: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
        """The probe's first truthy answer (the workers and projections follow the log)."""
        deadline = time.monotonic() + timeout
        while True:
            found = await probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {timeout} s: {probe}")
            await asyncio.sleep(0.05)

    async def conversation_of(self, name_or_phone: str) -> str:
        async def listed() -> str | None:
            items = (await self.http.get("/api/v1/conversations")).json()["items"]
            ids = [i["id"] for i in items if i["customer_phone"] == name_or_phone]
            return ids[0] if ids else None

        found: str = await self.eventually(listed)
        return found

    async def timeline(self, conversation_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/api/v1/conversations/{conversation_id}/messages")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    async def row(
        self, conversation_id: str, message_id: str, status: str | None = None
    ) -> dict[str, Any]:
        """The message's timeline row once it exists (with ``status`` when given)."""

        async def found() -> dict[str, Any] | None:
            rows = [r for r in await self.timeline(conversation_id) if r["id"] == message_id]
            if rows and (status is None or rows[0]["status"] == status):
                return rows[0]
            return None

        row: dict[str, Any] = await self.eventually(found)
        return row

    async def send(
        self, conversation_id: str, body: dict[str, Any], **headers: str
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=headers
        )


@asynccontextmanager
async def sending_world(
    database_url: str,
    assistant: Assistant | None = None,
    prepare: Callable[[Container], None] | None = None,
    **extra: str,
) -> AsyncIterator[SendingWorld]:
    """The app with its workers; ``assistant`` replaces the configured one when given, and
    ``prepare`` may override other providers before the app starts."""
    simulator = CloudApiSimulator(
        access_tokens=[ACCESS_TOKEN], app_secret=APP_SECRET,
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID),
    )  # fmt: skip
    async with running(simulator) as sim:
        assert sim.base_url is not None
        container = Container(
            settings=load_settings(server_settings(database_url, sim.base_url, **extra))
        )
        if assistant is not None:
            container.assistant.override(providers.Object(assistant))
        if prepare is not None:
            prepare(container)
        async with serving(container) as base_url:
            sim.webhooks.url = base_url + WEBHOOK_PATH
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
                yield SendingWorld(http, sim, container)
