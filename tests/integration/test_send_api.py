"""POST /api/v1/conversations/{id}/messages and the outbox API, over real HTTP: the server in
this process with its workers, real PostgreSQL, the Cloud API simulator answering and sending
its signed status webhooks back."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from domain.conversation import conversation_stream
from domain.public_ids import conversation_public_id
from tests.support.sending import sending_world
from tests.support.webhooks import encode, messages_change, signed_headers, text_message, webhook

ANA = "15550002001"
BO = "15550002002"


async def test_each_request_kind_reaches_the_simulator_and_is_read_on_the_timeline(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        world.sim.add_template("order_update", "fr", [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Bonjour {{1}}, votre commande {{2}} est partie."},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Suivre", "url": "https://shop.example/track/{{1}}"}]},
        ])  # fmt: skip
        await world.sync_templates()
        await world.customer_writes("Where is my order?", ANA)
        chat = await world.conversation_of(ANA)
        requests: dict[str, dict[str, Any]] = {
            "text": {"text": "It left this morning: https://shop.example/t/1",
                     "preview_url": True},
            "template": {"template": {
                "name": "order_update", "language": "fr", "body_parameters": ["Ana", "A-17"],
                "header": {"image": {"link": "https://shop.example/parcel.jpg"}},
                "buttons": [{"index": 0, "sub_type": "url", "parameter": "A-17"}]}},
            "interactive": {"buttons": {"body": "Was it helpful?", "header": "Order A-17",
                                        "footer": "Shop", "buttons": [
                                            {"id": "yes", "title": "Yes"},
                                            {"id": "no", "title": "No"}]}},
            "list": {"list": {"body": "Pick a slot", "button": "Slots", "sections": [
                {"title": "Monday", "rows": [{"id": "mon-am", "title": "Morning",
                                              "description": "8 to 12"}]},
                {"title": "Tuesday", "rows": [{"id": "tue-pm", "title": "Afternoon"}]}]}},
            "image": {"media": {"kind": "image", "link": "https://shop.example/label.png",
                                "caption": "Your label"}},
        }  # fmt: skip
        sent: dict[str, str] = {}
        for kind, body in requests.items():
            answer = await world.send(chat, body)
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "queued"
            sent[kind] = answer.json()["message_id"]

        rows = {kind: await world.row(chat, message_id, "read")
                for kind, message_id in sent.items()}  # fmt: skip
        bodies = world.sim.sent_bodies()

    assert [b["type"] for b in bodies] == [
        "text",
        "template",
        "interactive",
        "interactive",
        "image",
    ]  # queue order within the conversation
    assert bodies[0]["text"] == {"body": requests["text"]["text"], "preview_url": True}
    template = bodies[1]["template"]
    assert (template["name"], template["language"]["code"]) == ("order_update", "fr")
    assert {c["type"] for c in template["components"]} == {"header", "body", "button"}
    assert bodies[2]["interactive"]["type"] == "button"
    assert bodies[3]["interactive"]["type"] == "list"
    assert bodies[4]["image"] == {"link": "https://shop.example/label.png",
                                  "caption": "Your label"}  # fmt: skip
    assert {kind: row["type"] for kind, row in rows.items()} == {
        "text": "text", "template": "template", "interactive": "interactive",
        "list": "interactive", "image": "image",
    }  # fmt: skip
    assert rows["template"]["summary"] == "[Template] order_update (fr)"
    assert rows["list"]["summary"] == "[List] Pick a slot"
    assert rows["image"]["summary"] == "[Image] Your label"
    for row in rows.values():
        assert (row["direction"], row["sender"], row["attempts"]) == ("outbound", "agent", 1)
        assert row["wamid"].startswith("wamid.")


async def test_a_reply_quotes_the_customers_message_and_the_timeline_shows_both_ways(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        asked = await world.customer_writes("Do you deliver on Sunday?", ANA)
        chat = await world.conversation_of(ANA)
        [question] = await world.timeline(chat)
        answer = await world.send(chat, {"text": "Yes, until noon.", "reply_to": question["id"]})
        assert answer.status_code == 202, answer.text
        ours = answer.json()["message_id"]
        reply = await world.row(chat, ours, "read")
        # The customer quotes our answer in turn.
        await world.customer_writes("Great, thanks", ANA, reply_to=reply["wamid"])

        async def three_rows() -> list[dict[str, Any]] | None:
            rows = await world.timeline(chat)
            return rows if len(rows) == 3 else None

        rows = await world.eventually(three_rows)
        bodies = world.sim.sent_bodies()

    # Meta dates messages in whole seconds: find them by id, not by position.
    by_id = {row["id"]: row for row in rows}
    [thanks] = [row for row in rows if row["id"] not in (question["id"], ours)]
    assert bodies[0]["context"] == {"message_id": asked}
    assert by_id[ours]["reply_to"] == question["id"]
    assert thanks["reply_to"] == ours
    assert by_id[question["id"]]["reply_to"] is None


async def test_refusals_name_the_problem_and_queue_nothing(database_url: str) -> None:
    stale_customer = BO
    async with sending_world(database_url) as world:
        world.sim.add_template("hello_world", "en_US", [{"type": "BODY", "text": "Hello World"}])
        await world.sync_templates()
        world.sim.fail(131026, recipient=stale_customer)  # so the template stays in the outbox
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        # A customer whose last message is 25 hours old: the window is closed.
        stale = int(time.time()) - 25 * 3600
        raw = encode(webhook(messages_change([text_message("old", customer=stale_customer,
                                                            sent_at=stale)])))  # fmt: skip
        delivered = await world.http.post("/webhooks/whatsapp", content=raw,
                                          headers=signed_headers(raw))  # fmt: skip
        assert delivered.status_code == 200
        closed_chat = await world.conversation_of(stale_customer)
        other_business = conversation_public_id("globex", conversation_stream("2233445566778", ANA))
        cases: list[tuple[str, dict[str, Any], int, str, str | None]] = [
            (closed_chat, {"text": "hi"}, 409, "service_window_closed", None),
            (chat, {"text": "x" * 4097}, 400, "invalid_parameter", "text"),
            (chat, {"buttons": {"body": "b", "buttons": [
                {"id": str(n), "title": f"t{n}"} for n in range(4)]}},
             400, "invalid_parameter", "buttons.buttons"),
            (chat, {"list": {"body": "b", "button": "Open", "sections": [{"rows": [
                {"id": "r", "title": "a title longer than twenty-four"}]}]}},
             400, "invalid_parameter", "list.sections[0].rows[0].title"),
            (chat, {"template": {"name": "t", "language": "fr",
                                 "header": {"text": "a", "image": {"link": "https://x.y/i"}}}},
             400, "bad_payload", "template.header"),
            (chat, {"template": {"name": "no_such_template", "language": "fr"}},
             409, "template_not_approved", "template.name"),
            (chat, {"template": {"name": "hello_world", "language": "en_US",
                                 "body_parameters": ["unexpected"]}},
             400, "template_mismatch", "template.body_parameters"),
            (chat, {"media": {"kind": "image"}}, 400, "invalid_parameter", "media.id"),
            (chat, {"text": "a", "buttons": {"body": "b", "buttons": []}}, 400, "bad_payload",
             None),
            (chat, {}, 400, "bad_payload", None),
            (chat, {"text": "a", "reply_to": "0" * 32}, 400, "invalid_parameter", "reply_to"),
            (chat, {"text": "a", "reply_to": "not an id"}, 400, "invalid_parameter", "reply_to"),
            ("0" * 32, {"text": "a"}, 404, "not_found", None),
            ("not-an-id", {"text": "a"}, 404, "not_found", None),
            (other_business, {"text": "a"}, 404, "not_found", None),
        ]  # fmt: skip
        for conversation, body, status, code, parameter in cases:
            answer = await world.send(conversation, body)
            assert answer.status_code == status, (body, answer.text)
            error = answer.json()
            assert error["error"] == code, (body, error)
            assert error.get("parameter") == parameter, (body, error)
            if code == "invalid_parameter" and "characters long" in error["message"]:
                assert error["message"].startswith(f"The field {parameter} is "), error
        template = await world.send(closed_chat, {"template": {"name": "hello_world",
                                                              "language": "en_US"}})  # fmt: skip
        assert template.status_code == 202, template.text  # templates go out any time

        async def listed() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await world.http.get("/api/v1/outbox")).json()["items"]
            return items

        outbox = await world.eventually(listed)
        unknown_field = await world.send(chat, {"text": "a", "colour": "red"})
        not_json = await world.http.post(f"/api/v1/conversations/{chat}/messages",
                                          content=b"{", headers={"Content-Type":
                                                                 "application/json"})  # fmt: skip

    assert [item["message_id"] for item in outbox] == [template.json()["message_id"]]
    assert unknown_field.status_code == 400
    assert not_json.status_code == 400


async def test_an_idempotency_key_returns_the_first_answer_and_queues_nothing_new(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        key = {"Idempotency-Key": "order-17-reply-" + uuid.uuid4().hex}
        first = await world.send(chat, {"text": "On its way"}, **key)
        again = await world.send(chat, {"text": "On its way"}, **key)
        other_body = await world.send(chat, {"text": "Something else"}, **key)
        other_key = await world.send(chat, {"text": "On its way"},
                                     **{"Idempotency-Key": "another-key"})  # fmt: skip
        bad_key = await world.send(chat, {"text": "On its way"},
                                   **{"Idempotency-Key": "x" * 256})  # fmt: skip
        racing_key = {"Idempotency-Key": "racing-" + uuid.uuid4().hex}
        racing = await asyncio.gather(
            *(world.send(chat, {"text": "Once only"}, **racing_key) for _ in range(6))
        )
        await world.row(chat, first.json()["message_id"], "read")
        await world.row(chat, other_key.json()["message_id"], "read")
        await world.row(chat, racing[0].json()["message_id"], "read")
        timeline = await world.timeline(chat)
        sent = world.sim.sent_bodies()

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert other_body.status_code == 422
    assert other_body.json()["error"] == "idempotency_key_reused"
    assert other_key.json()["message_id"] != first.json()["message_id"]
    assert bad_key.status_code == 400
    assert bad_key.json()["parameter"] == "Idempotency-Key"
    assert {answer.status_code for answer in racing} == {202}
    assert len({answer.json()["message_id"] for answer in racing}) == 1
    assert len([row for row in timeline if row["direction"] == "outbound"]) == 3
    assert [body["text"]["body"] for body in sent].count("Once only") == 1
    assert len(sent) == 3


async def test_a_failed_send_is_listed_in_the_outbox_and_errors_and_a_retry_sends_it(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        world.sim.fail(131026, recipient=ANA, count=1)  # permanent: undeliverable
        message_id = (await world.send(chat, {"text": "Your parcel"})).json()["message_id"]
        failed = await world.row(chat, message_id, "failed")
        listed = (await world.http.get("/api/v1/outbox", params={"status": "failed"})).json()
        waiting = (await world.http.get("/api/v1/outbox", params={"status": "queued"})).json()

        async def error_listed() -> list[dict[str, Any]]:
            items = (await world.http.get("/api/v1/errors")).json()["items"]
            return [e for e in items if e["message_id"] == message_id]

        [error] = await world.eventually(error_listed)
        not_failed_yet = await world.http.post(f"/api/v1/outbox/{uuid.uuid4()}/retry")
        retried = await world.http.post(f"/api/v1/outbox/{message_id}/retry")
        read = await world.row(chat, message_id, "read")
        again = await world.http.post(f"/api/v1/outbox/{message_id}/retry")
        after = (await world.http.get("/api/v1/outbox", params={"status": "failed"})).json()
        bad_filter = await world.http.get("/api/v1/outbox", params={"status": "sent"})

    assert (failed["error_code"], failed["attempts"]) == (131026, 1)
    assert failed["error_reason"]
    [item] = listed["items"]
    assert (item["message_id"], item["status"], item["conversation_id"]) == (
        message_id, "failed", chat
    )  # fmt: skip
    assert waiting["items"] == []
    assert (error["kind"], error["code"], error["conversation_id"]) == (
        "send_failed", 131026, chat
    )  # fmt: skip
    assert not_failed_yet.status_code == 404
    assert retried.status_code == 202
    assert retried.json() == {"message_id": message_id, "status": "queued"}
    assert (read["attempts"], read["error_code"], read["error_reason"]) == (2, None, None)
    assert again.status_code == 409
    assert after["items"] == []
    assert bad_filter.status_code == 400
    assert bad_filter.json()["parameter"] == "status"


async def test_a_message_in_flight_is_listed_as_queued(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        world.sim.delay(2.0, recipient=ANA, count=1)
        message_id = (await world.send(chat, {"text": "slow one"})).json()["message_id"]

        async def in_flight() -> list[dict[str, Any]] | None:
            page = (await world.http.get("/api/v1/outbox", params={"status": "queued"})).json()
            items: list[dict[str, Any]] = page["items"]
            return items if items and items[0]["status"] == "in_flight" else None

        [item] = await world.eventually(in_flight)
        row = (await world.timeline(chat))[0]
        await world.row(chat, message_id, "read")

    assert item["message_id"] == message_id
    assert (row["id"], row["status"], row["wamid"]) == (message_id, "queued", None)


async def test_a_failure_meta_reports_by_webhook_shows_its_readable_reason(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("hello", ANA)
        chat = await world.conversation_of(ANA)
        world.sim.set_outcome("failed", recipient=ANA, error_code=131047)
        message_id = (await world.send(chat, {"text": "late answer"})).json()["message_id"]
        row = await world.row(chat, message_id, "failed")

    assert row["wamid"].startswith("wamid.")
    assert row["error_code"] == 131047
    assert "24-hour" in row["error_reason"]
