"""Customers without phone numbers, unreadable changes, echoes, groups and U+0000, end to end.

Real HTTP against the running server on real PostgreSQL: deliveries go in through the
signed webhook, and what they became is read back through the API, the CLI and the log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from application.codec import EventCodec
from application.event_log import NewEvent
from domain.account import WebhookChangeUnreadable, business_stream, unreadable_event_id
from domain.event_types import EVENT_TYPES
from domain.inbound import UnreadableChange
from domain.public_ids import conversation_public_id
from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import server_env
from tests.support import database
from tests.support.webhooks import ACCOUNT_ID, PHONE_NUMBER_ID, encode, signed_headers, webhook

API_TOKEN = "inbound-shapes-token-0123456789abcdef"
T0 = int(time.time()) - 3600


@dataclass
class App:
    server: RunningServer
    database_url: str

    def deliver(self, *changes: dict[str, Any], raw: bytes | None = None) -> httpx.Response:
        body = raw if raw is not None else encode(webhook(*changes))
        return httpx.post(self.server.base_url + "/webhooks/whatsapp", content=body,
                          headers=signed_headers(body), timeout=30)  # fmt: skip

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.server.base_url + path, params=params, timeout=10,
                             headers={"Authorization": f"Bearer {API_TOKEN}"})  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    def conversations(self, search: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/conversations", search=search)["items"])

    def timeline(self, conversation_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v1/conversations/{conversation_id}/messages")["items"])

    def timeline_of(self, conversation_id: str, length: int) -> list[dict[str, Any]]:
        """The timeline, newest first, once it holds ``length`` messages."""

        def complete() -> list[dict[str, Any]] | None:
            timeline = self.timeline(conversation_id)
            return timeline if len(timeline) == length else None

        return list(self.eventually(complete))

    def eventually(self, check: Callable[[], Any], timeout: float = 20) -> Any:
        """Projections follow the log asynchronously: wait (bounded) for what they show."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise AssertionError(f"read models never showed it:\n{self.server.logs()[-3000:]}")
            time.sleep(0.05)
        return result

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(self.database_url)
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def module_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[App]:
    env = server_env(module_database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    with serve(env, tmp_path_factory.mktemp("inbound") / "server.log") as server:
        yield App(server, module_database_url)


def change(field: str = "messages", **value: Any) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID}
    return {"field": field, "value": {"messaging_product": "whatsapp", "metadata": metadata,
                                      **value}}  # fmt: skip


def text(wamid: str, body: str, at: int, **sender: str) -> dict[str, Any]:
    return {"id": wamid, "timestamp": str(at), "type": "text", "text": {"body": body}, **sender}


def contact(name: str, **ids: Any) -> dict[str, Any]:
    profile = {"name": name, **({"username": ids.pop("username")} if "username" in ids else {})}
    return {"profile": profile, **ids}


# --- customers without a phone number --------------------------------------------------------


def test_a_bsuid_only_customer_has_one_conversation_across_message_status_and_preference(
    app: App,
) -> None:
    bsuid = "US.10000000000000000001"
    ana = contact("Ana", user_id=bsuid, username="ana.rivera")
    status = {"id": "wamid.out-ana", "status": "delivered", "timestamp": str(T0 + 2),
              "recipient_user_id": bsuid,
              "pricing": {"billable": False, "pricing_model": "PMP",
                          "type": "free_customer_service", "category": "service"}}  # fmt: skip
    sent = {**status, "status": "sent", "timestamp": str(T0 + 1)}
    preference = {"user_id": bsuid, "category": "marketing_messages", "value": "stop",
                  "timestamp": T0 + 3}  # fmt: skip

    responses = [
        app.deliver(
            change(contacts=[ana], messages=[text("wamid.ana-1", "hi", T0, from_user_id=bsuid)])
        ),
        app.deliver(change(contacts=[ana], statuses=[sent, status])),
        app.deliver(change("user_preferences", user_preferences=[preference])),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]
    (conversation,) = app.eventually(lambda: app.conversations(bsuid))
    assert (conversation["customer_id"], conversation["customer_phone"]) == (bsuid, None)
    assert (conversation["customer_user_id"], conversation["customer_username"]) == (
        bsuid,
        "ana.rivera",
    )
    assert conversation["is_group"] is False
    assert app.conversations("@ana.rivera") == [conversation]
    timeline = app.timeline_of(conversation["id"], 2)
    assert [(m["wamid"], m["direction"]) for m in timeline] == [
        ("wamid.out-ana", "outbound"),
        ("wamid.ana-1", "inbound"),
    ]
    streams = {r[0] for r in app.query(
        "select distinct stream_id from events where stream_id like 'conversation-%'"
        " and data::text like $1", f"%{bsuid}%")}  # fmt: skip
    assert [conversation_public_id("default", stream) for stream in streams] == [conversation["id"]]


