"""Messages we queue on the timeline and among the errors, against real PostgreSQL: rows from
the queuing on, statuses recorded before the acceptance folded in, the same rows however the
log is batched or replayed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from application.event_log import NewEvent
from domain.conversation import conversation_stream
from domain.events import DomainEvent
from domain.outbound import Recipient, TextMessage
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundMessageQueued,
    OutboundRetryRequested,
    OutboundSendFailed,
    accepted_event_id,
    dead_lettered_event_id,
    failed_event_id,
    queued_event_id,
    retry_requested_event_id,
)
from domain.whatsapp_errors import ErrorClass
from tests.support.read_model_tables import read_models, replayed_read_models
from tests.support.read_models import FAST, Projected, projected
from tests.support.webhooks import PHONE_NUMBER_ID, messages_change, status, text_message, webhook

T0 = 1_700_000_000
ANA = "15550001111"
CHAT = conversation_stream(PHONE_NUMBER_ID, ANA)
ANSWER = "0b0e9c7e-0000-4000-8000-000000000001"
DEAD = "0b0e9c7e-0000-4000-8000-000000000002"
REFUSED = "0b0e9c7e-0000-4000-8000-000000000003"
WAMID = "wamid.answer-1"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def queued(message_id: str, body: str, seconds: int, reply_to: str | None = None) -> NewEvent:
    event = OutboundMessageQueued(
        message_id=message_id, business_id="acme", conversation_stream=CHAT,
        phone_number_id=PHONE_NUMBER_ID, recipient=Recipient(phone_number=ANA),
        message=TextMessage(body=body, reply_to=reply_to), requested_by="ai",
        queued_at=at(seconds),
    )  # fmt: skip
    return NewEvent(event, queued_event_id(message_id))


def failure(message_id: str, attempt: int, *, retry_at: int | None, permanent: bool) -> NewEvent:
    event = OutboundSendFailed(
        message_id=message_id, attempt=attempt, code=131026 if permanent else 131000,
        title="Message undeliverable" if permanent else "Something went wrong",
        reason="cannot be delivered to this number" if permanent else "Meta had a problem",
        error_class=ErrorClass.PERMANENT if permanent else ErrorClass.TRANSIENT,
        retryable=not permanent, next_attempt_at=at(retry_at) if retry_at else None,
        at=at(T0 + 20 + attempt),
    )  # fmt: skip
    return NewEvent(event, failed_event_id(message_id, attempt))


async def append(app: Projected, *events: NewEvent) -> None:
    for new in events:
        await app.store.append(CHAT, [new])


def outcome(event: DomainEvent, event_id: Any) -> NewEvent:
    return NewEvent(event, event_id)


async def run_traffic(app: Projected) -> None:
    await app.deliver(webhook(messages_change([text_message("hi", customer=ANA, sent_at=T0)])))
    await app.caught_up()
    [row] = await app.rows("select wamid from messages")
    question = row["wamid"]
    await append(app, queued(ANSWER, "Hello Ana", T0 + 5, reply_to=question))
    # Meta's statuses are recorded before the sender records the acceptance.
    await app.deliver(webhook(messages_change(statuses=[status(WAMID, "sent", recipient=ANA,
                                                               at=T0 + 7)])))  # fmt: skip
    accepted = OutboundMessageAccepted(message_id=ANSWER, wamid=WAMID, attempt=1, at=at(T0 + 6))
    await append(app, outcome(accepted, accepted_event_id(ANSWER)))
    await app.deliver(webhook(messages_change(statuses=[status(WAMID, "read", recipient=ANA,
                                                               at=T0 + 9)])))  # fmt: skip
    dead = OutboundMessageDeadLettered(message_id=DEAD, attempts=2, reason="Meta had a problem",
                                       at=at(T0 + 22))  # fmt: skip
    retry = OutboundRetryRequested(message_id=REFUSED, after_attempt=1, requested_by="agent",
                                   at=at(T0 + 40))  # fmt: skip
    await append(
        app,
        queued(DEAD, "Your invoice", T0 + 10),
        failure(DEAD, 1, retry_at=T0 + 30, permanent=False),
        failure(DEAD, 2, retry_at=None, permanent=False),
        outcome(dead, dead_lettered_event_id(DEAD)),
        queued(REFUSED, "Your label", T0 + 11),
        failure(REFUSED, 1, retry_at=None, permanent=True),
    )
    await app.caught_up()
    failed_rows = await app.rows("select * from messages where public_id = $1", REFUSED)
    assert failed_rows[0]["status"] == "failed"
    await append(app, outcome(retry, retry_requested_event_id(REFUSED, 1)))
    await app.caught_up()


async def test_our_messages_keep_their_id_and_fold_in_statuses_that_came_first(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    async with projected(pool, database_url, settings=replace(FAST, batch_size=1)) as app:
        await run_traffic(app)
        messages = {r["public_id"]: r for r in await app.rows("select * from messages")}
        errors = await app.rows("select * from errors order by kind")
    one_by_one = await read_models(pool)
    replayed = await replayed_read_models(pool, database_url, batch_size=500)

    assert one_by_one == replayed
    assert [r["type"] for r in messages.values()].count("unknown") == 0
    assert len(messages) == 4  # the question and our three messages
    answer = messages[ANSWER]
    assert (answer["wamid"], answer["status"], answer["sender"], answer["type"]) == (
        WAMID, "read", "ai", "text"
    )  # fmt: skip
    assert answer["sent_at"] == at(T0 + 5)  # when it was queued
    question = next(r for r in messages.values() if r["direction"] == "inbound")
    assert answer["reply_to_wamid"] == question["wamid"]
    dead = messages[DEAD]
    assert (dead["status"], dead["attempts"], dead["error_code"], dead["wamid"]) == (
        "failed", 2, 131000, None
    )  # fmt: skip
    assert dead["error_reason"] == "Meta had a problem"
    retried = messages[REFUSED]
    assert (retried["status"], retried["attempts"], retried["error_code"]) == ("queued", 1, None)
    assert [(e["kind"], str(e["message_id"]), e["code"]) for e in errors] == [
        ("dead_letter", DEAD, 131000),
        ("send_failed", REFUSED, 131026),
    ]
    assert all(e["conversation_id"] == CHAT and e["business_id"] == "acme" for e in errors)
