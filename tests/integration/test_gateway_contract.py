"""One contract for every WhatsAppGateway: the in-memory fake and the Graph adapter over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest

from adapters.memory.gateway import InMemoryWhatsAppGateway
from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.gateway import AccessToken, GatewayError, Sender
from application.ports import WhatsAppGateway
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
    TextMessage,
)
from domain.whatsapp_errors import ErrorClass, Transport

SENDER = Sender(phone_number_id="106540352242922", access_token=AccessToken("EAAG-contract"))
ADA = Recipient(phone_number="15551230001")
BOB = Recipient(phone_number="15551230002")
BSUID_ONLY = Recipient(user_id="US.13491208655302741918")


class Harness(Protocol):
    gateway: WhatsAppGateway

    def fail(self, code: int | None, *, recipient: str | None = None,
             on_attempt: int | None = None, http_status: int = 400, message: str = "",
             details: str = "") -> None: ...  # fmt: skip

    def lose_answer(self, *, recipient: str) -> None:
        """Meta receives the request, but its answer never comes back."""

    def delivered_to(self, recipient: str) -> int:
        """How many messages (not read receipts) reached 'Meta' for this recipient."""
        ...

    def read_wamids(self) -> list[str]: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = InMemoryWhatsAppGateway()
        self.gateway: WhatsAppGateway = self.fake

    def fail(self, code: int | None, *, recipient: str | None = None,
             on_attempt: int | None = None, http_status: int = 400, message: str = "",
             details: str = "") -> None:  # fmt: skip
        self.fake.fail(code, recipient=recipient, on_attempt=on_attempt, http_status=http_status,
                       meta_message=message or None, details=details or None)  # fmt: skip

    def lose_answer(self, *, recipient: str) -> None:
        self.fake.fail_transport(Transport.NO_ANSWER, recipient=recipient)

    def delivered_to(self, recipient: str) -> int:
        return len(self.fake.sent_to(recipient))

    def read_wamids(self) -> list[str]:
        return [read.wamid for read in self.fake.reads]


class HttpHarness:
    """The Graph adapter over real HTTP against the Cloud API simulator."""

    def __init__(self, sim: CloudApiSimulator, gateway: GraphWhatsAppGateway) -> None:
        self.sim = sim
        self.gateway: WhatsAppGateway = gateway

    def fail(self, code: int | None, *, recipient: str | None = None,
             on_attempt: int | None = None, http_status: int = 400, message: str = "",
             details: str = "") -> None:  # fmt: skip
        self.sim.fail(code, recipient=recipient, on_attempt=on_attempt,
                      count=None if on_attempt else 1, http_status=http_status,
                      message=message or None, details=details or None)  # fmt: skip

    def lose_answer(self, *, recipient: str) -> None:
        self.sim.drop(recipient=recipient, count=1, accept=True)

    def delivered_to(self, recipient: str) -> int:
        return sum(1 for r in self.sim.requests if r.recipient == recipient and r.wamid)

    def read_wamids(self) -> list[str]:
        return [r.body["message_id"] for r in self.sim.requests if r.outcome == "read receipt"]


# What the simulator must know for EVERY_KIND's template to be sent: approved templates
# and uploaded media, as at Meta.
TEMPLATES: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("order_shipped", "fr", [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Votre commande est partie."},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Suivre", "url": "https://shop.example/track/{{1}}"},
        ]},
    ]),
]  # fmt: skip


@pytest.fixture(params=["memory", "http"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    simulator = CloudApiSimulator(access_tokens=[], app_secret="contract-secret")
    simulator.bind_token(SENDER.phone_number_id, SENDER.access_token.value)
    for name, language, components in TEMPLATES:
        simulator.add_template(name, language, components)
    simulator.add_media(b"\x89PNG contract", "image/png", media_id="998")
    client = create_graph_client(connect_timeout=2.0, read_timeout=5.0)
    try:
        async with running(simulator) as sim:
            assert sim.base_url is not None
            yield HttpHarness(sim, GraphWhatsAppGateway(client, sim.base_url, "v26.0"))
    finally:
        await client.aclose()


EVERY_KIND: list[OutboundMessage] = [
    TextMessage(body="Hello"),
    MediaMessage(media_type="image", link="https://example.test/a.png", caption="A"),
    ReplyButtonsMessage(body="Pick", buttons=(ReplyButton(id="y", title="Yes"),)),
    ListMessage(
        body="Menu", button="See", sections=(ListSection(rows=(ListRow(id="r", title="R"),)),)
    ),
    TemplateMessage(
        name="order_shipped",
        language="fr",
        header=TemplateMediaHeader(media_type="image", media_id="998"),
        buttons=(TemplateButton(index=0, sub_type="url", parameter="ord-1"),),
    ),
    ReactionMessage(message_id="wamid.IN1", emoji="\U0001f44d"),
    ContactRequestMessage(body="May we have your number?"),
]


async def test_a_send_returns_a_fresh_wamid_and_the_wa_id(harness: Harness) -> None:
    first = await harness.gateway.send(SENDER, ADA, TextMessage(body="one"))
    second = await harness.gateway.send(SENDER, ADA, TextMessage(body="two"))

    assert first.wamid.startswith("wamid.")
    assert first.wamid != second.wamid
    assert first.wa_id == "15551230001"
    assert harness.delivered_to("15551230001") == 2


async def test_a_bsuid_recipient_gets_no_wa_id(harness: Harness) -> None:
    accepted = await harness.gateway.send(SENDER, BSUID_ONLY, TextMessage(body="hi"))

    assert accepted.wamid.startswith("wamid.")
    assert accepted.wa_id is None
    assert harness.delivered_to("US.13491208655302741918") == 1


@pytest.mark.parametrize("message", EVERY_KIND, ids=lambda m: type(m).__name__)
async def test_every_kind_is_accepted(harness: Harness, message: OutboundMessage) -> None:
    accepted = await harness.gateway.send(SENDER, ADA, message)

    assert accepted.wamid.startswith("wamid.")
    assert harness.delivered_to(ADA.address) == 1


@pytest.mark.parametrize(
    ("code", "error_class", "retryable"),
    [
        (131000, ErrorClass.TRANSIENT, True),
        (130429, ErrorClass.THROUGHPUT, True),
        (131056, ErrorClass.PAIR_RATE, True),
        (131047, ErrorClass.PERMANENT, False),
        (132001, ErrorClass.PERMANENT, False),
        (190, ErrorClass.CRITICAL, False),
    ],
)
async def test_graph_errors_carry_their_classification(
    harness: Harness, code: int, error_class: ErrorClass, retryable: bool
) -> None:
    harness.fail(code, message=f"(#{code}) Something", details="more words")

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.send(SENDER, ADA, TextMessage(body="hi"))

    error = raised.value
    assert (error.code, error.error_class, error.retryable) == (code, error_class, retryable)
    assert error.http_status == 400
    assert error.meta_message == f"(#{code}) Something"
    assert error.details == "more words"
    assert error.fbtrace_id
    assert not error.ambiguous


async def test_an_answer_without_a_code_is_classified_by_status(harness: Harness) -> None:
    harness.fail(None, http_status=502)

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.send(SENDER, ADA, TextMessage(body="hi"))

    assert raised.value.error_class is ErrorClass.TRANSIENT
    assert raised.value.code is None
    assert raised.value.http_status == 502


async def test_failures_follow_the_recipient_and_the_attempt(harness: Harness) -> None:
    harness.fail(131056, recipient=ADA.address, on_attempt=2)

    await harness.gateway.send(SENDER, ADA, TextMessage(body="1"))
    await harness.gateway.send(SENDER, BOB, TextMessage(body="1"))
    await harness.gateway.send(SENDER, BOB, TextMessage(body="2"))
    with pytest.raises(GatewayError) as raised:
        await harness.gateway.send(SENDER, ADA, TextMessage(body="2"))
    await harness.gateway.send(SENDER, ADA, TextMessage(body="2 again"))

    assert raised.value.error_class is ErrorClass.PAIR_RATE
    assert harness.delivered_to(BOB.address) == 2


async def test_a_lost_answer_is_ambiguous_and_the_message_may_have_arrived(
    harness: Harness,
) -> None:
    harness.lose_answer(recipient=ADA.address)

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.send(SENDER, ADA, TextMessage(body="hi"))

    assert raised.value.ambiguous
    assert raised.value.retryable
    assert harness.delivered_to(ADA.address) == 1  # it did reach Meta: a retry would repeat it


async def test_mark_read(harness: Harness) -> None:
    await harness.gateway.mark_read(SENDER, "wamid.IN42")
    await harness.gateway.mark_read(SENDER, "wamid.IN43", typing_indicator=False)

    assert harness.read_wamids() == ["wamid.IN42", "wamid.IN43"]


async def test_mark_read_reports_errors(harness: Harness) -> None:
    harness.fail(190, message="(#190) Error validating access token")

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.mark_read(SENDER, "wamid.IN42")

    assert raised.value.code == 190
    assert raised.value.classification.notify_team