def test_a_number_withheld_later_and_changed_numbers_and_ids_keep_one_conversation(
    app: App,
) -> None:
    phone, bsuid = "16505551234", "US.20000000000000000002"
    new_phone, new_bsuid, newest_bsuid = "16505550000", "US.20000000000000000003", "US.2000004"
    changed_number = text("wamid.bo-changed", "", T0 + 2, **{"from": phone, "from_user_id": bsuid})
    changed_number.update(type="system", system={
        "type": "user_changed_number", "body": f"User Bo changed from {phone} to {new_phone}",
        "wa_id": new_phone, "user_id": new_bsuid})  # fmt: skip
    del changed_number["text"]
    changed_id = text("wamid.bo-changed-id", "", T0 + 4, from_user_id=new_bsuid)
    changed_id.update(type="system", system={
        "type": "user_changed_user_id", "body": "Bo's user id changed",
        "user_id": newest_bsuid, "previous_user_id": new_bsuid})  # fmt: skip
    del changed_id["text"]

    for delivered in [
        change(contacts=[contact("Bo", wa_id=phone, user_id=bsuid)],
               messages=[text("wamid.bo-1", "with number", T0, **{"from": phone,
                                                                   "from_user_id": bsuid})]),
        change(contacts=[contact("Bo", user_id=bsuid, username="bo")],
               messages=[text("wamid.bo-2", "number withheld", T0 + 1, from_user_id=bsuid)]),
        change(messages=[changed_number]),
        change(messages=[text("wamid.bo-3", "new number", T0 + 3,
                              **{"from": new_phone, "from_user_id": new_bsuid})]),
        change(messages=[changed_id]),
        change(messages=[text("wamid.bo-4", "new id", T0 + 5, from_user_id=newest_bsuid)]),
    ]:  # fmt: skip
        assert app.deliver(delivered).status_code == 200

    (conversation,) = app.eventually(lambda: app.conversations("@bo"))
    assert conversation["customer_id"] == phone
    assert (conversation["customer_phone"], conversation["customer_user_id"]) == (
        new_phone,
        newest_bsuid,
    )
    for identifier in (phone, bsuid, new_phone, new_bsuid, newest_bsuid):
        assert [c["id"] for c in app.conversations(identifier)] == [conversation["id"]]
    timeline = app.timeline_of(conversation["id"], 6)
    assert [m["wamid"] for m in timeline] == [
        "wamid.bo-4", "wamid.bo-changed-id", "wamid.bo-3", "wamid.bo-changed", "wamid.bo-2",
        "wamid.bo-1",
    ]  # fmt: skip


# --- coexistence echoes and groups ----------------------------------------------------------


