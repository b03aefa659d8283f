"""Notices as JSON POSTs: {"text", "event", "business_id", "conversation_id", "details"}.

The ``text`` field makes the body a valid Slack incoming-webhook message. The URL often
is the secret (Slack's are), so errors name only its host.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec

from application.notices import Notice, NotificationError

TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)


class WebhookNotifier:
    channel: Final = "webhook"

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._host = urlsplit(url).hostname or "?"
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)

    async def send(self, notice: Notice) -> None:
        body = msgspec.json.encode(notice)
        try:
            response = await self._client.post(
                self._url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise NotificationError(
                f"notification webhook at {self._host} not reached ({type(error).__name__})"
            ) from None
        if not response.is_success:
            raise NotificationError(
                f"notification webhook at {self._host} answered {response.status_code}"
            )

    async def close(self) -> None:
        await self._client.aclose()
