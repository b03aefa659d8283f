"""The team hears about critical send errors and dead letters: the outbox sender over real
HTTP (the Cloud API simulator), the notices subscriber on the real database, a webhook
receiving the notices."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from dependency_injector import providers

from application.event_log import NewEvent
from application.outbox import OutboxSender, SenderSettings
from domain.conversation import conversation_stream
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued, RetryPolicy, queued_event_id
from entrypoints.container import Container, resolve
from tests.support.app_server import ACCESS_TOKEN, NUMBER, AppServer, app_server
from tests.support.outbound import customer_wrote
from tests.support.webhook_receiver import WebhookReceiver, receiving

CUSTOMERS = [f"1555000{n:04d}" for n in range(12)]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with receiving(b"unused") as notices:
        yield notices


def quick_retries(container: Container) -> None:
    """Two attempts 10 ms apart: a retryable failure becomes a dead letter at once."""
    policy = RetryPolicy(first_delay=timedelta(milliseconds=10), max_attempts=2)
    container.outbox_sender.override(providers.Singleton(
        OutboxSender, container.outbox, container.whatsapp_gateway, container.business_registry,
        SenderSettings(poll_seconds=0.05, retry=policy),
    ))  # fmt: skip


@pytest.fixture
async def app(database_url: str, receiver: WebhookReceiver) -> AsyncIterator[AppServer]:
    async with app_server(database_url, quick_retries,
                          WAZYBOT_NOTIFY_WEBHOOK_URL=receiver.url) as server:  # fmt: skip
        yield server


async def queue(app: AppServer, customer: str) -> str:
    message_id = str(uuid.uuid4())
    stream = conversation_stream(NUMBER, customer)
    queued = OutboundMessageQueued(
        message_id=message_id, business_id="default", conversation_stream=stream,
        phone_number_id=NUMBER, recipient=Recipient(phone_number=customer),
        message=TextMessage(body="hello"), requested_by="system", queued_at=datetime.now(UTC),
    )  # fmt: skip
    store = await resolve(app.container.event_store())
    wrote = customer_wrote(NUMBER, customer, business_id="default")  # the window opens
    await store.append(stream, [wrote, NewEvent(queued, queued_event_id(message_id))])
    return message_id


async def all_finished(app: AppServer, message_ids: list[str], status: str) -> None:
    async def finished() -> bool:
        count = await app.pool.fetchval(
            "select count(*) from outbox where message_id = any($1::uuid[]) and status = $2",
            message_ids, status,
        )  # fmt: skip
        return bool(count == len(message_ids))

    await app.eventually(finished, f"{len(message_ids)} messages {status}")


async def notices_caught_up(app: AppServer) -> None:
    """The notices subscriber has seen every event recorded so far."""
    head = await app.pool.fetchval("select max(global_position) from events")

    async def caught_up() -> bool:
        position = await app.pool.fetchval(
            "select position from subscriber_checkpoints where name = 'team-notices'"
        )
        return position is not None and position >= head

    await app.eventually(caught_up, "the notices subscriber")


async def test_an_expired_token_is_one_notice_until_a_send_is_accepted_again(
    app: AppServer, receiver: WebhookReceiver
) -> None:
    app.sim.access_tokens.discard(ACCESS_TOKEN)  # Meta now answers 190 to every call
    first_wave = [await queue(app, customer) for customer in CUSTOMERS[:8]]
    await all_finished(app, first_wave, "failed")
    await notices_caught_up(app)
    (notice,) = [r.body for r in await receiver.wait_for(1)]

    assert notice["event"] == "send.critical_error"
    assert notice["business_id"] == "default"
    assert notice["text"].startswith("WhatsApp sending is failing for business default")
    assert "(Meta error 190)" in notice["text"]
    assert notice["details"]["code"] == 190
    assert notice["details"]["message_id"] in first_wave
    assert notice["conversation_id"]
    assert ACCESS_TOKEN not in str(notice)
    assert not any(customer in str(notice) for customer in CUSTOMERS)

    # The token is renewed: a send is accepted and the incident ends; when the token
    # expires again, that is a new incident, told once again.
    app.sim.access_tokens.add(ACCESS_TOKEN)
    await all_finished(app, [await queue(app, CUSTOMERS[8])], "accepted")
    app.sim.access_tokens.discard(ACCESS_TOKEN)
    second_wave = [await queue(app, customer) for customer in CUSTOMERS[9:]]
    await all_finished(app, second_wave, "failed")
    await notices_caught_up(app)

    bodies = [r.body for r in await receiver.wait_for(2)]
    assert len(bodies) == 2
    assert bodies[1]["details"]["message_id"] in second_wave
    assert await app.pool.fetchval("select count(*) from team_notices") == 2


async def test_a_dead_letter_is_a_notice(app: AppServer, receiver: WebhookReceiver) -> None:
    app.sim.fail(131000)  # Meta fails every send, a retryable error
    message_id = await queue(app, CUSTOMERS[0])
    await all_finished(app, [message_id], "failed")
    await notices_caught_up(app)

    (notice,) = [r.body for r in await receiver.wait_for(1)]
    assert notice["event"] == "send.dead_letter"
    assert notice["business_id"] == "default"
    assert notice["details"]["message_id"] == message_id
    assert notice["details"]["attempts"] == 2
    assert "will not be sent" in notice["text"]