def test_echoes_are_the_agents_messages_in_the_customers_conversation(app: App) -> None:
    phone, bsuid = "16505557777", "US.30000000000000000003"
    echo = {"from": "15550009999", "to": phone, "to_user_id": bsuid, "id": "wamid.echo-1",
            "timestamp": str(T0 + 1), "type": "text", "text": {"body": "On my way!"}}  # fmt: skip
    edited = {"type": "text", "text": {"body": "On my way, 5 min"}}
    edit = {"from": "15550009999", "to_user_id": bsuid, "id": "wamid.echo-2",
            "timestamp": str(T0 + 2), "type": "edit",
            "edit": {"original_message_id": "wamid.echo-1", "message": edited}}  # fmt: skip
    revoke = {"from": "15550009999", "to_user_id": bsuid, "id": "wamid.echo-3",
              "timestamp": str(T0 + 3), "type": "revoke",
              "revoke": {"original_message_id": "wamid.echo-2"}}  # fmt: skip

    assert app.deliver(change(contacts=[contact("Cy", wa_id=phone, user_id=bsuid)],
                              messages=[text("wamid.cy-1", "where are you?", T0,
                                             **{"from": phone})])).status_code == 200  # fmt: skip
    response = app.deliver(change("smb_message_echoes", message_echoes=[echo, edit, revoke]))

    assert response.status_code == 200
    (conversation,) = app.eventually(lambda: app.conversations(phone))
    timeline = app.timeline_of(conversation["id"], 4)
    assert [(m["direction"], m["sender"], m["summary"]) for m in timeline] == [
        ("outbound", "agent", "[Message deleted]"),
        ("outbound", "agent", "[Edited] On my way, 5 min"),
        ("outbound", "agent", "On my way!"),
        ("inbound", "customer", "where are you?"),
    ]
    shown = app.eventually(
        lambda: (c := app.conversations(phone)[0])["last_message_direction"] == "outbound" and c
    )
    assert shown["last_message_preview"] == "[Message deleted]"


def test_a_group_is_its_own_conversation_never_the_participants_private_one(app: App) -> None:
    phone, bsuid, group = "16505558888", "US.40000000000000000004", "GrOuP4ab"
    private = text("wamid.dee-1", "just me", T0, **{"from": phone, "from_user_id": bsuid})
    in_group = {**text("wamid.dee-g", "hi group", T0 + 1, **{"from": phone, "from_user_id": bsuid}),
                "group_id": group}  # fmt: skip
    group_status = {"id": "wamid.to-group", "status": "sent", "timestamp": str(T0 + 2),
                    "recipient_id": group, "recipient_type": "group",
                    "recipient_participant_user_id": bsuid}  # fmt: skip

    for delivered in (
        change(contacts=[contact("Dee", wa_id=phone, user_id=bsuid)], messages=[private]),
        change(contacts=[contact("Dee", wa_id=phone, user_id=bsuid)], messages=[in_group]),
        change(statuses=[group_status]),
    ):
        assert app.deliver(delivered).status_code == 200

    (groups,) = app.eventually(lambda: app.conversations(group))
    assert (groups["is_group"], groups["group_id"], groups["customer_phone"]) == (True, group, None)
    (mine,) = app.eventually(lambda: app.conversations(phone))
    assert mine["is_group"] is False
    assert [m["wamid"] for m in app.timeline(mine["id"])] == ["wamid.dee-1"]
    in_the_group = app.timeline_of(groups["id"], 2)
    assert {m["wamid"] for m in in_the_group} == {"wamid.dee-g", "wamid.to-group"}


# --- text PostgreSQL cannot hold ------------------------------------------------------------


def test_nul_characters_are_stored_as_replacement_characters_and_acknowledged(app: App) -> None:
    phone = "16505559999"
    odd = {"id": "wamid.nul-2", "timestamp": str(T0 + 1), "from": phone, "type": "hologram",
           "hologram": {"note": "a\x00b"}}  # fmt: skip
    body = webhook(change(contacts=[contact("N\x00ul", wa_id=phone)],
                          messages=[text("wamid.nul-1", "zero\x00here \\u0000 kept", T0,
                                         **{"from": phone}), odd]))  # fmt: skip
    raw = encode(body)
    assert b"\\u0000" in raw  # json escapes NUL; the literal backslash-u0000 is "\\\\u0000"

    response = app.deliver(raw=raw)

    assert response.status_code == 200, response.text
    assert response.json()["appended"] == 2
    stored = app.query(
        "select data->'message'->'content' from events where data->'message'->>'wamid' = any($1)"
        " order by global_position", ["wamid.nul-1", "wamid.nul-2"])  # fmt: skip
    first, second = (json.loads(r[0]) for r in stored)
    assert first["body"] == "zero\ufffdhere \\u0000 kept"
    assert second["raw"]["hologram"] == {"note": "a\ufffdb"}
    (conversation,) = app.eventually(lambda: app.conversations(phone))
    assert conversation["customer_name"] == "N\ufffdul"


# --- unreadable changes ----------------------------------------------------------------------


