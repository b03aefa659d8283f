"""Sandbox mode: a person plays a customer on the built-in simulator and the whole product
answers, with no Meta account and no API key."""

from __future__ import annotations

from typing import Any

from application.sandbox_phone import PhoneMessage
from entrypoints.container import resolve
from entrypoints.sandbox import SANDBOX_BUSINESS_ID
from tests.support.sandbox_server import SandboxServer, sandbox_server


def _received(server: SandboxServer) -> list[PhoneMessage]:
    phone = server.sandbox.phone
    return [m for m in phone.chat(phone.default_customer) if m.direction == "to_customer"]


async def _next_reply(server: SandboxServer, seen: int, what: str) -> PhoneMessage:
    await server.eventually(lambda: len(_received(server)) > seen, what)
    return _received(server)[seen]


async def test_the_demo_business_answers_sells_and_confirms_an_order(database_url: str) -> None:
    async with sandbox_server(database_url) as server:
        phone = server.sandbox.phone
        customer = phone.default_customer

        await phone.send_text(customer, "Bonjour")
        greeting = await _next_reply(server, 0, "the assistant's greeting")
        assert greeting.kind == "text"
        assert greeting.text

        await phone.send_text(customer, "vous avez des t-shirts ?")
        listing = await _next_reply(server, 1, "the list of t-shirts")
        assert listing.kind == "list"
        assert any("T-shirt" in row.title for row in listing.choices)

        row = next(r for r in listing.choices if "T-shirt" in r.title)
        await phone.tap(customer, listing.id, row, kind="list")
        product = await _next_reply(server, 2, "the product message")
        assert product.kind == "buttons"
        order_button = product.choices[0]

        await phone.tap(customer, product.id, order_button, kind="button")
        summary = await _next_reply(server, 3, "the order summary")
        confirm = next(c for c in summary.choices if c.id.startswith("confirm_order_"))

        await phone.tap(customer, summary.id, confirm, kind="button")
        queries: Any = await resolve(server.container.order_queries())

        async def confirmed() -> bool:
            page = await queries.orders(SANDBOX_BUSINESS_ID, None, 10, None)
            return [o.status for o in page.items] == ["confirmed"]

        await server.eventually(confirmed, "the confirmed order")


async def test_a_restart_keeps_the_demo_data_and_changes_nothing(database_url: str) -> None:
    async with sandbox_server(database_url) as server:
        first = await _event_count(server)
        assert first > 21  # the demo catalog's products, templates, order settings
    async with sandbox_server(database_url) as server:
        assert await _event_count(server) == first


async def _event_count(server: SandboxServer) -> int:
    pool: Any = await resolve(server.container.pool())
    return int(await pool.fetchval("select count(*) from events"))


async def test_the_connection_status_says_sandbox_and_the_simulator_answers(
    database_url: str,
) -> None:
    async with sandbox_server(database_url) as server:
        service: Any = await resolve(server.container.connection_status())
        status = await service.status(SANDBOX_BUSINESS_ID)
        assert status.mode == "sandbox"
        assert status.connected, status.checks
        assert {c.name: c.state for c in status.checks} == {
            "access_token": "ok",
            "phone_number": "ok",
            "webhook_subscription": "ok",
        }
