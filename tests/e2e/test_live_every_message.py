"""Live updates over real HTTP against the real app and PostgreSQL: a page that opens its stream
and got its first ``refresh`` hears of every later message by name, however often streams come
and go (the last page leaving stops the watcher, the next one starts it again)."""

from __future__ import annotations

import asyncio

from entrypoints.container import resolve
from entrypoints.sandbox import SANDBOX_BUSINESS_ID
from tests.e2e.test_dashboard_ops import ENV_TOKEN, browser
from tests.support.sandbox_server import sandbox_server

TRIES = 25
DEADLINE = 5.0  # seconds for a message's event (a projection batch takes well under one)


async def test_each_new_conversation_is_pushed_to_a_stream_opened_just_before(
    database_url: str,
) -> None:
    async with sandbox_server(database_url, WAZYBOT_API_TOKEN=ENV_TOKEN) as server:
        tokens = await resolve(server.container.api_tokens())
        issued = await tokens.create(SANDBOX_BUSINESS_ID, "Live agent")
        async with browser(server.base_url, issued.token) as shop:
            missed: list[str] = []
            for number in range(TRIES):
                phone = f"3361100{number:04d}"
                async with shop.http.stream("GET", "/live", timeout=None) as answer:
                    lines = answer.aiter_lines()
                    async with asyncio.timeout(10):
                        async for line in lines:  # the stream is live once its refresh came
                            if line == "event: refresh":
                                break
                    sent = await shop.post("/phone/send", text="Bonjour", phone=phone,
                                           name=f"Client {number}")  # fmt: skip
                    assert sent.status_code == 303, sent.text
                    try:
                        async with asyncio.timeout(DEADLINE):
                            async for line in lines:
                                if line.startswith("event: conversation:"):
                                    break
                    except TimeoutError:
                        missed.append(phone)
                if len(missed) == 2:
                    break  # enough to tell, and the test stays short
            assert missed == [], f"no live event within {DEADLINE:g} s for {missed}"
