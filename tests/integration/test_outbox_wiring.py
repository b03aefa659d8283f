"""The composition root runs the outbox: a queued message reaches the Cloud API simulator."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.event_log import NewEvent
from domain.conversation import conversation_stream
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, queued_event_id
from entrypoints.container import (
    Container,
    prepare_database,
    resolve,
    start_workers,
    stop_workers,
    with_container,
)
from entrypoints.settings import load_settings
from tests.support.outbound import customer_wrote

NUMBER = "1065550001"


async def accepted_row(pool: asyncpg.Pool[Any]) -> asyncpg.Record:
    """The outbox row once the workers recorded Meta's acceptance (polled, bounded)."""
    for _ in range(400):
        row = await pool.fetchrow("select status, wamid from outbox")
        if row is not None and row["status"] == "accepted":
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the queued message was not accepted in 20 s")


async def test_the_workers_send_a_queued_message_through_the_graph_api(database_url: str) -> None:
    simulator = CloudApiSimulator(access_tokens=[], app_secret="wiring-secret")
    simulator.bind_token(NUMBER, "EAAG-outbox")
    message_id = str(uuid.uuid4())
    stream = conversation_stream(NUMBER, "15550001")

    async def queue_and_wait(container: Container) -> tuple[str, str]:
        await prepare_database(container)
        started = await start_workers(container)
        try:
            store = await resolve(container.event_store())
            queued = OutboundMessageQueued(
                message_id=message_id, business_id="default", conversation_stream=stream,
                phone_number_id=NUMBER, recipient=Recipient(phone_number="15550001"),
                message=TextMessage(body="hello from the outbox"), requested_by="system",
                queued_at=datetime.now(UTC),
            )  # fmt: skip
            # The customer's message opens the 24-hour window the reply needs.
            wrote = customer_wrote(NUMBER, "15550001")
            await store.append(stream, [wrote, NewEvent(queued, queued_event_id(message_id))])
            row = await accepted_row(await resolve(container.pool()))
            return row["wamid"], ",".join(started)
        finally:
            await stop_workers(container)

    async with running(simulator) as sim:
        assert sim.base_url is not None
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "WHATSAPP_GRAPH_URL": sim.base_url,
                "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
                "WHATSAPP_ACCESS_TOKEN": "EAAG-outbox",
                "WAZYBOT_SUBSCRIBER_POLL_SECONDS": "0.05",
                "WAZYBOT_AUTO_REPLIES": "false",
            }
        )
        wamid, started = await with_container(settings, queue_and_wait)

    assert "outbox" in started.split(",")
    assert [r.wamid for r in sim.requests] == [wamid]
