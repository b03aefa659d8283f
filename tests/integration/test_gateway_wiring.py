"""The composition root gives one Graph gateway per process, on the configured URL and version."""

from __future__ import annotations

import httpx

from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.gateway import AccessToken, Sender
from domain.outbound import Recipient, TextMessage
from entrypoints.container import Container, resolve, with_container
from entrypoints.settings import load_settings


async def test_the_container_sends_through_the_configured_graph_api(database_url: str) -> None:
    sender = Sender(phone_number_id="1065", access_token=AccessToken("EAAG-wiring"))
    simulator = CloudApiSimulator(access_tokens=[], app_secret="wiring-secret")
    simulator.bind_token(sender.phone_number_id, sender.access_token.value)

    async def send(container: Container) -> tuple[str, httpx.AsyncClient]:
        gateway = await resolve(container.whatsapp_gateway())
        assert gateway is await resolve(container.whatsapp_gateway())
        accepted = await gateway.send(
            sender, Recipient(phone_number="15550001"), TextMessage(body="hi")
        )
        return accepted.wamid, await resolve(container.graph_client())

    async with running(simulator) as sim:
        assert sim.base_url is not None
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "WHATSAPP_GRAPH_URL": sim.base_url,
                "WHATSAPP_API_VERSION": "v25.0",
            }
        )
        wamid, client = await with_container(settings, send)

    assert wamid.startswith("wamid.")
    assert [(r.path, r.wamid) for r in sim.requests] == [("/v25.0/1065/messages", wamid)]
    assert client.is_closed  # closed with the container's resources
