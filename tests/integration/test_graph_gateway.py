"""The Graph API adapter over real HTTP: wire payloads, headers, timeouts, secrets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.gateway import AccessToken, GatewayError, Sender
from domain.outbound import (
    ContactRequestMessage,
    ListMessage,
    ListRow,
    ListSection,
    MediaMessage,
    OutboundMessage,
    ReactionMessage,
    Recipient,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
    TextMessage,
)
from domain.whatsapp_errors import ErrorClass
from domain.whatsapp_limits import check_message

TOKEN = "EAAGsecretTOKENvalue123"
SENDER = Sender(phone_number_id="106540352242922", access_token=AccessToken(TOKEN))
PHONE = Recipient(phone_number="15551234567")
BSUID = Recipient(user_id="US.13491208655302741918")
TO_PHONE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551234567"}
TO_BSUID = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "recipient": "US.13491208655302741918",
}


# The approved templates and uploaded media the wire cases refer to, as Meta would hold them.
TEMPLATES: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("order_shipped", "pt_BR", [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Oi {{1}}, o pedido {{2}} foi enviado."},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Rastrear", "url": "https://shop.example/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Parar"},
            {"type": "COPY_CODE", "example": "SAVE10"},
        ]},
    ]),
    ("promo", "en_US", [{"type": "HEADER", "format": "IMAGE"},
                        {"type": "BODY", "text": "This week only."}]),
    ("hello", "fr", [{"type": "HEADER", "format": "TEXT", "text": "Bonjour {{1}}"},
                     {"type": "BODY", "text": "Bienvenue."}]),
    ("hello_world", "en_US", [{"type": "BODY", "text": "Hello World"}]),
]  # fmt: skip
MEDIA_IDS = ("1234", "55", "77", "4490")


@pytest.fixture
async def sim() -> AsyncIterator[CloudApiSimulator]:
    simulator = CloudApiSimulator(access_tokens=[], app_secret="graph-test-secret")
    simulator.bind_token(SENDER.phone_number_id, TOKEN)  # no other token is taken for it
    for name, language, components in TEMPLATES:
        simulator.add_template(name, language, components)
    for media_id in MEDIA_IDS:
        simulator.add_media(b"media " + media_id.encode(), "image/jpeg", media_id=media_id)
    async with running(simulator) as served:
        yield served


@pytest.fixture
async def gateway(sim: CloudApiSimulator) -> AsyncIterator[GraphWhatsAppGateway]:
    assert sim.base_url is not None
    client = create_graph_client(connect_timeout=1.0, read_timeout=0.5)
    yield GraphWhatsAppGateway(client, sim.base_url, "v26.0")
    await client.aclose()


WIRE_CASES: list[tuple[str, Recipient, OutboundMessage, dict[str, Any]]] = [
    (
        "text",
        PHONE,
        TextMessage(body="Hello", preview_url=True),
        {**TO_PHONE, "type": "text", "text": {"preview_url": True, "body": "Hello"}},
    ),
    (
        "text-to-bsuid-quoting",
        BSUID,
        TextMessage(body="Yes", reply_to="wamid.IN1"),
        {
            **TO_BSUID,
            "context": {"message_id": "wamid.IN1"},
            "type": "text",
            "text": {"preview_url": False, "body": "Yes"},
        },
    ),
    (
        "image-by-id",
        PHONE,
        MediaMessage(media_type="image", media_id="1234", caption="Menu"),
        {**TO_PHONE, "type": "image", "image": {"id": "1234", "caption": "Menu"}},
    ),
    (
        "document-by-link",
        PHONE,
        MediaMessage(
            media_type="document", link="https://x.test/f.pdf", caption="Bill", filename="f.pdf"
        ),
        {
            **TO_PHONE,
            "type": "document",
            "document": {"link": "https://x.test/f.pdf", "caption": "Bill", "filename": "f.pdf"},
        },
    ),
    (
        "audio",
        PHONE,
        MediaMessage(media_type="audio", media_id="55"),
        {**TO_PHONE, "type": "audio", "audio": {"id": "55"}},
    ),
    (
        "video",
        PHONE,
        MediaMessage(media_type="video", link="https://x.test/v.mp4"),
        {**TO_PHONE, "type": "video", "video": {"link": "https://x.test/v.mp4"}},
    ),
    (
        "sticker",
        PHONE,
        MediaMessage(media_type="sticker", media_id="77"),
        {**TO_PHONE, "type": "sticker", "sticker": {"id": "77"}},
    ),
    (
        "reply-buttons",
        PHONE,
        ReplyButtonsMessage(
            body="Confirm?",
            header="Order 42",
            footer="Reply below",
            buttons=(ReplyButton(id="yes", title="Yes"), ReplyButton(id="no", title="No")),
        ),
        {
            **TO_PHONE,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "text", "text": "Order 42"},
                "body": {"text": "Confirm?"},
                "footer": {"text": "Reply below"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "no", "title": "No"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        PHONE,
        ListMessage(
            body="Our menu",
            button="See dishes",
            sections=(
                ListSection(
                    title="Starters",
                    rows=(ListRow(id="soup", title="Soup", description="Of the day"),),
                ),
                ListSection(title="Mains", rows=(ListRow(id="fish", title="Fish"),)),
            ),
        ),
        {
            **TO_PHONE,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Our menu"},
                "action": {
                    "button": "See dishes",
                    "sections": [
                        {
                            "title": "Starters",
                            "rows": [{"id": "soup", "title": "Soup", "description": "Of the day"}],
                        },
                        {"title": "Mains", "rows": [{"id": "fish", "title": "Fish"}]},
                    ],
                },
            },
        },
    ),
    (
        "template-media-header-and-buttons",
        PHONE,
        TemplateMessage(
            name="order_shipped",
            language="pt_BR",
            body_parameters=("Ada", "42"),
            header=TemplateMediaHeader(media_type="document", link="https://x.test/i.pdf"),
            buttons=(
                TemplateButton(index=0, sub_type="url", parameter="orders/42"),
                TemplateButton(index=1, sub_type="quick_reply", parameter="STOP"),
                TemplateButton(index=2, sub_type="copy_code", parameter="SAVE10"),
            ),
        ),
        {
            **TO_PHONE,
            "type": "template",
            "template": {
                "name": "order_shipped",
                "language": {"code": "pt_BR"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [
                            {"type": "document", "document": {"link": "https://x.test/i.pdf"}}
                        ],
                    },
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ada"},
                            {"type": "text", "text": "42"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "orders/42"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "1",
                        "parameters": [{"type": "payload", "payload": "STOP"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "copy_code",
                        "index": "2",
                        "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
                    },
                ],
            },
        },
    ),
    (
        "template-image-header-by-id",
        BSUID,
        TemplateMessage(
            name="promo",
            language="en_US",
            header=TemplateMediaHeader(media_type="image", media_id="4490"),
        ),
        {
            **TO_BSUID,
            "type": "template",
            "template": {
                "name": "promo",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"id": "4490"}}]}
                ],
            },
        },
    ),
    (
        "template-text-header-no-parameters",
        PHONE,
        TemplateMessage(name="hello", language="fr", header=TemplateTextHeader(text="Ada")),
        {
            **TO_PHONE,
            "type": "template",
            "template": {
                "name": "hello",
                "language": {"code": "fr"},
                "components": [{"type": "header", "parameters": [{"type": "text", "text": "Ada"}]}],
            },
        },
    ),
    (
        "template-bare",
        PHONE,
        TemplateMessage(name="hello_world", language="en_US"),
        {
            **TO_PHONE,
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        },
    ),
    (
        "reaction",
        PHONE,
        ReactionMessage(message_id="wamid.IN9", emoji="\U0001f44d"),
        {
            **TO_PHONE,
            "type": "reaction",
            "reaction": {"message_id": "wamid.IN9", "emoji": "\U0001f44d"},
        },
    ),
    (
        "reaction-removed",
        PHONE,
        ReactionMessage(message_id="wamid.IN9", emoji=""),
        {**TO_PHONE, "type": "reaction", "reaction": {"message_id": "wamid.IN9", "emoji": ""}},
    ),
    (
        "contact-request",
        BSUID,
        ContactRequestMessage(body="Share your number?"),
        {
            **TO_BSUID,
            "type": "interactive",
            "interactive": {
                "type": "request_contact_info",
                "body": {"text": "Share your number?"},
                "action": {"name": "request_contact_info"},
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("recipient", "message", "expected"),
    [case[1:] for case in WIRE_CASES],
    ids=[case[0] for case in WIRE_CASES],
)
async def test_wire_payload(
    sim: CloudApiSimulator,
    gateway: GraphWhatsAppGateway,
    recipient: Recipient,
    message: OutboundMessage,
    expected: dict[str, Any],
) -> None:
    accepted = await gateway.send(SENDER, recipient, message)  # so the simulator took it

    [request] = sim.requests
    assert request.body == expected
    assert (request.status, request.wamid) == (200, accepted.wamid)
    assert request.method == "POST"
    assert request.path == "/v26.0/106540352242922/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"


def _long(length: int, letter: str = "a") -> str:
    return letter * length


# Every kind at WhatsApp's limits as the domain checks them: whatever check_message lets
# through must be taken by the simulator, which checks as Meta does.
AT_THE_LIMITS: dict[str, OutboundMessage] = {
    "text": TextMessage(body=_long(4096), reply_to="wamid.IN1"),
    "caption": MediaMessage(media_type="document", media_id="1234", caption=_long(1024),
                            filename="statement.pdf"),
    "buttons": ReplyButtonsMessage(
        body=_long(1024), header=_long(60), footer=_long(60),
        buttons=tuple(ReplyButton(id=_long(256, str(i)), title=_long(20, str(i)))
                      for i in range(3)),
    ),
    "list": ListMessage(
        body=_long(1024), header=_long(60), footer=_long(60), button=_long(20),
        sections=tuple(
            ListSection(title=_long(24, str(s)), rows=tuple(
                ListRow(id=f"{s}{r}".ljust(200, "x"), title=_long(24), description=_long(72))
                for r in range(5)))
            for s in range(2)
        ),
    ),
    "contact-request": ContactRequestMessage(body=_long(1024)),
    "emoji-body": TextMessage(body="\U0001f600" * 2048),  # 4096 UTF-16 code units
    "coupon": TemplateMessage(
        name="order_shipped", language="pt_BR", body_parameters=(_long(1000), "42"),
        header=TemplateMediaHeader(media_type="document", media_id="4490"),
        buttons=(TemplateButton(index=0, sub_type="url", parameter="orders/42"),
                 TemplateButton(index=1, sub_type="quick_reply", parameter=_long(256)),
                 TemplateButton(index=2, sub_type="copy_code", parameter="A" * 20)),
    ),
    "reaction-with-modifiers": ReactionMessage(message_id="wamid.IN1",
                                               emoji="\U0001f44d\U0001f3fd"),
}  # fmt: skip


@pytest.mark.parametrize("message", AT_THE_LIMITS.values(), ids=AT_THE_LIMITS.keys())
async def test_every_kind_at_the_limits_is_taken(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway, message: OutboundMessage
) -> None:
    assert check_message(message) == message

    for recipient in (PHONE, BSUID):
        await gateway.send(SENDER, recipient, message)

    assert len(sim.sent_bodies()) == 2


async def test_mark_read_with_and_without_typing_indicator(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    await gateway.mark_read(SENDER, "wamid.IN1")
    await gateway.mark_read(SENDER, "wamid.IN2", typing_indicator=False)

    assert [r.body for r in sim.requests] == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1",
         "typing_indicator": {"type": "text"}},
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN2"},
    ]  # fmt: skip
    assert [r.outcome for r in sim.requests] == ["read receipt", "read receipt"]
    assert sim.requests[0].path == "/v26.0/106540352242922/messages"


async def test_graph_url_and_version_are_configurable(sim: CloudApiSimulator) -> None:
    client = create_graph_client()
    try:
        assert sim.base_url is not None
        gateway = GraphWhatsAppGateway(client, sim.base_url + "/", "/v25.0")
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))
    finally:
        await client.aclose()
    assert sim.requests[0].path == "/v25.0/106540352242922/messages"


async def test_error_fields_are_parsed(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.fail(131047, message="(#131047) Re-engagement message", details="More than 24 hours")

    with pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    error = raised.value
    fbtrace_id = sim.requests[0].answer["error"]["fbtrace_id"]
    assert (error.code, error.http_status, error.fbtrace_id) == (131047, 400, fbtrace_id)
    assert error.title == "Re-engagement message"
    assert error.meta_message == "(#131047) Re-engagement message"
    assert error.details == "More than 24 hours"
    assert error.error_class is ErrorClass.PERMANENT
    assert "template" in error.classification.reason


async def test_the_code_decides_not_the_status(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.fail(131026, on_attempt=1, http_status=500)
    sim.fail(131000, on_attempt=2, http_status=400)

    with pytest.raises(GatewayError) as first:
        await gateway.send(SENDER, PHONE, TextMessage(body="1"))
    with pytest.raises(GatewayError) as second:
        await gateway.send(SENDER, PHONE, TextMessage(body="2"))

    assert first.value.error_class is ErrorClass.PERMANENT
    assert second.value.error_class is ErrorClass.TRANSIENT


async def test_unknown_code_on_4xx_is_permanent_with_metas_message(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.fail(987654, http_status=400, message="(#987654) A brand new refusal")

    with pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    assert raised.value.error_class is ErrorClass.PERMANENT
    assert raised.value.classification.reason == "(#987654) A brand new refusal"


@pytest.mark.parametrize("taken", [False, True], ids=["before-meta-took-it", "after"])
async def test_a_slow_answer_is_an_ambiguous_timeout(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway, taken: bool
) -> None:
    sim.hold(seconds=5.0, accept=taken)

    started = time.monotonic()
    with pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    assert time.monotonic() - started < 3.0  # the read timeout (0.5 s) ended the wait
    assert raised.value.ambiguous
    assert raised.value.error_class is ErrorClass.TRANSIENT
    [request] = sim.requests  # the request did reach the server
    assert request.outcome == ("accepted then held" if taken else "held")
    assert len(sim.sent_bodies()) == int(taken)  # a retry repeats the message only if taken


@pytest.mark.parametrize("taken", [False, True], ids=["before-meta-took-it", "after"])
async def test_a_dropped_connection_after_the_request_is_ambiguous(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway, taken: bool
) -> None:
    sim.drop(count=1, accept=taken)

    with pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    assert raised.value.ambiguous
    assert raised.value.retryable
    [request] = sim.requests
    assert request.status == 0  # dropped, unanswered
    assert len(sim.sent_bodies()) == int(taken)


async def test_a_success_without_a_message_id_is_ambiguous(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.omit_message_id(count=1, accept=True)

    with pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    assert raised.value.ambiguous
    assert raised.value.http_status == 200


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_refused_connection_is_transient_and_not_ambiguous() -> None:
    client = create_graph_client(connect_timeout=1.0, read_timeout=1.0)
    try:
        gateway = GraphWhatsAppGateway(client, f"http://127.0.0.1:{_closed_port()}", "v26.0")
        with pytest.raises(GatewayError) as raised:
            await gateway.send(SENDER, PHONE, TextMessage(body="hi"))
    finally:
        await client.aclose()

    assert raised.value.error_class is ErrorClass.TRANSIENT
    assert not raised.value.ambiguous


@contextlib.contextmanager
def _unaccepting_listener() -> Iterator[int]:
    """A port whose accept queue is full: new connections hang in the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_connect_timeout_is_transient_and_not_ambiguous() -> None:
    client = create_graph_client(connect_timeout=0.3, read_timeout=5.0)
    try:
        with _unaccepting_listener() as port:
            gateway = GraphWhatsAppGateway(client, f"http://127.0.0.1:{port}", "v26.0")
            started = time.monotonic()
            with pytest.raises(GatewayError) as raised:
                await gateway.send(SENDER, PHONE, TextMessage(body="hi"))
            elapsed = time.monotonic() - started
    finally:
        await client.aclose()

    assert raised.value.details == "ConnectTimeout"
    assert elapsed < 3.0
    assert not raised.value.ambiguous
    assert raised.value.error_class is ErrorClass.TRANSIENT