def test_an_unreadable_change_is_kept_the_rest_stored_and_the_problem_listed(app: App) -> None:
    phone = "16505550101"
    good = change(contacts=[contact("Eve", wa_id=phone)],
                  messages=[text("wamid.eve-1", "fine", T0, **{"from": phone})])  # fmt: skip
    broken = change(messages=[text("wamid.eve-2", "bad time", 0, **{"from": phone})])
    broken["value"]["messages"][0]["timestamp"] = "soon"

    response = app.deliver(good, broken)

    assert response.status_code == 200
    assert response.json()["appended"] == 2  # the message and the unreadable change
    (conversation,) = app.eventually(lambda: app.conversations(phone))
    assert [m["wamid"] for m in app.timeline(conversation["id"])] == ["wamid.eve-1"]
    errors = app.eventually(
        lambda: [e for e in app.get("/api/v1/errors")["items"] if e["kind"] == "unreadable_change"]
    )
    assert len(errors) == 1
    assert errors[0]["title"] == "Unreadable webhook field 'messages'"
    assert "timestamp" in errors[0]["detail"]
    assert "$.entry[0].changes[1]" in errors[0]["detail"]
    assert errors[0]["resolved_at"] is None
    (stored,) = app.query("select data from events where type = 'webhook.change_unreadable'")
    assert json.loads(json.loads(stored[0])["change"]["raw_json"]) == broken

    dry = run_cli("webhooks", "reprocess", "--dry-run", "--json",
                  env={"DATABASE_URL": app.database_url})  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["still_unreadable"] >= 1
    assert json.loads(dry.stdout)["recovered"] == 0


def test_reprocess_records_what_the_current_parser_reads_once(app: App) -> None:
    """A change stored as unreadable by an older version is read by this one."""
    phone = "16505550202"
    readable_now = change(contacts=[contact("Fay", wa_id=phone)],
                          messages=[text("wamid.fay-1", "from the past", T0,
                                         **{"from": phone})])  # fmt: skip
    asyncio.run(_store_as_unreadable(app.database_url, readable_now))
    env = {"DATABASE_URL": app.database_url, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID}

    first = run_cli("webhooks", "reprocess", "--business", "default", env=env)
    again = run_cli("webhooks", "reprocess", "--business", "default", "--json", env=env)

    assert first.returncode == 0, first.stderr
    assert "reprocessing unreadable changes:" in first.stderr
    table = dict(line.rsplit(maxsplit=1) for line in first.stdout.splitlines()[1:])
    assert (table["recovered"], table["updates"], table["events appended"]) == ("1", "1", "1")
    rerun = json.loads(again.stdout)
    assert (rerun["recovered"], rerun["already_recovered"], rerun["events_appended"]) == (0, 1, 0)
    resolved = app.eventually(lambda: [
        e for e in app.get("/api/v1/errors")["items"]
        if e["detail"].startswith("an older parser") and e["resolved_at"] is not None
    ])  # fmt: skip
    assert len(resolved) == 1
    unknown = run_cli("webhooks", "reprocess", "--business", "nobody", env=env)
    assert (unknown.returncode, "no business with id 'nobody'" in unknown.stderr) == (2, True)
    (conversation,) = app.eventually(lambda: app.conversations(phone))
    assert [m["wamid"] for m in app.timeline(conversation["id"])] == ["wamid.fay-1"]
    received = app.query("select count(*) from events where type = 'message.received'"
                         " and data->'message'->>'wamid' = 'wamid.fay-1'")  # fmt: skip
    assert received[0][0] == 1


async def _store_as_unreadable(database_url: str, stored_change: dict[str, Any]) -> None:
    raw = json.dumps(stored_change)
    change_record = UnreadableChange(
        account_id=ACCOUNT_ID, raw_json=raw, error="an older parser could not read it",
        path="$.entry[0].changes[0]", at=datetime.fromtimestamp(1_700_000_000, UTC),
        fingerprint="stored-by-an-older-version",
        field="messages", phone_number_id=PHONE_NUMBER_ID, entry_time=1_700_000_000,
    )  # fmt: skip
    pool = await create_pool(database_url, min_size=1, max_size=2)
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    try:
        event = WebhookChangeUnreadable(business_id="default", change=change_record)
        await store.append(
            business_stream("default"), [NewEvent(event, unreadable_event_id(change_record))]
        )
    finally:
        await store.close()
        await pool.close()
