"""The WhatsApp webhook of the running server, over HTTP, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from domain.conversation import conversation_stream
from tests.e2e.server import RunningServer, run_cli, serve
from tests.support.webhooks import (
    ACCOUNT_ID,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    conformance_cases,
    encode,
    messages_change,
    signature,
    signed_headers,
    status,
    text_message,
    webhook,
)

PATH = "/webhooks/whatsapp"
CUSTOMER = "15550001111"


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "WAZYBOT_ENV": "production",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_BUSINESS_ACCOUNT_ID": ACCOUNT_ID,
        "WAZYBOT_AUTO_REPLIES": "false",  # the assistant's tests turn them on
        **extra,
    }


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with serve(server_env(database_url), tmp_path / "server.log") as running:
        yield running


def post(server: RunningServer, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return httpx.post(
        server.base_url + PATH,
        content=body,
        headers=signed_headers(body) if headers is None else headers,
        timeout=30,
    )


def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(database_url)
        try:
            return await connection.fetch(sql, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


LINKS = "customer.identifier_linked"


def event_count(database_url: str) -> int:
    """The events Meta's deliveries became (not counting the links of customer identifiers)."""
    return int(query(database_url, "select count(*) from events where type <> $1", LINKS)[0][0])


def log_events(server: RunningServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


# --- verification handshake --------------------------------------------------------------


def test_verification_echoes_the_challenge_only_for_the_right_token(server: RunningServer) -> None:
    def verify(**params: str) -> httpx.Response:
        return httpx.get(server.base_url + PATH, params=params)

    good = verify(
        **{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    wrong_token = verify(
        **{"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "echo-me"}
    )
    wrong_mode = verify(
        **{"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    )
    bare = verify()

    assert (good.status_code, good.text) == (200, "1158201444")
    assert good.headers["content-type"].startswith("text/plain")
    assert [r.status_code for r in (wrong_token, wrong_mode, bare)] == [403, 403, 403]
    assert "echo-me" not in wrong_token.text
    assert wrong_token.json()["error"] == "forbidden"


# --- refusing what must not be stored ------------------------------------------------------


def test_missing_malformed_or_wrong_signatures_get_401_and_store_nothing(
    server: RunningServer, database_url: str
) -> None:
    body = encode(webhook(messages_change([text_message("olá 👋")])))
    good = signature(body)
    headers = [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": good.replace("sha256=", "sha1=")},
        {"X-Hub-Signature-256": good[:-2]},
        {"X-Hub-Signature-256": "sha256=" + "g" * 64},
        {"X-Hub-Signature-256": signature(body, secret="someone-else")},
        {"X-Hub-Signature-256": signature(body + b" ")},
    ]

    statuses = [post(server, body, h).status_code for h in headers]

    assert statuses == [401] * len(headers)
    assert event_count(database_url) == 0
    assert APP_SECRET not in server.logs()


def test_bodies_that_are_not_whatsapp_webhooks_get_400_a_log_line_and_store_nothing(
    server: RunningServer, database_url: str
) -> None:
    good = webhook(messages_change([text_message()]))
    bodies = [
        b"{not json",
        b"[]",
        encode({**good, "object": "page"}),
        encode({"object": "whatsapp_business_account"}),
    ]

    responses = [post(server, body) for body in bodies]

    assert [r.status_code for r in responses] == [400] * len(bodies)
    assert [r.json()["error"] for r in responses] == ["invalid_json"] + ["bad_payload"] * 3
    assert "invalid JSON" in responses[0].json()["message"]
    assert "entry" in responses[-1].json()["message"]
    assert event_count(database_url) == 0
    refused = [e for e in log_events(server) if e["event"] == "http.client_error"]
    assert [(e["level"], e["status"]) for e in refused] == [("warning", 400)] * len(bodies)


def test_bodies_over_the_limit_get_413_without_being_read_whole(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, WAZYBOT_WEBHOOK_MAX_BYTES="4096")
    big = encode(webhook(messages_change([text_message("x" * 5000)])))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    with serve(env, tmp_path / "server.log") as server:
        announced = post(server, big)
        streamed = httpx.post(server.base_url + PATH, content=chunks(), headers=signed_headers(big))
        small = post(server, encode(webhook(messages_change([text_message("fits")]))))

    assert (announced.status_code, streamed.status_code, small.status_code) == (413, 413, 200)
    assert event_count(database_url) == 1


def test_without_an_app_secret_deliveries_get_503_so_meta_retries(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url)
    del env["WHATSAPP_APP_SECRET"]
    body = encode(webhook(messages_change([text_message()])))

    with serve(env, tmp_path / "server.log") as server:
        response = post(server, body)

    assert response.status_code == 503
    assert event_count(database_url) == 0


# --- storing everything exactly once -------------------------------------------------------


def test_one_post_with_several_entries_is_stored_whole_and_redelivery_adds_nothing(
    server: RunningServer, database_url: str
) -> None:
    customers = ["15550000001", "15550000002", "15550000003"]
    body = encode(
        webhook(
            messages_change(
                [text_message("a", customer=customers[0]), text_message("b", customer=customers[1])]
            ),
            messages_change(
                [text_message("c", customer=customers[2])],
                [status("wamid.out-1", "delivered", recipient=customers[0])],
            ),
            {
                "field": "message_template_status_update",
                "value": {
                    "event": "APPROVED",
                    "message_template_id": 7,
                    "message_template_name": "hello",
                    "message_template_language": "en",
                },
            },
            entries=2,
        )
    )

    first = post(server, body)
    again = post(server, body)

    assert (first.status_code, first.json()["appended"]) == (200, 5)
    assert (again.status_code, again.json()["appended"], again.json()["duplicates"]) == (
        200,
        0,
        5,
    )
    streams = dict(
        query(
            database_url,
            "select stream_id, count(*) from events where type <> $1 group by stream_id",
            LINKS,
        )
    )
    assert streams == {
        conversation_stream(PHONE_NUMBER_ID, customers[0]): 2,
        conversation_stream(PHONE_NUMBER_ID, customers[1]): 1,
        conversation_stream(PHONE_NUMBER_ID, customers[2]): 1,
        "business-default": 1,
    }


def test_non_ascii_bodies_verify_over_their_raw_bytes_escaped_or_not(
    server: RunningServer, database_url: str
) -> None:
    text = "Olá, café às 9h? 👋 ✓ Привет"
    escaped = encode(webhook(messages_change([text_message(text)])), ensure_ascii=True)
    raw = encode(webhook(messages_change([text_message(text)])), ensure_ascii=False)

    responses = [post(server, escaped), post(server, raw)]

    assert [r.status_code for r in responses] == [200, 200]
    stored = query(
        database_url,
        "select data->'message'->'content'->>'body' from events where type <> $1",
        LINKS,
    )
    assert [r[0] for r in stored] == [text, text]


def test_concurrent_posts_for_one_conversation_all_land_in_order_of_versions(
    server: RunningServer, database_url: str
) -> None:
    bodies = [
        encode(webhook(messages_change([text_message(f"m{n}", sent_at=1_700_000_000 + n * 10)])))
        for n in range(40)
    ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [r.status_code for r in pool.map(lambda b: post(server, b), bodies)]

    assert statuses == [200] * 40
    versions = [
        r[0]
        for r in query(
            database_url,
            "select version from events where stream_id = $1 order by version",
            conversation_stream(PHONE_NUMBER_ID, CUSTOMER),
        )
    ]
    assert versions == list(range(1, 41))


def test_a_customer_over_the_rate_is_throttled_but_every_message_is_kept(
    server: RunningServer, database_url: str
) -> None:
    for n in range(23):  # default limit: 20 a minute
        body = encode(webhook(messages_change([text_message(sent_at=1_700_000_000 + n)])))
        assert post(server, body).status_code == 200

    rows = query(database_url, "select type, data from events order by global_position")
    received = [json.loads(d) for t, d in rows if t == "message.received"]
    assert [m["throttled"] for m in received] == [False] * 20 + [True] * 3
    assert [t for t, _ in rows].count("customer.throttled") == 1


def test_unknown_numbers_are_acknowledged_and_kept_out_of_every_business(
    server: RunningServer, database_url: str
) -> None:
    body = encode(webhook(messages_change([text_message("hi")], phone_number_id="5550000")))

    response = post(server, body)

    assert response.status_code == 200
    rows = query(database_url, "select stream_id, type from events")
    assert [tuple(r) for r in rows] == [("unrouted", "webhook.unrouted_update_received")]
    assert any(e["event"] == "webhook.unrouted" for e in log_events(server))


def test_a_business_added_from_the_cli_receives_its_numbers_at_once(
    server: RunningServer, database_url: str
) -> None:
    env = {"DATABASE_URL": database_url}
    added = run_cli(
        "business",
        "add",
        "--id",
        "acme",
        "--name",
        "Acme Shoes",
        "--phone-number-id",
        "106540352242922",
        "--flood-limit",
        "5",
        env=env,
    )
    duplicate = run_cli(
        "business", "add", "--id", "acme", "--name", "Again", "--phone-number-id", "1", env=env
    )
    listed = run_cli("business", "list", env={**env, "WHATSAPP_PHONE_NUMBER_ID": "42"})

    body = encode(webhook(messages_change([text_message()], phone_number_id="106540352242922")))
    response = post(server, body)

    assert added.returncode == 0, added.stderr
    assert (duplicate.returncode, "already exists" in duplicate.stderr) == (2, True)
    assert "acme" in listed.stdout
    assert "106540352242922" in listed.stdout
    assert "default" in listed.stdout
    assert "environment" in listed.stdout
    assert response.status_code == 200
    rows = query(database_url, "select distinct data->>'business_id' from events")
    assert [r[0] for r in rows] == ["acme"]


@pytest.mark.slow
def test_a_crash_right_after_200_loses_no_acknowledged_message(
    database_url: str, tmp_path: Path
) -> None:
    bodies = [
        (
            f"wamid.crash-{n}",
            encode(
                webhook(
                    messages_change(
                        [
                            text_message(
                                f"m{n}",
                                customer=f"1555{n % 7:07d}",
                                wamid=f"wamid.crash-{n}",
                                sent_at=1_700_000_000 + n * 10,
                            )
                        ]
                    )
                )
            ),
        )
        for n in range(200)
    ]
    acknowledged: list[str] = []
    halfway = threading.Event()

    with serve(server_env(database_url), tmp_path / "server.log") as server:

        def send(item: tuple[str, bytes]) -> None:
            wamid, body = item
            try:
                if post(server, body).status_code == 200:
                    acknowledged.append(wamid)
                    if len(acknowledged) >= 100:
                        halfway.set()
            except httpx.TransportError:
                pass  # the crash cut this one off: not acknowledged, Meta would retry

        with ThreadPoolExecutor(max_workers=8) as pool:
            for item in bodies:
                pool.submit(send, item)
            assert halfway.wait(timeout=120)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            killed_after = len(acknowledged)

    stored = {
        r[0]
        for r in query(
            database_url,
            "select data->'message'->>'wamid' from events where type = 'message.received'",
        )
    }
    assert killed_after < len(bodies)  # the crash came mid-stream
    assert set(acknowledged) <= stored


# --- conformance -------------------------------------------------------------------------

CONTENT_KINDS = {
    "text": "text",
    "image": "media",
    "video": "media",
    "audio": "media",
    "document": "media",
    "sticker": "media",
    "location": "location",
    "contacts": "contacts",
    "button": "quick_reply",
    "reaction": "reaction",
    "order": "order",
    "system": "system",
    "revoke": "revoke",
    "edit": "edit",
    "unsupported": "unsupported",
}
EVENT_BY_FIELD = {
    "account_update": "account.notice_received",
    "message_template_status_update": "template.status_updated",
    "message_template_quality_update": "template.quality_updated",
    "template_category_update": "template.category_updated",
    "user_preferences": "customer.marketing_preference_changed",
}


def expected_events(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(event type, content kind) that a conformance body must produce, from its JSON."""
    expected: list[tuple[str, str | None]] = []
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            number = value.get("metadata", {}).get("phone_number_id")
            if number is not None and not number.isdigit():
                expected.append(("webhook.unrouted_update_received", None))
                continue
            for message in value.get("messages", []):
                expected.append(("message.received", _content_kind(message)))
            for echo in value.get("message_echoes", []):
                expected.append(("message.echoed", _content_kind(echo)))
            expected += [("message.status_updated", None)] * len(value.get("statuses", []))
            if value.get("errors"):
                expected.append(("webhook.problem_reported", None))
            if "correct_category" in value:
                expected.append(("template.category_change_announced", None))
            elif change["field"] in EVENT_BY_FIELD:
                count = len(value.get("user_preferences", [None]))
                expected += [(EVENT_BY_FIELD[change["field"]], None)] * count
    return expected


def _content_kind(message: dict[str, Any]) -> str:
    if message["type"] == "interactive":
        reply = message.get("interactive", {}).get("type")
        return {"button_reply": "choice", "list_reply": "choice", "nfm_reply": "flow_reply"}.get(
            reply, "unsupported"
        )
    return CONTENT_KINDS[message["type"]]


def uniquely_identified(case: str, body: dict[str, Any]) -> dict[str, Any]:
    """The same payload with its message ids made unique to this case (many samples share one)."""
    body = copy.deepcopy(body)
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            for item in [*value.get("messages", []), *value.get("statuses", []),
                         *value.get("message_echoes", [])]:  # fmt: skip
                item["id"] = f"{item['id']}/{case}"
    return body


def test_every_conformance_payload_is_accepted_and_becomes_the_expected_events(
    database_url: str, tmp_path: Path
) -> None:
    cases = list(conformance_cases())
    env = server_env(database_url, WHATSAPP_BUSINESS_ACCOUNT_ID="102290129340398")
    for business, number, account in [
        ("partner", "2000000001", "2949482758682047"),
        ("templates", "2000000002", "57438975935"),
        ("shop", "106540352242922", "1234567890987654321"),
    ]:
        added = run_cli(
            "business",
            "add",
            "--id",
            business,
            "--name",
            business.title(),
            "--phone-number-id",
            number,
            "--account-id",
            account,
            env={"DATABASE_URL": database_url},
        )
        assert added.returncode == 0, added.stderr

    with serve(env, tmp_path / "server.log") as server:
        seen = 0
        for case, body in cases:
            response = post(server, encode(uniquely_identified(case, body)))
            assert response.status_code == 200, (case, response.text)
            rows = query(
                database_url,
                "select global_position, type,"
                " data->'message'->'content'->>'kind' from events"
                " where global_position > $1 order by global_position",
                seen,
            )
            produced = [
                (t, k) for _, t, k in rows if not t.startswith("customer.throttle") and t != LINKS
            ]
            assert produced == expected_events(body), case
            seen = max([seen, *(position for position, _, _ in rows)])
        # The samples as collected, unchanged: all accepted (shared ids are stored once).
        originals = [post(server, encode(body)) for _, body in cases]

    assert [r.status_code for r in originals] == [200] * len(cases)
    assert not any(e.get("level") == "error" for e in log_events(server))
