"""The composition root gives one Graph gateway per process, on the configured URL and version."""

from __future__ import annotations

import httpx

from application.gateway import AccessToken, Sender
from domain.outbound import Recipient, TextMessage
from entrypoints.container import Container, resolve, with_container
from entrypoints.settings import load_settings
from tests.support.graph_server import GraphServer


async def test_the_container_sends_through_the_configured_graph_api(database_url: str) -> None:
    server = await GraphServer().start()
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "WHATSAPP_GRAPH_URL": server.url,
            "WHATSAPP_API_VERSION": "v25.0",
        }
    )
    sender = Sender(phone_number_id="1065", access_token=AccessToken("EAAG-wiring"))

    async def send(container: Container) -> tuple[str, httpx.AsyncClient]:
        gateway = await resolve(container.whatsapp_gateway())
        assert gateway is await resolve(container.whatsapp_gateway())
        accepted = await gateway.send(
            sender, Recipient(phone_number="15550001"), TextMessage(body="hi")
        )
        return accepted.wamid, await resolve(container.graph_client())

    try:
        wamid, client = await with_container(settings, send)
    finally:
        await server.stop()

    assert wamid.startswith("wamid.")
    assert [r.path for r in server.requests] == ["/v25.0/1065/messages"]
    assert client.is_closed  # closed with the container's resources
