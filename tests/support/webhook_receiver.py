"""A local webhook endpoint for tests: records what it receives and checks signatures."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from adapters.whatsapp.signature import signature_is_valid


@dataclass
class Received:
    body: dict[str, Any]
    signed: bool


@dataclass
class WebhookReceiver:
    app_secret: bytes
    fail_first: int = 0  # answer 500 to this many posts first
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    url: str = ""
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        self.attempts += 1
        status = 500 if self.attempts <= self.fail_first else 200
        if status == 200:
            header = headers.get(b"x-hub-signature-256", b"").decode() or None
            async with self._arrived:
                self.received.append(
                    Received(json.loads(body), signature_is_valid(self.app_secret, body, header))
                )
                self._arrived.notify_all()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.received) >= count), timeout
            )
        return list(self.received)

    def statuses(self) -> list[dict[str, Any]]:
        found = []
        for item in self.received:
            for entry in item.body["entry"]:
                for change in entry["changes"]:
                    found.extend(change["value"].get("statuses", []))
        return found


@contextlib.asynccontextmanager
async def receiving(app_secret: bytes, fail_first: int = 0) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(app_secret, fail_first)
    # uvicorn binds the port itself (port 0: a free one) so that answers are not delayed.
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
