"""The Cloud API simulator over real HTTP: Meta's shapes and errors, status webhooks, faults."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from adapters.whatsapp.simulator import Business, CloudApiSimulator, inbound, running
from tests.support.webhook_receiver import WebhookReceiver, receiving

TOKEN = "simulator-test-token"
SECRET = b"simulator-test-secret"
NUMBER = "1122334455667"
CUSTOMER = "15551234567"
BSUID = "US.13491208655302741918"
MESSAGES = f"/v23.0/{NUMBER}/messages"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ORDER_TEMPLATE = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
    {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships today."},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "COPY_CODE", "example": "SAVE10"},
    ]},
]  # fmt: skip


def media_template(fmt: str) -> list[dict[str, Any]]:
    return [{"type": "HEADER", "format": fmt}, {"type": "BODY", "text": "Hello {{1}}"}]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with receiving(SECRET) as running_receiver:
        yield running_receiver


@pytest.fixture
async def sim(receiver: WebhookReceiver) -> AsyncIterator[CloudApiSimulator]:
    simulator = CloudApiSimulator(
        access_tokens=[TOKEN], app_secret=SECRET, webhook_url=receiver.url,
        business=Business(phone_number_id=NUMBER),
    )  # fmt: skip
    simulator.add_template("order_update", "en_US", ORDER_TEMPLATE)
    for fmt in ("IMAGE", "VIDEO", "DOCUMENT"):
        simulator.add_template(f"{fmt.lower()}_notice", "fr", media_template(fmt))
    async with running(simulator) as served:
        yield served


@pytest.fixture
async def client(sim: CloudApiSimulator) -> AsyncIterator[httpx.AsyncClient]:
    assert sim.base_url is not None
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH, timeout=10) as http:
        yield http


def message(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": kind, kind: content, **extra}  # fmt: skip


def buttons(*titles: str) -> dict[str, Any]:
    return {
        "type": "button",
        "header": {"type": "text", "text": "Your order"},
        "body": {"text": "Pick one"},
        "footer": {"text": "Shop"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": t}}
                               for i, t in enumerate(titles)]},
    }  # fmt: skip


def list_message(rows: int = 3) -> dict[str, Any]:
    return {
        "type": "list",
        "header": {"type": "text", "text": "Menu"},
        "body": {"text": "What would you like?"},
        "action": {"button": "See options", "sections": [
            {"title": "Drinks", "rows": [
                {"id": f"r{i}", "title": f"Row {i}", "description": "Cold"} for i in range(rows)
            ]},
        ]},
    }  # fmt: skip


def order_template(**changes: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "#42"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                            {"type": "text", "text": "#42"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "42"}]},
            {"type": "button", "sub_type": "quick_reply", "index": 1,
             "parameters": [{"type": "payload", "payload": "stop"}]},
            {"type": "button", "sub_type": "copy_code", "index": 2,
             "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]},
        ],
    }  # fmt: skip
    template.update(changes)
    return template


def media_header_template(fmt: str) -> dict[str, Any]:
    kind = fmt.lower()
    return {
        "name": f"{kind}_notice",
        "language": {"code": "fr"},
        "components": [
            {"type": "header", "parameters": [
                {"type": kind, kind: {"link": f"https://cdn.example/file.{kind}"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
        ],
    }  # fmt: skip


CONTACT_REQUEST = {
    "type": "request_contact_info",
    "body": {"text": "Please share your number"},
    "action": {"name": "request_contact_info"},
}
ACCEPTED = {
    "text": message("text", {"body": "Hello", "preview_url": True}),
    "image by link": message("image", {"link": "https://cdn.example/a.jpg", "caption": "A"}),
    "document by link": message("document", {"link": "https://cdn.example/a.pdf",
                                             "filename": "a.pdf", "caption": "Invoice"}),
    "audio by link": message("audio", {"link": "https://cdn.example/a.ogg"}),
    "video by link": message("video", {"link": "https://cdn.example/a.mp4", "caption": "V"}),
    "sticker by link": message("sticker", {"link": "https://cdn.example/a.webp"}),
    "reply buttons": message("interactive", buttons("Yes", "No", "Later")),
    "list": message("interactive", list_message(rows=10)),
    "contact request": message("interactive", CONTACT_REQUEST),
    "template with header, body and buttons": message("template", order_template()),
    "template with image header": message("template", media_header_template("IMAGE")),
    "template with video header": message("template", media_header_template("VIDEO")),
    "template with document header": message("template", media_header_template("DOCUMENT")),
    "reaction": message("reaction", {"message_id": "wamid.abc", "emoji": "\U0001f44d"}),
    "reply with context": message("text", {"body": "Yes"}, context={"message_id": "wamid.abc"}),
}  # fmt: skip


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_every_message_kind_is_accepted_in_metas_shape(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(MESSAGES, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER}]
    assert answer["messages"][0]["id"].startswith("wamid.")
    if body["type"] == "template":
        assert answer["messages"][0]["message_status"] == "accepted"


async def test_media_by_id_needs_an_uploaded_file(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    uploaded = sim.add_media(b"\x89PNG...", "image/png")
    for kind in ("image", "document", "audio", "video", "sticker"):
        response = await client.post(MESSAGES, json=message(kind, {"id": uploaded.id}))
        assert response.status_code == 200, response.text
    unknown = await client.post(MESSAGES, json=message("image", {"id": "999"}))
    assert unknown.json()["error"]["code"] == 131009
    assert "image.id" in unknown.json()["error"]["error_data"]["details"]


async def test_wamids_are_fresh_and_a_bsuid_recipient_is_answered_by_user_id(
    client: httpx.AsyncClient,
) -> None:
    by_phone = [(await client.post(MESSAGES, json=ACCEPTED["text"])).json() for _ in range(5)]
    assert len({a["messages"][0]["id"] for a in by_phone}) == 5
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "recipient": BSUID,
            "type": "text", "text": {"body": "Hi"}}  # fmt: skip
    answer = (await client.post(MESSAGES, json=body)).json()
    assert answer["contacts"] == [{"input": BSUID, "user_id": BSUID}]


def broken(path: str, value: Any, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the value at a dotted path replaced (``...`` removes it)."""
    body = copy.deepcopy(base)
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is ...:
        del target[int(last) if isinstance(target, list) else last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


TEXT, BUTTONS, LIST = ACCEPTED["text"], ACCEPTED["reply buttons"], ACCEPTED["list"]
TEMPLATE = ACCEPTED["template with header, body and buttons"]
ROWS = "interactive.action.sections.0.rows"
row = {"id": "r0", "title": "Row"}
REJECTED: dict[str, tuple[dict[str, Any], int, str]] = {
    "no messaging_product": (broken("messaging_product", ..., TEXT), 100, "messaging_product"),
    "wrong messaging_product": (broken("messaging_product", "sms", TEXT), 100, "messaging_product"),
    "no recipient": (broken("to", ..., TEXT), 100, "to"),
    "not a phone number": (broken("to", "hello", TEXT), 100, "to"),
    "bad BSUID": ({**broken("to", ..., TEXT), "recipient": "nope"}, 131009, "recipient"),
    "no text body": (broken("text.body", ..., TEXT), 100, "text['body']"),
    "text of 4097": (broken("text.body", "x" * 4097, TEXT), 100, "4096"),
    "object missing": (broken("text", ..., TEXT), 100, "text"),
    "unknown type": (broken("type", "fax", TEXT), 100, "type"),
    "media with id and link": (message("image", {"id": "1", "link": "https://x.example/a"}),
                               131009, "image"),
    "media with neither": (message("image", {"caption": "c"}), 131008, "image.id"),
    "caption on audio": (message("audio", {"link": "https://x.example/a", "caption": "c"}),
                         131009, "audio.caption"),
    "interactive body 1025": (broken("interactive.body.text", "x" * 1025, BUTTONS), 131009,
                              "interactive.body.text"),
    "no interactive body": (broken("interactive.body", ..., BUTTONS), 131008, "interactive.body"),
    "header 61": (broken("interactive.header.text", "x" * 61, BUTTONS), 131009,
                  "interactive.header.text"),
    "footer 61": (broken("interactive.footer.text", "x" * 61, BUTTONS), 131009,
                  "interactive.footer.text"),
    "4 reply buttons": (message("interactive", buttons("a", "b", "c", "d")), 131009,
                        "interactive.action.buttons"),
    "button title 21": (message("interactive", buttons("x" * 21)), 131009, "reply.title"),
    "duplicate button titles": (message("interactive", buttons("Yes", "Yes")), 131009,
                                "duplicate button title"),
    "duplicate button ids": (broken("interactive.action.buttons.1.reply.id", "b0", BUTTONS),
                             131009, "duplicate button id"),
    "list button 21": (broken("interactive.action.button", "x" * 21, LIST), 131009,
                       "interactive.action.button"),
    "11 rows": (message("interactive", list_message(rows=11)), 131009, "10 rows"),
    "row title 25": (broken(f"{ROWS}.0.title", "x" * 25, LIST), 131009, "rows[0].title"),
    "row description 73": (broken(f"{ROWS}.0.description", "x" * 73, LIST), 131009,
                           "rows[0].description"),
    "section title 25": (broken("interactive.action.sections.0.title", "x" * 25, LIST), 131009,
                         "sections[0].title"),
    "duplicate row ids": (broken(f"{ROWS}.1.id", "r0", LIST), 131009, "duplicate row id"),
    "contact request wrong action": (broken("interactive.action.name", "x",
                                            ACCEPTED["contact request"]), 131009, "action.name"),
    "unknown template": (broken("template.name", "nope", TEMPLATE), 132001, "nope"),
    "template in another language": (broken("template.language.code", "de", TEMPLATE), 132001,
                                      "de"),
    "template without language": (broken("template.language", ..., TEMPLATE), 131008,
                                   "template.language"),
    "one body parameter short": (broken("template.components.1.parameters.1", ..., TEMPLATE),
                                 132000, "body"),
    "header parameter missing": (broken("template.components.0", {"type": "header",
                                        "parameters": []}, TEMPLATE), 132000, "header"),
    "url button parameter missing": (broken("template.components.2.parameters", [], TEMPLATE),
                                     132000, "button 0"),
    "wrong button sub_type": (broken("template.components.2.sub_type", "quick_reply", TEMPLATE),
                              131009, "sub_type"),
    "media header missing": (broken("template.components.0", ...,
                                    ACCEPTED["template with image header"]), 132000, "header"),
    "media header of the wrong type": (broken("template.components.0.parameters.0.type", "video",
                                              ACCEPTED["template with image header"]), 132012,
                                       "image"),
    "reaction without message_id": (message("reaction", {"emoji": "x"}), 131008,
                                    "reaction.message_id"),
    "context without message_id": (broken("context.message_id", ...,
                                          ACCEPTED["reply with context"]), 131008,
                                   "context.message_id"),
}  # fmt: skip


@pytest.mark.parametrize(("body", "code", "named"), REJECTED.values(), ids=REJECTED.keys())
async def test_a_broken_request_gets_metas_error_naming_the_field(
    client: httpx.AsyncClient, sim: CloudApiSimulator, body: dict[str, Any], code: int, named: str
) -> None:
    response = await client.post(MESSAGES, json=body)
    error = response.json()["error"]
    assert (error["code"], response.status_code) == (code, 404 if code == 132001 else 400)
    assert named in error["error_data"]["details"] or named in error["message"]
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    assert sim.sent_bodies() == []


async def test_marking_read_with_the_typing_indicator(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in",
            "typing_indicator": {"type": "text"}}  # fmt: skip
    response = await client.post(MESSAGES, json=body)
    assert (response.status_code, response.json()) == (200, {"success": True})
    missing_id = await client.post(MESSAGES, json={**body, "message_id": ""})
    assert missing_id.json()["error"]["code"] == 100
    wrong = await client.post(MESSAGES, json={**body, "typing_indicator": {"type": "audio"}})
    assert wrong.json()["error"]["code"] == 131009
    await sim.drain()
    assert sim.webhooks.deliveries == []


async def test_the_bearer_token_is_checked(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer someone-else"}):
        response = await client.post(MESSAGES, json=ACCEPTED["text"], headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 190
    assert TOKEN not in str([r.as_json() for r in sim.requests])
    assert sim.sent_bodies() == []


async def test_status_webhooks_arrive_signed_in_order(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    wamid = (await client.post(MESSAGES, json=ACCEPTED["text"])).json()["messages"][0]["id"]
    received = await receiver.wait_for(3)
    assert all(item.signed for item in received)
    statuses = receiver.statuses()
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["id"] for s in statuses} == {wamid}
    assert {s["recipient_id"] for s in statuses} == {CUSTOMER}
    assert statuses[0]["pricing"]["category"] == "service"
    assert statuses[0]["conversation"]["origin"]["type"] == "service"
    body = received[0].body
    assert body["object"] == "whatsapp_business_account"
    assert body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == NUMBER


async def test_a_bsuid_recipient_gets_recipient_user_id_and_a_chosen_failure(
    client: httpx.AsyncClient, sim: CloudApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.set_outcome("failed", recipient=BSUID, error_code=131026)
    body = {**broken("to", ..., ACCEPTED["text"]), "recipient": BSUID}
    assert (await client.post(MESSAGES, json=body)).status_code == 200
    await receiver.wait_for(1)
    [status] = receiver.statuses()
    assert (status["status"], status["recipient_user_id"]) == ("failed", BSUID)
    assert "recipient_id" not in status
    assert status["errors"][0]["code"] == 131026
    assert {"title", "message", "error_data", "href"} <= status["errors"][0].keys()


async def test_outside_a_known_customers_window_free_form_fails_and_templates_pass(
    client: httpx.AsyncClient, sim: CloudApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.set_window(CUSTOMER, open_=False)
    assert (await client.post(MESSAGES, json=ACCEPTED["text"])).status_code == 200
    assert (await client.post(MESSAGES, json=TEMPLATE)).status_code == 200
    await sim.drain()
    by_status = {s["status"]: s for s in receiver.statuses()}
    assert by_status["failed"]["errors"][0]["code"] == 131047
    assert by_status["read"]["pricing"]["category"] == "utility"
    await sim.customer_sends(inbound.text("hi again"), phone=CUSTOMER)  # reopens the window
    receiver.received.clear()
    await client.post(MESSAGES, json=ACCEPTED["text"])
    await sim.drain()
    assert [s["status"] for s in receiver.statuses()] == ["sent", "delivered", "read"]


async def test_webhook_failures_are_retried_and_never_stop_the_simulator() -> None:
    async with receiving(SECRET, fail_first=2) as flaky:
        simulator = CloudApiSimulator(access_tokens=[TOKEN], app_secret=SECRET,
                                      webhook_url=flaky.url)  # fmt: skip
        simulator.set_outcome("sent")
        async with running(simulator) as served, httpx.AsyncClient(headers=AUTH) as http:
            await http.post(f"{served.base_url}{MESSAGES}", json=ACCEPTED["text"])
            await served.drain()
            assert [d.attempts for d in served.webhooks.deliveries] == [3]
            assert flaky.statuses()[0]["status"] == "sent"
    unreachable = CloudApiSimulator(
        access_tokens=[TOKEN], app_secret=SECRET, webhook_url="http://127.0.0.1:9/nowhere",
        webhook_backoff=0.01,
    )  # fmt: skip
    async with running(unreachable) as served, httpx.AsyncClient(headers=AUTH) as http:
        first = await http.post(f"{served.base_url}{MESSAGES}", json=ACCEPTED["text"])
        await served.drain()
        second = await http.post(f"{served.base_url}{MESSAGES}", json=ACCEPTED["text"])
        assert (first.status_code, second.status_code) == (200, 200)
        assert not served.webhooks.deliveries[0].ok
        assert served.webhooks.deliveries[0].attempts == 4


# -- faults ---------------------------------------------------------------------------------


async def send_codes(client: httpx.AsyncClient, times: int, to: str = CUSTOMER) -> list[int]:
    codes = []
    for _ in range(times):
        response = await client.post(MESSAGES, json={**ACCEPTED["text"], "to": to})
        codes.append(response.json()["error"]["code"] if response.status_code != 200 else 200)
    return codes


async def test_an_error_on_the_nth_attempt_for_one_recipient(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.fail(131000, recipient=CUSTOMER, on_attempt=2)
    assert await send_codes(client, 3) == [200, 131000, 200]
    assert await send_codes(client, 2, to="15550000001") == [200, 200]


async def test_an_error_on_every_attempt_with_metas_http_status(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.fail(190)
    response = await client.post(MESSAGES, json=ACCEPTED["text"])
    assert (response.status_code, response.json()["error"]["code"]) == (401, 190)
    sim.clear_faults()
    sim.fail(131016)
    assert (await client.post(MESSAGES, json=ACCEPTED["text"])).status_code == 503


@pytest.mark.parametrize("code", [130429, 80007, 4])
async def test_a_429_burst_for_the_next_n_requests(
    client: httpx.AsyncClient, sim: CloudApiSimulator, code: int
) -> None:
    sim.throttle(3, code=code)
    statuses = [(await client.post(MESSAGES, json=ACCEPTED["text"])) for _ in range(4)]
    assert [r.status_code for r in statuses] == [429, 429, 429, 200]
    assert statuses[0].json()["error"]["code"] == code


async def test_latency_delays_the_answer(client: httpx.AsyncClient, sim: CloudApiSimulator) -> None:
    sim.delay(0.3, count=1)
    started = time.monotonic()
    assert (await client.post(MESSAGES, json=ACCEPTED["text"])).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await client.post(MESSAGES, json=ACCEPTED["text"])
    assert time.monotonic() - started < 0.3


async def test_a_timeout_holds_the_request_past_the_clients_patience(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.hold(on_attempt=1)
    sim.hold(on_attempt=2, accept=True)
    for _ in range(2):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(MESSAGES, json=ACCEPTED["text"], timeout=0.5)
    # The second was taken before its answer was lost: the ambiguous case.
    assert [r.outcome for r in sim.requests] == ["held", "accepted then held"]
    assert len(sim.sent_bodies()) == 1


async def test_a_dropped_connection_gets_no_answer(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.drop(count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(MESSAGES, json=ACCEPTED["text"])
    assert (await client.post(MESSAGES, json=ACCEPTED["text"])).status_code == 200
    assert [r.status for r in sim.requests] == [0, 200]


async def test_faults_from_the_control_endpoint(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    created = await client.post("/_simulator/faults", json={
        "kind": "error", "code": 131026, "recipient": CUSTOMER, "on_attempt": 1})  # fmt: skip
    assert created.status_code == 201
    await client.post("/_simulator/faults", json={"kind": "throttle", "count": 1,
                                                  "recipient": "15550000001"})  # fmt: skip
    assert await send_codes(client, 2) == [131026, 200]
    assert await send_codes(client, 2, to="15550000001") == [130429, 200]
    listed = (await client.get("/_simulator/faults")).json()["faults"]
    assert [f["fired"] for f in listed] == [1, 1]
    bad = await client.post("/_simulator/faults", json={"kind": "error", "code": 999999})
    assert bad.status_code == 400
    assert "code" in bad.json()["message"]
    assert (await client.delete("/_simulator/faults")).json() == {"faults": []}


# -- request log, reset ------------------------------------------------------------------------


async def test_the_request_log_keeps_order_bodies_and_times(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    for text in ("one", "two", "three"):
        await client.post(MESSAGES, json=message("text", {"body": text}))
    await client.post(MESSAGES, json=message("text", {"body": ""}))
    log = (await client.get("/_simulator/requests")).json()["requests"]
    assert [r["body"]["text"]["body"] for r in log] == ["one", "two", "three", ""]
    assert [r["status"] for r in log] == [200, 200, 200, 400]
    assert all(r["method"] == "POST" and r["path"] == MESSAGES for r in log)
    assert [r["received_at"] for r in log] == sorted(r["received_at"] for r in log)
    stats = (await client.get("/_simulator/stats")).json()
    assert stats == {"requests": 4, "accepted_sends": 3, "max_sends_in_one_second": 3}
    assert (await client.post("/_simulator/reset")).status_code == 200
    assert (await client.get("/_simulator/requests")).json()["requests"] == []


async def test_the_busiest_second_counts_only_accepted_sends_within_one_second() -> None:
    now = [1000.0]
    simulator = CloudApiSimulator(access_tokens=[TOKEN], app_secret=SECRET, clock=lambda: now[0])
    async with running(simulator) as served, httpx.AsyncClient(headers=AUTH) as http:
        for at in (1000.0, 1000.5, 1000.99, 1001.0, 1001.2, 1003.0):
            now[0] = at
            await http.post(f"{served.base_url}{MESSAGES}", json=ACCEPTED["text"])
        assert served.state.max_sends_in_one_second() == 4  # 1000.5 .. 1001.2


# -- media ------------------------------------------------------------------------------------


async def test_media_upload_url_and_download(client: httpx.AsyncClient) -> None:
    content = b"%PDF-1.7 fake but fine"
    upload = await client.post(
        f"/v23.0/{NUMBER}/media",
        data={"messaging_product": "whatsapp", "type": "application/pdf"},
        files={"file": ("invoice.pdf", content, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["id"]
    info = (await client.get(f"/v23.0/{media_id}")).json()
    assert info["id"] == media_id
    assert (info["mime_type"], info["file_size"]) == ("application/pdf", len(content))
    assert info["messaging_product"] == "whatsapp"
    assert len(info["sha256"]) == 64
    download = await client.get(info["url"])
    assert (download.status_code, download.content) == (200, content)
    assert download.headers["content-type"] == "application/pdf"
    assert (await client.get(info["url"], headers={"Authorization": ""})).status_code == 401
    sent = await client.post(MESSAGES, json=message("document", {"id": media_id}))
    assert sent.status_code == 200


async def test_media_upload_rules(client: httpx.AsyncClient) -> None:
    def upload(mime: str, size: int, product: str = "whatsapp") -> Any:
        return client.post(f"/v23.0/{NUMBER}/media", data={"messaging_product": product},
                           files={"file": ("f", b"x" * size, mime)})  # fmt: skip

    assert (await upload("application/x-msdownload", 10)).json()["error"]["code"] == 131053
    too_big = await upload("image/jpeg", 5 * 1024 * 1024 + 1)
    assert too_big.json()["error"]["code"] == 131053
    assert (await upload("image/jpeg", 10, product="sms")).json()["error"]["code"] == 100
    unknown = await client.get("/v23.0/424242")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, 100)


# -- templates --------------------------------------------------------------------------------


async def test_templates_create_list_in_pages_and_delete(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    path = "/v23.0/555000111/message_templates"
    for i in range(5):
        created = await client.post(path, json={
            "name": f"promo_{i}", "language": "en_US", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Sale {{1}}"}]})  # fmt: skip
        assert created.status_code == 200, created.text
        assert created.json()["status"] == "APPROVED"
    duplicate = await client.post(path, json={"name": "promo_0", "language": "en_US",
        "category": "MARKETING", "components": [{"type": "BODY", "text": "x"}]})  # fmt: skip
    assert duplicate.json()["error"]["code"] == 100
    names: list[str] = []
    page = (await client.get(path, params={"limit": 3})).json()
    names += [t["name"] for t in page["data"]]
    while "next" in page["paging"]:
        page = (await client.get(page["paging"]["next"])).json()
        names += [t["name"] for t in page["data"]]
    assert len(names) == len(set(names)) == 9  # four seeded by the fixture, five new
    assert page["paging"]["cursors"]["after"]
    after = page["paging"]["cursors"]["after"]
    assert (await client.get(path, params={"after": after})).json()["data"] == []
    assert (await client.delete(path, params={"name": "promo_0"})).json() == {"success": True}
    assert sim.state.find_template("promo_0", "en_US") is None
    assert (await client.delete(path, params={"name": "promo_0"})).json()["error"]["code"] == 100
    parameters = [{"type": "text", "text": "-20%"}]
    sent = await client.post(MESSAGES, json=message("template", {
        "name": "promo_1", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": parameters}]}))  # fmt: skip
    assert sent.status_code == 200


async def test_a_template_not_approved_cannot_be_sent(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.add_template("pending_one", "en_US", [{"type": "BODY", "text": "x"}], status="PENDING")
    sim.add_template("paused_one", "en_US", [{"type": "BODY", "text": "x"}], status="PAUSED")
    codes = []
    for name in ("pending_one", "paused_one"):
        body = message("template", {"name": name, "language": {"code": "en_US"}})
        codes.append((await client.post(MESSAGES, json=body)).json()["error"]["code"])
    assert codes == [132001, 132015]


# -- playing a customer -------------------------------------------------------------------------


INBOUND: dict[str, Callable[[CloudApiSimulator], dict[str, Any]]] = {
    "text": lambda _: inbound.text("hello", reply_to="wamid.out"),
    "image": lambda s: inbound.media("image", s.add_media(b"img", "image/jpeg").id, "image/jpeg",
                                     caption="look"),
    "location": lambda _: inbound.location(48.85, 2.35, name="Paris"),
    "contacts": lambda _: inbound.contacts("Ana Lima", "15557654321", origin="contact_request"),
    "button reply": lambda _: inbound.button_reply("yes", "Yes", reply_to="wamid.out"),
    "list reply": lambda _: inbound.list_reply("r1", "Row", reply_to="wamid.out"),
    "template button": lambda _: inbound.template_button("stop", "Stop", reply_to="wamid.out"),
    "reaction": lambda _: inbound.reaction("wamid.out", "\u2764\ufe0f"),
    "order": lambda _: inbound.order("cat1", [("sku-1", 2, 9.5, "EUR")]),
    "system": lambda _: inbound.system_number_change("15559990000"),
}  # fmt: skip


@pytest.mark.parametrize("build", INBOUND.values(), ids=INBOUND.keys())
async def test_playing_a_customer_posts_a_signed_inbound_message(
    sim: CloudApiSimulator, receiver: WebhookReceiver, build: Callable[[CloudApiSimulator], Any]
) -> None:
    sent = build(sim)
    wamid, delivery = await sim.customer_sends(sent, phone=CUSTOMER, name="Ana")
    assert delivery.ok
    [received] = await receiver.wait_for(1)
    assert received.signed
    value = received.body["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}]
    [got] = value["messages"]
    assert (got["id"], got["from"], got["type"]) == (wamid, CUSTOMER, sent["type"])
    expected = sent[sent["type"]]
    if isinstance(expected, dict) and "sha256" in expected:  # filled in from the stored file
        expected = {**expected, "sha256": got[sent["type"]]["sha256"]}
    assert got[sent["type"]] == expected
    if "context" in sent:
        assert got["context"]["id"] == "wamid.out"


async def test_a_bsuid_only_customer_through_the_control_endpoint(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    response = await client.post("/_simulator/customer-messages",
                                 json={"user_id": BSUID, "text": "hi", "name": "Bo"})  # fmt: skip
    assert response.json()["webhook_status"] == 200
    [received] = await receiver.wait_for(1)
    value = received.body["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Bo"}, "user_id": BSUID}]
    assert "from" not in value["messages"][0]
    assert value["messages"][0]["from_user_id"] == BSUID
    bad = await client.post("/_simulator/customer-messages", json={"text": "no sender"})
    assert bad.status_code == 400


async def test_outcomes_windows_and_templates_from_the_control_endpoints(
    client: httpx.AsyncClient, sim: CloudApiSimulator, receiver: WebhookReceiver
) -> None:
    outcome = {"final": "delivered", "recipient": "+1 555 123 4567"}
    assert (await client.put("/_simulator/outcome", json=outcome)).status_code == 200
    sent = await client.post(MESSAGES, json={**TEXT, "biz_opaque_callback_data": "ticket-7"})
    assert sent.status_code == 200
    await sim.drain()
    assert [s["status"] for s in receiver.statuses()] == ["sent", "delivered"]
    assert {s["biz_opaque_callback_data"] for s in receiver.statuses()} == {"ticket-7"}
    webhooks = (await client.get("/_simulator/webhooks")).json()["webhooks"]
    assert [w["status_code"] for w in webhooks] == [200, 200]
    window = {"customer": CUSTOMER, "open": False}
    assert (await client.put("/_simulator/window", json=window)).status_code == 200
    seeded = await client.post("/_simulator/templates", json={
        "name": "welcome", "language": "pt_BR", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Oi"}]})  # fmt: skip
    assert seeded.status_code == 201
    template = {"name": "welcome", "language": {"code": "pt_BR"}}
    assert (await client.post(MESSAGES, json=message("template", template))).status_code == 200
    await sim.drain()
    receiver.received.clear()
    await client.post(MESSAGES, json=TEXT)
    await sim.drain()
    assert [s["status"] for s in receiver.statuses()][-1] == "failed"
    bad = await client.put("/_simulator/outcome", json={"final": "failed"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_control_request")
    assert (await client.get("/_simulator/nothing")).status_code == 404


async def test_a_number_bound_to_its_business_token_refuses_another_token(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.bind_token(NUMBER, "acme-token")
    theirs = await client.post(MESSAGES, json=TEXT)  # the fixture's token, another business's
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (400, 100)
    assert theirs.json()["error"]["error_subcode"] == 33
    ours = await client.post(MESSAGES, json=TEXT, headers={"Authorization": "Bearer acme-token"})
    assert ours.status_code == 200


async def test_a_played_customers_media_can_be_fetched_the_way_meta_serves_it(
    client: httpx.AsyncClient, sim: CloudApiSimulator, receiver: WebhookReceiver
) -> None:
    photo = sim.add_media(b"\xff\xd8jpeg-bytes", "image/jpeg")
    await sim.customer_sends(inbound.media("image", photo.id, "image/jpeg"), phone=CUSTOMER)
    [received] = await receiver.wait_for(1)
    image = received.body["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    assert image["sha256"] == photo.sha256
    info = (await client.get(f"/v23.0/{image['id']}")).json()
    assert (await client.get(info["url"])).content == b"\xff\xd8jpeg-bytes"


async def test_a_bare_http_error_without_a_graph_body(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.fail(None, http_status=502, count=1)
    response = await client.post(MESSAGES, json=TEXT)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert (await client.post(MESSAGES, json=TEXT)).status_code == 200


async def test_an_error_fault_can_replay_metas_own_words(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.fail(131047, on_attempt=1, message="(#131047) Re-engagement message",
             details="More than 24 hours have passed")  # fmt: skip
    created = await client.post("/_simulator/faults", json={
        "kind": "error", "code": 987654, "http_status": 400, "on_attempt": 2,
        "message": "(#987654) A brand new refusal", "details": "new"})  # fmt: skip
    assert created.status_code == 201
    assert (created.json()["message"], created.json()["details"]) == (
        "(#987654) A brand new refusal", "new")  # fmt: skip
    first = await client.post(MESSAGES, json=TEXT)
    second = await client.post(MESSAGES, json=TEXT)
    assert first.status_code == 400
    assert first.json()["error"]["message"] == "(#131047) Re-engagement message"
    assert first.json()["error"]["error_data"]["details"] == "More than 24 hours have passed"
    assert (second.status_code, second.json()["error"]["code"]) == (400, 987654)
    assert second.json()["error"]["message"] == "(#987654) A brand new refusal"
    # A code outside the catalog needs its HTTP status and message: nothing else knows them.
    bad = await client.post("/_simulator/faults", json={"kind": "error", "code": 987654})
    assert bad.status_code == 400
    assert "http_status and message" in bad.json()["message"]


async def test_the_request_log_keeps_headers_and_answers_in_process_only(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    sim.fail(131026, on_attempt=2)
    ok = await client.post(MESSAGES, json=TEXT)
    refused = await client.post(MESSAGES, json=TEXT)
    accepted, failed = sim.requests
    assert accepted.headers["authorization"] == f"Bearer {TOKEN}"
    assert accepted.headers["content-type"] == "application/json"
    assert (accepted.answer, failed.answer) == (ok.json(), refused.json())
    listed = (await client.get("/_simulator/requests")).json()["requests"]
    assert "headers" not in listed[0]
    assert TOKEN not in str(listed) + repr(sim.requests)


async def test_media_can_be_seeded_under_a_chosen_id(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    media = sim.add_media(b"\x89PNG", "image/png", media_id="998")
    assert media.id == "998"
    assert (await client.post(MESSAGES, json=message("image", {"id": "998"}))).status_code == 200
    assert (await client.get("/v23.0/998")).json()["mime_type"] == "image/png"


async def test_a_success_that_names_no_message_id(
    client: httpx.AsyncClient, sim: CloudApiSimulator, receiver: WebhookReceiver
) -> None:
    sim.omit_message_id(on_attempt=1)
    sim.omit_message_id(on_attempt=2, accept=True)
    sim.omit_message_id(on_attempt=3, accept=True)
    empty = message("text", {"body": ""})  # refused as it is: a refusal is no success
    answers = [await client.post(MESSAGES, json=body) for body in (TEXT, TEXT, empty)]
    assert [a.status_code for a in answers] == [200, 200, 400]
    assert answers[0].json() == {"messaging_product": "whatsapp"}
    assert answers[1].json() == {"messaging_product": "whatsapp",
                                 "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}]}  # fmt: skip
    assert [r.outcome for r in sim.requests] == [
        "no message id", "accepted without message id", "error 131009"]  # fmt: skip
    # Only the second was taken: its status webhooks follow, for a message its sender cannot name.
    assert len(sim.sent_bodies()) == 1
    await sim.drain()
    assert {s["id"] for s in receiver.statuses()} == {sim.requests[1].wamid}
    created = await client.post("/_simulator/faults", json={"kind": "no_message_id", "count": 1})
    assert created.status_code == 201
    assert (await client.post(MESSAGES, json=TEXT)).json() == {"messaging_product": "whatsapp"}


async def test_a_coupon_as_metas_own_example_writes_it(client: httpx.AsyncClient) -> None:
    coupon = {"type": "button", "sub_type": "COPY_CODE", "index": 2,
              "parameters": [{"type": "coupon_code", "coupon_code": "A" * 20}]}  # fmt: skip
    template = order_template()
    template["components"][4] = coupon
    assert (await client.post(MESSAGES, json=message("template", template))).status_code == 200
    coupon["parameters"][0]["coupon_code"] = "A" * 21
    refused = (await client.post(MESSAGES, json=message("template", template))).json()["error"]
    assert refused["code"] == 131009
    assert "coupon_code" in refused["error_data"]["details"]


async def test_a_phone_number_it_serves_is_described_with_the_fields_asked(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    asked = await client.get(
        f"/v23.0/{NUMBER}", params={"fields": "display_phone_number,verified_name,quality_rating"}
    )
    sim.describe_number(NUMBER, verified_name="Acme", quality_rating="RED")
    described = await client.get(f"/v23.0/{NUMBER}", params={"fields": "verified_name"})
    default = await client.get(f"/v23.0/{NUMBER}")

    assert asked.status_code == 200
    assert asked.json() == {"display_phone_number": "+1 555-000-0000",
                            "verified_name": "Simulated Business", "quality_rating": "GREEN",
                            "id": NUMBER}  # fmt: skip
    assert described.json() == {"verified_name": "Acme", "id": NUMBER}
    assert {"verified_name", "display_phone_number", "quality_rating", "code_verification_status",
            "platform_type", "throughput", "id"} == set(default.json())  # fmt: skip
    with pytest.raises(ValueError, match="quality_rating"):
        sim.describe_number(NUMBER, quality_rating="PURPLE")


async def test_a_phone_number_lookup_is_refused_as_meta_refuses_it(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    unknown_field = await client.get(f"/v23.0/{NUMBER}", params={"fields": "colour"})
    no_token = await client.get(f"/v23.0/{NUMBER}", headers={"Authorization": ""})
    bad_token = await client.get(f"/v23.0/{NUMBER}", headers={"Authorization": "Bearer nope"})
    unknown = await client.get("/v23.0/999888777666")  # neither a number it serves nor a file
    sim.bind_token(NUMBER, "another-business-token")
    not_this_tokens = await client.get(f"/v23.0/{NUMBER}")

    assert (unknown_field.status_code, unknown_field.json()["error"]["code"]) == (400, 100)
    assert "nonexisting field (colour)" in unknown_field.json()["error"]["message"]
    for refused in (no_token, bad_token):
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, 190)
    for missing in (unknown, not_this_tokens):
        error = missing.json()["error"]
        assert (missing.status_code, error["code"], error["error_subcode"]) == (400, 100, 33)


async def test_subscribed_apps_lists_one_app_until_unsubscribed(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    edge = f"/v23.0/{sim.business.waba_id}/subscribed_apps"
    subscribed = (await client.get(edge)).json()
    assert (await client.delete(edge)).json() == {"success": True}
    after_delete = (await client.get(edge)).json()
    assert (await client.post(edge)).json() == {"success": True}
    resubscribed = (await client.get(edge)).json()
    sim.set_webhooks_subscribed(False)
    by_method = (await client.get(edge)).json()
    bad = await client.get(edge, headers={"Authorization": "Bearer nope"})

    [app] = subscribed["data"]
    assert app["whatsapp_business_api_data"]["name"] == "WazyBot Simulator"
    assert after_delete == {"data": []}
    assert resubscribed == subscribed
    assert by_method == {"data": []}
    assert (bad.status_code, bad.json()["error"]["code"]) == (401, 190)
    sim.reset()
    assert (await client.get(edge)).json() == subscribed


async def test_the_subscription_from_the_control_endpoint(
    client: httpx.AsyncClient, sim: CloudApiSimulator
) -> None:
    edge = f"/v23.0/{sim.business.waba_id}/subscribed_apps"
    wrong = await client.put("/_simulator/subscribed-apps", json={"subscribed": "no"})
    off = await client.put("/_simulator/subscribed-apps", json={"subscribed": False})

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_control_request")
    assert off.json() == {"subscribed": False}
    assert (await client.get("/_simulator/subscribed-apps")).json() == {"subscribed": False}
    assert (await client.get(edge)).json() == {"data": []}


async def test_only_the_accounts_it_knows_have_subscriptions() -> None:
    simulator = CloudApiSimulator(access_tokens=[TOKEN], app_secret=SECRET,
                                  waba_ids=["102290129340398"])  # fmt: skip
    async with (
        running(simulator) as sim,
        httpx.AsyncClient(base_url=str(sim.base_url), headers=AUTH) as http,
    ):
        known = await http.get("/v23.0/102290129340398/subscribed_apps")
        unknown = await http.get("/v23.0/100000000000777/subscribed_apps")

    assert known.status_code == 200
    error = unknown.json()["error"]
    assert (unknown.status_code, error["code"], error["error_subcode"]) == (400, 100, 33)