def _adapter_logs(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """The adapter's own log lines (the in-process simulator logs its requests too)."""
    return [line for line in logs if str(line["event"]).startswith("whatsapp.")]


async def test_the_token_never_shows_in_errors_or_logs(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.fail(190, on_attempt=1, message=f"(#190) Invalid token {TOKEN}", details=f"token {TOKEN}")
    sim.drop(on_attempt=2)

    errors: list[GatewayError] = []
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            try:
                await gateway.send(SENDER, PHONE, TextMessage(body="hi"))
            except GatewayError as error:
                errors.append(error)

    assert len(errors) == 2
    texts = [str(e) + repr(e) + repr(vars(e)) for e in errors] + [repr(logs), repr(SENDER)]
    assert all(TOKEN not in text for text in texts)
    assert errors[0].classification.notify_team
    assert errors[0].meta_message == "(#190) Invalid token ***"
    assert _adapter_logs(logs)[0]["code"] == 190


async def test_malformed_request_codes_are_logged_as_errors(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    sim.fail(131009, message="(#131009) Parameter value is not valid")

    with structlog.testing.capture_logs() as logs, pytest.raises(GatewayError) as raised:
        await gateway.send(SENDER, PHONE, TextMessage(body="hi"))

    assert raised.value.classification.request_was_wrong
    assert _adapter_logs(logs)[0]["log_level"] == "error"


async def test_one_client_serves_concurrent_sends(
    sim: CloudApiSimulator, gateway: GraphWhatsAppGateway
) -> None:
    accepted = await asyncio.gather(
        *(gateway.send(SENDER, PHONE, TextMessage(body=str(i))) for i in range(20))
    )

    assert len({a.wamid for a in accepted}) == 20
    assert sorted(r.body["text"]["body"] for r in sim.requests) == sorted(str(i) for i in range(20))
