"""The dashboard's Orders, Errors and Phone pages and its live updates, over real HTTP against
the real app (sandbox mode in this process: the simulator stands in for Meta) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from dependency_injector import providers

from application.outbox import OutboxSender, SenderSettings
from domain.outbox import RetryPolicy
from entrypoints.container import Container, resolve
from entrypoints.http import create_app
from entrypoints.sandbox import SANDBOX_BUSINESS_ID, Sandbox
from entrypoints.settings import load_settings
from entrypoints.startup import start_resources
from tests.e2e.server import free_port
from tests.support.asgi import serving_asgi
from tests.support.sandbox_server import SECRET_KEY, SandboxServer, sandbox_server

ENV_TOKEN = "default-business-dashboard-token-0123"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Browser:
    """A signed-in dashboard visitor: its cookies, its CSRF token, its API token."""

    http: httpx.AsyncClient
    api_token: str
    csrf: str = ""

    async def page(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        return await self.http.post(path, data={"csrf_token": self.csrf, **fields})

    async def api(self, path: str) -> Any:
        answer = await self.http.get(
            "/api/v1" + path, headers={"Authorization": f"Bearer {self.api_token}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@contextlib.asynccontextmanager
async def browser(base_url: str, token: str) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        form = await http.get("/sign-in")
        pre_session = _CSRF.findall(form.text)[0]
        signed = await http.post("/sign-in", data={"token": token, "csrf_token": pre_session})
        assert signed.status_code == 303, signed.text
        home = await http.get("/orders")
        assert home.status_code == 200, home.text
        yield Browser(http, token, _CSRF.findall(home.text)[0])


@dataclass
class LiveStream:
    """``GET /live`` read in the background: each event's name, and what ``on_event`` saw
    right when it arrived."""

    events: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    status_code: int = 0
    content_type: str = ""


@contextlib.asynccontextmanager
async def live(
    visitor: Browser, on_event: Callable[[str], Awaitable[None]] | None = None
) -> AsyncIterator[LiveStream]:
    stream = LiveStream()

    async def read() -> None:
        async with visitor.http.stream("GET", "/live", timeout=None) as answer:
            stream.status_code = answer.status_code
            stream.content_type = answer.headers.get("content-type", "")
            async for line in answer.aiter_lines():
                if line.startswith(":"):
                    stream.comments.append(line[1:].strip())
                    stream.opened.set()
                elif line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                    stream.events.append(name)
                    if on_event is not None:
                        await on_event(name)
        stream.ended.set()

    task = asyncio.create_task(read())
    try:
        async with asyncio.timeout(10):
            await stream.opened.wait()
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    await SandboxServer("", None, None).eventually(check, what)  # type: ignore[arg-type]


async def product_on_the_phone(shop: Browser) -> str:
    """The id of a product the Phone page offers (once the catalog's read model has it)."""
    found: list[str] = []

    async def offered() -> bool:
        found[:] = re.findall(r'name="qty_([^"]+)"', (await shop.page("/phone")).text)
        return bool(found)

    await eventually(offered, "the demo catalog on the Phone page")
    return found[0]


def text_of(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


async def test_the_phone_writes_orders_and_every_change_is_pushed_once_readable(
    database_url: str,
) -> None:
    async with sandbox_server(database_url, WAZYBOT_API_TOKEN=ENV_TOKEN) as server:
        tokens: Any = await resolve(server.container.api_tokens())
        issued = await tokens.create(SANDBOX_BUSINESS_ID, "Shop agent")
        async with (
            browser(server.base_url, issued.token) as shop,
            browser(server.base_url, ENV_TOKEN) as other,
        ):
            seen_inbound: list[bool] = []
            reply_status: list[str | None] = []
            orders_on_event: list[str] = []

            async def on_event(name: str) -> None:
                # Re-fetch right when the event arrives, as a page does: the change is there.
                if name.startswith("conversation:"):
                    timeline = await shop.api(f"/conversations/{name[13:]}/messages")
                    items = timeline["items"]
                    seen_inbound.append(any(m["direction"] == "inbound" for m in items))
                    outbound = [m for m in items if m["direction"] == "outbound"]
                    reply_status.append(outbound[-1]["status"] if outbound else None)
                elif name == "orders":
                    orders_on_event.append(text_of(await shop.page("/orders/rows")))

            async with live(shop, on_event) as shop_live, live(other) as other_live:
                assert shop_live.status_code == 200
                assert shop_live.content_type.startswith("text/event-stream")
                phone_page = await shop.page("/phone")
                assert phone_page.status_code == 200
                assert 'href="/phone"' in phone_page.text  # the nav entry, in sandbox mode
                assert "Camille Martin" in phone_page.text
                assert "sse:conversations" in phone_page.text

                sent = await shop.post("/phone/send", text="Bonjour",
                                       phone="33612345678", name="Camille Martin")  # fmt: skip
                assert sent.status_code == 303

                async def replied() -> bool:
                    chat = await shop.page("/phone/chat")
                    return chat.text.count('class="bubble theirs') >= 1

                await eventually(replied, "the business's reply on the phone")
                await eventually(lambda: "read" in reply_status, "the reply's read tick pushed")
                assert seen_inbound[0] is True, shop_live.events  # the first push saw it
                assert "conversations" in shop_live.events
                # The figures' projection follows at its own pace.
                await eventually(lambda: "metrics" in shop_live.events, "the metrics event")

                product_id = await product_on_the_phone(shop)
                ordered = await shop.post("/phone/order", phone="33612345678",
                                          name="Camille Martin",
                                          **{f"qty_{product_id}": "2"})  # fmt: skip
                assert ordered.status_code == 303, ordered.text
                await eventually(lambda: bool(orders_on_event), "the orders event")
                assert "Camille Martin" in orders_on_event[0]
                assert "Pending" in orders_on_event[0]

                # The other business's stream heard none of it (only its opening refresh).
                assert other_live.events == ["refresh"]
                assert shop_live.events[0] == "refresh"

                signed_out = await shop.post("/sign-out")
                assert signed_out.status_code == 303
                async with asyncio.timeout(15):
                    await shop_live.ended.wait()
                assert shop_live.events[-1] == "session-ended"
                assert not other_live.ended.is_set()

            orders = await other.page("/orders")
            assert "No orders here yet." in orders.text  # the other business has none


async def test_the_orders_page_in_french_and_english_with_filter_and_bad_input(
    database_url: str,
) -> None:
    async with sandbox_server(database_url) as server:
        tokens: Any = await resolve(server.container.api_tokens())
        issued = await tokens.create(SANDBOX_BUSINESS_ID, "Shop agent")
        async with browser(server.base_url, issued.token) as shop:
            phone = server.sandbox.phone
            product_id = await product_on_the_phone(shop)
            refused = await shop.post("/phone/order", **{f"qty_{product_id}": "1000"})
            assert refused.status_code == 422
            assert "from 1 to 999" in refused.text
            bad_customer = await shop.page("/phone", phone="12", name="Zoé")
            assert bad_customer.status_code == 400
            assert "6 to 15 digits" in bad_customer.text
            zoe = await shop.post("/phone/send", text="Salut", phone="33699887766", name="Zoé")
            assert zoe.status_code == 303
            assert zoe.headers["location"].startswith("/phone?phone=33699887766")
            ordered = await shop.post("/phone/order", phone="33699887766", name="Zoé",
                                      **{f"qty_{product_id}": "3"})  # fmt: skip
            assert ordered.status_code == 303

            async def listed() -> bool:
                return "Zoé" in text_of(await shop.page("/orders"))

            await eventually(listed, "the order on the Orders page")
            page = text_of(await shop.page("/orders"))
            [order] = (await shop.api("/orders"))["items"]
            assert order["currency"] == "EUR"
            assert f"€{order['total_text']}" in page  # written as English readers write it
            assert "Pending" in page
            assert "3 \N{MULTIPLICATION SIGN}" in page
            assert "Zoé · 33699887766" in page
            assert [m.kind for m in phone.chat(phone.default_customer)] == []

            none = text_of(await shop.page("/orders", status="delivered"))
            assert "No orders here yet." in none
            bad = await shop.page("/orders", status="lost")
            assert bad.status_code == 400
            assert "That status is not one of the list" in text_of(bad)
            stale = await shop.page("/orders", cursor="not-a-cursor")
            assert stale.status_code == 400

            shop.http.cookies.set("lang", "fr")
            french = text_of(await shop.page("/orders"))
            assert "Commandes" in french
            assert "En attente" in french
            assert "Pending" not in french


@contextlib.asynccontextmanager
async def sandbox_with_one_attempt(database_url: str) -> AsyncIterator[SandboxServer]:
    """The sandbox with senders that give up after one failed attempt (a dead letter at once)."""
    port = free_port()
    settings = load_settings({
        "DATABASE_URL": database_url, "WAZYBOT_SANDBOX": "1", "WAZYBOT_PORT": str(port),
        "WAZYBOT_SECRET_KEY": SECRET_KEY, "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.1",
    })  # fmt: skip
    sandbox = Sandbox(settings)
    async with sandbox.simulator_running() as graph_url:
        container = Container(settings=sandbox.settings_for(graph_url))
        container.outbox_sender.override(
            providers.Singleton(
                OutboxSender, container.outbox, container.whatsapp_gateway,
                container.business_registry, SenderSettings(retry=RetryPolicy(max_attempts=1)),
                pacing=container.send_pacing,
            )
        )  # fmt: skip
        await start_resources(container)
        app = create_app(container, run_workers=True, sandbox=sandbox)
        async with serving_asgi(app, lifespan="on", port=port):
            yield SandboxServer(f"http://127.0.0.1:{port}", sandbox, container)


async def test_a_dead_letter_is_listed_with_its_reason_and_the_retry_button_sends_it(
    database_url: str,
) -> None:
    async with sandbox_with_one_attempt(database_url) as server:
        tokens: Any = await resolve(server.container.api_tokens())
        issued = await tokens.create(SANDBOX_BUSINESS_ID, "Shop agent")
        phone = server.sandbox.phone
        # Transient, on the reply itself: its one attempt fails and it is dead-lettered.
        server.sandbox.simulator.fail(131000, recipient=phone.default_customer.phone, count=1)
        async with browser(server.base_url, issued.token) as shop, live(shop) as shop_live:
            await phone.send_text(phone.default_customer, "Bonjour")

            async def dead_letter() -> bool:
                return "Out of attempts" in text_of(await shop.page("/errors"))

            await eventually(dead_letter, "the dead letter on the Errors page")
            await eventually(lambda: "errors" in shop_live.events, "the errors event")
            page = await shop.page("/errors")
            [message_id] = re.findall(r'action="/errors/([^"/]+)/retry"', page.text)
            [error] = [e for e in (await shop.api("/errors"))["items"] if e["message_id"]]
            assert error["kind"] == "dead_letter"
            assert error["detail"] in text_of(page)  # the reason, as the timeline shows it

            forged = await shop.http.post(f"/errors/{message_id}/retry", data={})
            assert forged.status_code == 403
            retried = await shop.post(f"/errors/{message_id}/retry")
            assert retried.status_code == 303
            assert retried.headers["location"] == "/errors?notice=retry_queued"
            after = await shop.http.get(retried.headers["location"])
            assert "The message is queued again" in text_of(after)

            async def delivered() -> bool:
                chat = phone.chat(phone.default_customer)
                return any(m.direction == "to_customer" for m in chat)

            await eventually(delivered, "the retried reply on the customer's phone")
            again = await shop.post(f"/errors/{message_id}/retry")
            assert again.headers["location"] == "/errors?problem=retry_not_failed"
            refused = await shop.http.get(again.headers["location"])
            assert "This message cannot be retried" in text_of(refused)
            unknown = await shop.post("/errors/not-a-message/retry")
            assert unknown.headers["location"] == "/errors?problem=retry_not_found"
            shop.http.cookies.set("lang", "fr")
            french = text_of(await shop.page("/errors"))
            assert "Erreurs" in french
            assert "Tentatives épuisées" in french


async def test_without_sandbox_there_is_no_phone(database_url: str) -> None:
    port = free_port()
    settings = load_settings({
        "DATABASE_URL": database_url, "WAZYBOT_PORT": str(port), "WAZYBOT_SANDBOX": "0",
        "WAZYBOT_API_TOKEN": ENV_TOKEN, "WAZYBOT_SECRET_KEY": SECRET_KEY,
    })  # fmt: skip
    container = Container(settings=settings)
    await start_resources(container)
    app = create_app(container, run_workers=False, live_heartbeat_seconds=0.2)
    pool: Any = await resolve(container.pool())

    async def watchers() -> int:
        return int(await pool.fetchval(
            "select count(*) from pg_stat_activity where application_name = $1",
            "wazybot live updates",
        ))  # fmt: skip

    async with (
        serving_asgi(app, lifespan="on", port=port),
        browser(f"http://127.0.0.1:{port}", ENV_TOKEN) as visitor,
    ):
        async with live(visitor) as one, live(visitor) as two, live(visitor) as three:
            await eventually(lambda: len(three.comments) >= 3, "heartbeats on an idle stream")
            assert await watchers() == 1  # three open pages, one connection
            assert one.events == two.events == three.events == ["refresh"]
            assert "keep-alive" in three.comments

        async def stopped() -> bool:
            return await watchers() == 0

        await eventually(stopped, "the watcher closing when the last page left")
        errors = await visitor.page("/errors")
        assert errors.status_code == 200
        assert "No errors: everything went through." in errors.text
        assert 'href="/phone"' not in errors.text
        assert (await visitor.page("/phone")).status_code == 404
        assert (await visitor.post("/phone/send", text="hi")).status_code == 404
        signed_out = await visitor.http.get("/live", headers={"Cookie": "wazybot_session=nope"})
        assert signed_out.status_code == 303  # no session: to the sign-in page
