"""The read-model API of the running server, over HTTP: tokens, tenants, pages, metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from application.read_models import encode_cursor
from domain.conversation import conversation_stream
from domain.public_ids import conversation_public_id
from tests.e2e.server import RunningServer, run_cli, serve
from tests.e2e.test_webhook import server_env
from tests.support import database
from tests.support.webhooks import (
    PHONE_NUMBER_ID,
    encode,
    messages_change,
    signed_headers,
    status,
    text_message,
    webhook,
)

API_TOKEN = "default-business-token-0123456789"
GLOBEX_NUMBER = "2233445566778"
NOW = int(time.time()) - 600
BUSY_CHAT = conversation_public_id("default", conversation_stream(PHONE_NUMBER_ID, "15550000006"))


@dataclass
class Api:
    server: RunningServer
    globex_token: str

    def get(self, path: str, token: str | None = API_TOKEN, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(self.server.base_url + path, params=params, headers=headers, timeout=10)

    def deliver(self, body: dict[str, Any]) -> None:
        raw = encode(body)
        response = httpx.post(self.server.base_url + "/webhooks/whatsapp", content=raw,
                              headers=signed_headers(raw), timeout=10)  # fmt: skip
        assert response.status_code == 200, response.text

    def eventually(self, check: Callable[[], bool], timeout: float = 20) -> None:
        """Projections follow the log asynchronously: wait (bounded) until they show the data."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"read models never caught up:\n{self.server.logs()[-3000:]}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Api]:
    env = server_env(module_database_url, WAZYBOT_API_TOKEN=API_TOKEN)
    added = run_cli("business", "add", "--id", "globex", "--name", "Globex",
                    "--phone-number-id", GLOBEX_NUMBER, env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = run_cli("tokens", "create", "--business", "globex", "--name", "dashboard", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    with serve(env, tmp_path_factory.mktemp("api") / "server.log") as server:
        api = Api(server, token)
        _load(api)
        yield api


def _load(api: Api) -> None:
    """Seven customers of the default business (the last one busiest), one of Globex."""
    for n in range(7):
        customer = f"1555000{n:04d}"
        messages = [text_message(f"hello {n}.{k}", customer=customer, sent_at=NOW + n * 10 + k)
                    for k in range(1 + (n == 6) * 11)]  # fmt: skip
        api.deliver(webhook(messages_change(messages, names={customer: f"Customer {n}"})))
    api.deliver(webhook(messages_change(statuses=[
        status("wamid.reply-1", "sent", recipient="15550000006", at=NOW + 200),
        status("wamid.reply-1", "delivered", recipient="15550000006", at=NOW + 201),
    ])))  # fmt: skip
    failed = status("wamid.reply-2", "failed", recipient="15550000005", at=NOW + 210)
    failed["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    api.deliver(webhook(messages_change(statuses=[failed])))
    api.deliver(webhook(messages_change(
        [text_message("globex only", customer="15559990000", sent_at=NOW)],
        phone_number_id=GLOBEX_NUMBER, names={"15559990000": "Gloria"},
    )))  # fmt: skip
    api.eventually(lambda: len(api.get("/api/v1/conversations").json()["items"]) == 7
                   and api.get("/api/v1/errors").json()["items"] != []
                   and api.get("/api/v1/metrics").json()["current"]["messages_sent"] == 2
                   and len(api.get("/api/v1/conversations", api.globex_token).json()["items"])
                   == 1)  # fmt: skip


@pytest.fixture(scope="module")
def module_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """One database for the whole module: the server and its data are shared by its tests."""
    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


def test_a_missing_or_wrong_token_gets_401(api: Api) -> None:
    for token in (None, "not-a-token", API_TOKEN + "x"):
        response = api.get("/api/v1/conversations", token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    basic = httpx.get(api.server.base_url + "/api/v1/conversations",
                      headers={"Authorization": f"Basic {API_TOKEN}"})  # fmt: skip
    assert basic.status_code == 401
    assert API_TOKEN not in api.server.logs()


def test_each_token_sees_only_its_own_business(api: Api) -> None:
    mine = api.get("/api/v1/conversations").json()["items"]
    theirs = api.get("/api/v1/conversations", api.globex_token).json()["items"]
    assert {c["phone_number_id"] for c in mine} == {PHONE_NUMBER_ID}
    assert [c["customer_name"] for c in theirs] == ["Gloria"]

    other = theirs[0]["id"]
    assert api.get(f"/api/v1/conversations/{other}").status_code == 404
    assert api.get(f"/api/v1/conversations/{other}/messages").status_code == 404
    assert api.get(f"/api/v1/conversations/{mine[0]['id']}", api.globex_token).status_code == 404
    assert api.get("/api/v1/errors", api.globex_token).json()["items"] == []
    globex_metrics = api.get("/api/v1/metrics", api.globex_token).json()["current"]
    assert globex_metrics["messages_received"] == 1
    assert globex_metrics["messages_sent"] == 0


def test_conversations_page_newest_activity_first(api: Api) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/conversations", **params).json()
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len({c["id"] for c in seen}) == 7
    activity = [c["last_activity_at"] for c in seen]
    assert activity == sorted(activity, reverse=True)
    busiest = seen[0]
    assert busiest["customer_name"] == "Customer 6"
    assert busiest["unread_count"] == 12
    assert busiest["status"] == "bot"
    assert busiest["service_window_open"] is True
    assert busiest["throttled"] is False


def test_search_and_status_filter(api: Api) -> None:
    by_name = api.get("/api/v1/conversations", search="customer 3").json()["items"]
    by_number = api.get("/api/v1/conversations", search="0004").json()["items"]
    assert [c["customer_name"] for c in by_name] == ["Customer 3"]
    assert [c["customer_id"] for c in by_number] == ["15550000004"]
    assert len(api.get("/api/v1/conversations", status="bot").json()["items"]) == 7
    assert api.get("/api/v1/conversations", status="closed").json()["items"] == []
    assert api.get("/api/v1/conversations", search="100%_").json()["items"] == []


def test_a_timeline_pages_back_through_a_conversation(api: Api) -> None:
    chat = BUSY_CHAT
    first = api.get(f"/api/v1/conversations/{chat}/messages", limit="5").json()
    second = api.get(f"/api/v1/conversations/{chat}/messages", limit="5",
                     cursor=first["next_cursor"]).json()  # fmt: skip
    rest = api.get(f"/api/v1/conversations/{chat}/messages", limit="5",
                   cursor=second["next_cursor"]).json()  # fmt: skip
    timeline = first["items"] + second["items"] + rest["items"]
    assert rest["next_cursor"] is None
    assert len(timeline) == 13  # twelve from the customer, one reply known from its statuses
    assert timeline[0]["direction"] == "outbound"
    assert timeline[0]["status"] == "delivered"
    assert [m["summary"] for m in timeline[1:3]] == ["hello 6.11", "hello 6.10"]
    assert all(m["sender"] == "customer" for m in timeline[1:])


def test_metrics_compare_the_range_with_the_one_before(api: Api) -> None:
    body = api.get("/api/v1/metrics", range="24h").json()
    current, previous = body["current"], body["previous"]
    assert current["messages_received"] == 18
    assert current["messages_sent"] == 2
    assert current["delivery_rate"] == 0.5
    assert current["error_rate"] == 0.5
    assert current["failed_sends"] == 1
    assert current["conversations_awaiting_response"] == 7
    assert current["responded"] == 1
    assert current["response_rate"] == round(1 / 7, 4)
    assert current["first_response_seconds_avg"] == 140.0  # asked at NOW+60, answered NOW+200
    assert current["first_response_seconds_p90"] == 140.0
    assert previous["messages_received"] == 0
    assert previous["response_rate"] is None
    assert body["previous_range"]["end"] == body["range"]["start"]


def test_timeseries_cover_the_range_in_equal_buckets(api: Api) -> None:
    hourly = api.get("/api/v1/metrics/timeseries", range="24h", bucket="hour").json()
    daily = api.get("/api/v1/metrics/timeseries", range="7d", bucket="day").json()
    assert len(hourly["points"]) == 24
    assert sum(p["messages_received"] for p in hourly["points"]) == 18
    assert len(daily["points"]) == 7
    assert daily["points"][-1]["messages_received"] == 18


def test_day_buckets_cover_a_range_that_is_not_whole_days(api: Api) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=34)
    body = api.get("/api/v1/metrics/timeseries", bucket="day",
                   **{"from": start.isoformat(), "to": end.isoformat()}).json()  # fmt: skip
    assert [p["start"] for p in body["points"]] == [
        start.isoformat().replace("+00:00", "Z"),
        (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    ]
    assert sum(p["messages_received"] for p in body["points"]) == 18


def test_a_conversation_id_with_a_nul_is_simply_not_found(api: Api) -> None:
    assert api.get("/api/v1/conversations/a%00b").status_code == 404
    assert api.get("/api/v1/conversations/a%00b/messages").status_code == 404


def test_errors_list_failed_sends(api: Api) -> None:
    (error,) = api.get("/api/v1/errors").json()["items"]
    assert error["kind"] == "send_failed"
    assert error["code"] == 131026
    assert error["title"] == "Message undeliverable"
    assert error["wamid"] == "wamid.reply-2"


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/conversations", {"limit": "0"}, "limit"),
        ("/api/v1/conversations", {"limit": "abc"}, "limit"),
        ("/api/v1/conversations", {"status": "open"}, "status"),
        ("/api/v1/conversations", {"cursor": "!!"}, "cursor"),
        ("/api/v1/conversations", {"cursor": "WzEsMl0"}, "cursor"),  # a well-formed [1,2]
        ("/api/v1/conversations", {"search": "x" * 101}, "search"),
        ("/api/v1/metrics", {"range": "1y"}, "range"),
        ("/api/v1/metrics", {"range": "24h", "from": "2026-01-01T00:00:00Z"}, "range"),
        ("/api/v1/metrics", {"from": "yesterday"}, "from"),
        ("/api/v1/metrics", {"to": "2026-01-01T00:00:00Z"}, "from"),
        ("/api/v1/metrics", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ("/api/v1/metrics/timeseries", {"bucket": "week"}, "bucket"),
        ("/api/v1/metrics/timeseries", {"range": "30d", "bucket": "hour"}, None),
        ("/api/v1/errors", {"limit": "201"}, "limit"),
        ("/api/v1/conversations", {"limit": "\u00b2"}, "limit"),  # a digit, but not 0-9
        ("/api/v1/conversations", {"search": "a\x00b"}, "search"),
        (
            "/api/v1/errors",
            {"cursor": encode_cursor("2026-01-01T00:00:00+00:00", "x", 1)},
            "cursor",
        ),
        (
            "/api/v1/errors",
            {"cursor": encode_cursor("2026-01-01T00:00:00+00:00", str(uuid.uuid4()), 2**40)},
            "cursor",
        ),
        (
            f"/api/v1/conversations/{BUSY_CHAT}/messages",
            {"cursor": encode_cursor("2026-01-01T00:00:00+00:00", 2**70)},  # an old-style cursor
            "cursor",
        ),
        (
            f"/api/v1/conversations/{BUSY_CHAT}/messages",
            {"cursor": encode_cursor("0001-01-01T00:30:00+01:00", "wamid.x")},
            "cursor",
        ),
        ("/api/v1/metrics", {"from": "0001-01-01T00:30:00+01:00"}, "from"),
        ("/api/v1/metrics", {"from": "9999-12-31T23:30:00Z"}, "from"),
        ("/api/v1/metrics", {"from": "1971-03-01T00:00:00Z", "to": "1971-09-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(
    api: Api, path: str, params: dict[str, str], parameter: str | None
) -> None:
    response = api.get(path, **params)
    if parameter is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter
    assert response.json()["error"] == "invalid_parameter"
    assert f"'{parameter}'" in response.json()["message"]


def test_the_openapi_document_describes_the_api(api: Api) -> None:
    document = httpx.get(api.server.base_url + "/schema/openapi.json").json()
    assert {"/api/v1/conversations", "/api/v1/metrics", "/api/v1/errors"} <= set(document["paths"])


def test_tokens_are_only_created_for_known_businesses(api: Api, module_database_url: str) -> None:
    result = run_cli("tokens", "create", "--business", "nobody",
                     env=server_env(module_database_url))  # fmt: skip
    assert result.returncode == 2
    assert "no business with id 'nobody'" in result.stderr
    assert result.stdout == ""


def test_a_token_is_stored_hashed(api: Api, module_database_url: str) -> None:
    async def stored() -> list[bytes]:
        connection = await asyncpg.connect(module_database_url)
        try:
            return [r["token_sha256"] for r in await connection.fetch("select * from api_tokens")]
        finally:
            await connection.close()

    (digest,) = asyncio.run(stored())
    assert api.globex_token.encode() not in digest
    assert len(digest) == 32
