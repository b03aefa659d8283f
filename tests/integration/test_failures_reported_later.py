"""Failures Meta reports by webhook after it accepted a message, and Meta's details of a
failure, over real HTTP (the server with its workers, the Cloud API simulator) and real
PostgreSQL: the outbox, the timeline and the errors tell the same story, a retry sends the
message again, and its earlier errors are resolved once Meta accepts it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from adapters.postgres.outbox import OutboxSubscriber
from adapters.postgres.projection_admin import PostgresProjectionAdmin
from domain.conversation import MessageStatusUpdated
from domain.inbound import DeliveryStatus, WhatsAppError
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world

ANA = "15550003001"
BO = "15550003002"


async def _set_window(world: SendingWorld, customer: str, *, open_: bool) -> None:
    async with httpx.AsyncClient(base_url=str(world.sim.base_url)) as control:
        answer = await control.put("/_simulator/window", json={"customer": customer,
                                                                "open": open_})  # fmt: skip
    assert answer.status_code == 200, answer.text


async def _outbox(world: SendingWorld, status: str) -> list[dict[str, Any]]:
    answer = await world.http.get("/api/v1/outbox", params={"status": status})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _errors_of(world: SendingWorld, message_id: str) -> list[dict[str, Any]]:
    items = (await world.http.get("/api/v1/errors")).json()["items"]
    return [e for e in items if e["message_id"] == message_id]


async def _failed_in_outbox(world: SendingWorld, message_id: str) -> dict[str, Any] | None:
    return next((i for i in await _outbox(world, "failed") if i["message_id"] == message_id), None)


async def test_a_failure_reported_after_acceptance_is_retried_and_its_error_resolved(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        await _set_window(world, ANA, open_=False)  # Meta's side: 131047 after accepting
        message_id = (await world.send(chat, {"text": "late answer"})).json()["message_id"]
        failed_row = await world.row(chat, message_id, "failed")
        listed = await world.eventually(lambda: _failed_in_outbox(world, message_id))
        [error] = await world.eventually(lambda: _errors_of(world, message_id))

        await _set_window(world, ANA, open_=True)
        retried = await world.http.post(f"/api/v1/outbox/{message_id}/retry")
        read_row = await world.row(chat, message_id, "read")

        async def resolved() -> list[dict[str, Any]] | None:
            errors = await _errors_of(world, message_id)
            return errors if errors and all(e["resolved_at"] for e in errors) else None

        [resolved_error] = await world.eventually(resolved)
        still_failed = await _outbox(world, "failed")
        timeline = await world.timeline(chat)
        errors = (await world.http.get("/api/v1/errors")).json()["items"]
        admin = PostgresProjectionAdmin(database_url, await resolve(world.container.event_store()))
        for projection in ("errors", "messages"):
            await admin.rebuild(projection)
        rebuilt_timeline = await world.timeline(chat)
        rebuilt_errors = (await world.http.get("/api/v1/errors")).json()["items"]

    old_wamid = failed_row["wamid"]
    assert (failed_row["error_code"], failed_row["attempts"]) == (131047, 1)
    assert "24-hour" in failed_row["error_reason"]
    assert (listed["status"], listed["wamid"], listed["attempts"]) == ("failed", old_wamid, 1)
    assert listed["last_error"] == failed_row["error_reason"]
    assert (error["kind"], error["code"], error["wamid"]) == ("send_failed", 131047, old_wamid)
    assert error["detail"] == failed_row["error_reason"]
    assert error["title"] == "Re-engagement message"  # Meta's own title
    assert error["resolved_at"] is None
    assert retried.status_code == 202, retried.text
    assert read_row["wamid"] != old_wamid
    assert (read_row["attempts"], read_row["error_code"], read_row["error_reason"]) == (
        2, None, None
    )  # fmt: skip
    assert resolved_error["wamid"] == old_wamid
    resolved_at = datetime.fromisoformat(resolved_error["resolved_at"])
    assert resolved_at >= datetime.fromisoformat(error["occurred_at"])
    assert [i for i in still_failed if i["message_id"] == message_id] == []
    assert [r["id"] for r in timeline if r["direction"] == "outbound"] == [message_id]
    assert (rebuilt_timeline, rebuilt_errors) == (timeline, errors)


async def test_the_errors_of_a_failed_send_are_resolved_when_a_retry_is_accepted(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", BO)
        chat = await world.conversation_of(BO)
        world.sim.fail(131026, recipient=BO, count=1)  # permanent: fails at send time
        message_id = (await world.send(chat, {"text": "Your parcel"})).json()["message_id"]
        [open_error] = await world.eventually(lambda: _errors_of(world, message_id))
        assert (await world.http.post(f"/api/v1/outbox/{message_id}/retry")).status_code == 202
        await world.row(chat, message_id, "read")

        async def resolved() -> dict[str, Any] | None:
            [error] = await _errors_of(world, message_id)
            return error if error["resolved_at"] else None

        closed = await world.eventually(resolved)

    assert open_error["resolved_at"] is None
    assert (closed["kind"], closed["code"]) == ("send_failed", 131026)


async def test_a_late_status_or_a_replay_of_the_old_wamid_never_moves_the_row_back(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        await _set_window(world, ANA, open_=False)
        message_id = (await world.send(chat, {"text": "late answer"})).json()["message_id"]
        old_wamid = (await world.row(chat, message_id, "failed"))["wamid"]
        await world.eventually(lambda: _failed_in_outbox(world, message_id))
        await _set_window(world, ANA, open_=True)
        assert (await world.http.post(f"/api/v1/outbox/{message_id}/retry")).status_code == 202
        new_wamid = (await world.row(chat, message_id, "read"))["wamid"]

        # The outbox subscriber sees the message's events again (a crash before its
        # checkpoint), then a failed status of the old wamid Meta sends late.
        pool = await resolve(world.container.pool())
        store = await resolve(world.container.event_store())
        stream = await pool.fetchval(
            "select conversation_stream from outbox where message_id = $1::uuid", message_id
        )
        events = await store.read_stream(stream)
        late = dataclasses.replace(events[-1], event=_late_failure(old_wamid, events))
        async with pool.acquire() as connection, connection.transaction():
            await OutboxSubscriber().handle(connection, [*events, late])
        row = await pool.fetchrow(
            "select status, wamid, attempts from outbox where message_id = $1::uuid", message_id
        )

    assert dict(row) == {"status": "accepted", "wamid": new_wamid, "attempts": 2}


def _late_failure(wamid: str, events: list[Any]) -> MessageStatusUpdated:
    statuses = [e.event for e in events if isinstance(e.event, MessageStatusUpdated)]
    template = statuses[0]
    status = DeliveryStatus(
        phone_number_id=template.status.phone_number_id, recipient_id=template.status.recipient_id,
        wamid=wamid, status="failed", at=datetime.now(UTC),
        errors=(WhatsAppError(code=131026, title="Message undeliverable"),),
    )  # fmt: skip
    return msgspec.structs.replace(template, status=status)


async def test_a_failure_recorded_before_its_acceptance_still_fails_the_outbox_row(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", BO)
        chat = await world.conversation_of(BO)
        await _set_window(world, BO, open_=False)
        # Meta takes the message and reports it failed before its answer reaches us.
        world.sim.hold(recipient=BO, count=1, seconds=1.0, accept=True)
        message_id = (await world.send(chat, {"text": "slow answer"})).json()["message_id"]
        row = await world.row(chat, message_id, "failed")
        listed = await world.eventually(lambda: _failed_in_outbox(world, message_id))
        [error] = await world.eventually(lambda: _errors_of(world, message_id))
        timeline = await world.timeline(chat)

    assert (listed["wamid"], listed["last_error"]) == (row["wamid"], row["error_reason"])
    assert (error["wamid"], error["detail"]) == (row["wamid"], row["error_reason"])
    assert [r["id"] for r in timeline if r["direction"] == "outbound"] == [message_id]


async def test_metas_details_of_a_failure_show_on_the_timeline_outbox_and_errors(
    database_url: str,
) -> None:
    details = "image.id: unknown media id '999999' for 15550003001 (EAAGsecrettoken0123456789)"
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        world.sim.fail(131009, recipient=ANA, count=1, details=details)
        body = {"media": {"kind": "image", "link": "https://shop.example/label.png"}}
        message_id = (await world.send(chat, body)).json()["message_id"]
        row = await world.row(chat, message_id, "failed")
        listed = await world.eventually(lambda: _failed_in_outbox(world, message_id))
        [error] = await world.eventually(lambda: _errors_of(world, message_id))

    shown = {row["error_details"], listed["error_details"], error["error_details"]}
    [text] = shown
    assert text.startswith("image.id: unknown media id '999999' for ")
    assert "15550003001" not in text
    assert "3001" in text
    assert "EAAG" not in text
    assert row["error_reason"]
    assert row["error_reason"] == listed["last_error"]
