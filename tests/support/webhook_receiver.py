"""A local webhook endpoint for tests: records what it receives and checks signatures."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.whatsapp.signature import signature_is_valid
from tests.support.asgi import serving_asgi


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
    async with serving_asgi(receiver) as port:
        receiver.url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        yield receiver
