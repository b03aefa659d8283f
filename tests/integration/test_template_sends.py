"""Every template kind, checked by ``prepare_template`` against its stored components, then sent
through the Graph adapter over real HTTP to the simulator: the exact payload Meta reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.templates import InMemoryTemplateBook
from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.codec import EventCodec
from application.gateway import AccessToken, GatewayError, Sender
from application.templates import StoredTemplate, TemplateError, prepare_template
from domain.event_types import EVENT_TYPES
from domain.outbound import (
    Recipient,
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
)

SENDER = Sender(phone_number_id="106540352242922", access_token=AccessToken("EAAG-sends"))
ADA = Recipient(phone_number="15551230001")
BUSINESS = "acme"

# name -> (stored components, what a caller asks, the template object Meta must receive)
KINDS: dict[str, tuple[list[dict[str, Any]], TemplateMessage, dict[str, Any]]] = {
    "text_header_and_body": (
        [{"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
         {"type": "BODY", "text": "Your code {{1}} expires at {{2}}."}],
        TemplateMessage(name="text_header_and_body", language="en_US",
                        header=TemplateTextHeader(text="Ada"), body_parameters=("4821", "10:00")),
        {"name": "text_header_and_body", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "Ada"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "4821"},
                                            {"type": "text", "text": "10:00"}]}]},
    ),
    "image_header_by_link": (
        [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "New arrivals"}],
        TemplateMessage(name="image_header_by_link", language="fr",
                        header=TemplateMediaHeader(media_type="image",
                                                   link="https://acme.test/new.jpg")),
        {"name": "image_header_by_link", "language": {"code": "fr"}, "components": [
            {"type": "header", "parameters": [
                {"type": "image", "image": {"link": "https://acme.test/new.jpg"}}]}]},
    ),
    "video_header_by_id": (
        [{"type": "HEADER", "format": "VIDEO"}, {"type": "BODY", "text": "Watch {{1}}"}],
        TemplateMessage(name="video_header_by_id", language="en", body_parameters=("this",),
                        header=TemplateMediaHeader(media_type="video", media_id="10138596")),
        {"name": "video_header_by_id", "language": {"code": "en"}, "components": [
            {"type": "header", "parameters": [
                {"type": "video", "video": {"id": "10138596"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "this"}]}]},
    ),
    "document_header": (
        [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Your invoice"}],
        TemplateMessage(name="document_header", language="de",
                        header=TemplateMediaHeader(media_type="document",
                                                   link="https://acme.test/inv.pdf")),
        {"name": "document_header", "language": {"code": "de"}, "components": [
            {"type": "header", "parameters": [
                {"type": "document", "document": {"link": "https://acme.test/inv.pdf"}}]}]},
    ),
    "dynamic_url_button": (
        [{"type": "BODY", "text": "Order {{1}} shipped"},
         {"type": "BUTTONS", "buttons": [
             {"type": "URL", "text": "Track", "url": "https://acme.test/track/{{1}}"}]}],
        TemplateMessage(name="dynamic_url_button", language="en", body_parameters=("A-1",),
                        buttons=(TemplateButton(index=0, sub_type="url", parameter="A-1"),)),
        {"name": "dynamic_url_button", "language": {"code": "en"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "A-1"}]}]},
    ),
    "quick_replies": (
        [{"type": "BODY", "text": "Still interested?"},
         {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"},
                                         {"type": "QUICK_REPLY", "text": "No"}]}],
        TemplateMessage(name="quick_replies", language="en", buttons=(
            TemplateButton(index=1, sub_type="quick_reply", parameter="no-77"),
            TemplateButton(index=0, sub_type="quick_reply", parameter="yes-77"))),
        {"name": "quick_replies", "language": {"code": "en"}, "components": [
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "yes-77"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "1",
             "parameters": [{"type": "payload", "payload": "no-77"}]}]},
    ),
    "copy_code": (
        [{"type": "BODY", "text": "Use {{1}} for {{2}} off"},
         {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]}],
        TemplateMessage(name="copy_code", language="en", body_parameters=("FALL25", "25%"),
                        buttons=(TemplateButton(index=0, sub_type="copy_code",
                                                parameter="FALL25"),)),
        {"name": "copy_code", "language": {"code": "en"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "FALL25"},
                                            {"type": "text", "text": "25%"}]},
            {"type": "button", "sub_type": "copy_code", "index": "0",
             "parameters": [{"type": "coupon_code", "coupon_code": "FALL25"}]}]},
    ),
    "everything_with_fixed_parts": (
        [{"type": "HEADER", "format": "IMAGE"},
         {"type": "BODY", "text": "Hi {{1}}"}, {"type": "FOOTER", "text": "Acme"},
         {"type": "BUTTONS", "buttons": [
             {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
             {"type": "URL", "text": "Shop", "url": "https://acme.test/"},
             {"type": "URL", "text": "Order", "url": "https://acme.test/o/{{1}}"}]}],
        TemplateMessage(name="everything_with_fixed_parts", language="en",
                        header=TemplateMediaHeader(media_type="image", media_id="998"),
                        body_parameters=("Ada",),
                        buttons=(TemplateButton(index=2, sub_type="url", parameter="o-9"),)),
        {"name": "everything_with_fixed_parts", "language": {"code": "en"}, "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": "998"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
            {"type": "button", "sub_type": "url", "index": "2",
             "parameters": [{"type": "text", "text": "o-9"}]}]},
    ),
}  # fmt: skip


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[CloudApiSimulator, GraphWhatsAppGateway]]:
    sim = CloudApiSimulator(access_tokens=[], app_secret="sends-secret")
    sim.bind_token(SENDER.phone_number_id, SENDER.access_token.value)
    for components, message, _ in KINDS.values():
        sim.add_template(message.name, message.language, components)
    client = create_graph_client(connect_timeout=2.0, read_timeout=5.0)
    try:
        async with running(sim) as running_sim:
            assert running_sim.base_url is not None
            yield running_sim, GraphWhatsAppGateway(client, running_sim.base_url, "v26.0")
    finally:
        await client.aclose()


def book_with(components: list[dict[str, Any]], message: TemplateMessage) -> InMemoryTemplateBook:
    book = InMemoryTemplateBook(InMemoryEventStore(EventCodec(EVENT_TYPES)))
    book.put(StoredTemplate(BUSINESS, message.name, message.language, "APPROVED", "UTILITY", None,
                            components, "1", datetime.now(UTC), "e"))  # fmt: skip
    return book


@pytest.mark.parametrize("kind", list(KINDS))
async def test_each_kind_is_prepared_and_accepted_with_meta_s_exact_payload(
    simulator: tuple[CloudApiSimulator, GraphWhatsAppGateway], kind: str
) -> None:
    sim, gateway = simulator
    components, requested, expected = KINDS[kind]

    prepared = await prepare_template(book_with(components, requested), BUSINESS, requested)
    accepted = await gateway.send(SENDER, ADA, prepared)

    assert accepted.wamid.startswith("wamid.")
    (body,) = sim.sent_bodies()
    assert body["type"] == "template"
    assert body["template"] == expected


MISMATCHES: list[tuple[str, TemplateMessage]] = [
    ("dynamic_url_button", TemplateMessage(name="dynamic_url_button", language="en",
                                           body_parameters=("A-1",))),
    ("dynamic_url_button", TemplateMessage(
        name="dynamic_url_button", language="en", body_parameters=("A-1",),
        buttons=(TemplateButton(index=0, sub_type="quick_reply", parameter="x"),))),
    ("image_header_by_link", TemplateMessage(name="image_header_by_link", language="fr")),
    ("image_header_by_link", TemplateMessage(
        name="image_header_by_link", language="fr",
        header=TemplateMediaHeader(media_type="document", link="https://acme.test/a.pdf"))),
    ("text_header_and_body", TemplateMessage(
        name="text_header_and_body", language="en_US", header=TemplateTextHeader(text="Ada"),
        body_parameters=("4821",))),
    ("quick_replies", TemplateMessage(name="quick_replies", language="en", buttons=(
        TemplateButton(index=2, sub_type="quick_reply", parameter="x"),))),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "requested"), MISMATCHES)
async def test_what_prepare_refuses_meta_refuses_too(
    simulator: tuple[CloudApiSimulator, GraphWhatsAppGateway], kind: str, requested: TemplateMessage
) -> None:
    """The local check is not stricter than Meta on these: each would fail there anyway."""
    _, gateway = simulator
    components = KINDS[kind][0]

    with pytest.raises(TemplateError) as refused:
        await prepare_template(book_with(components, requested), BUSINESS, requested)
    with pytest.raises(GatewayError) as failed:
        await gateway.send(SENDER, ADA, requested)

    assert refused.value.code == "template_mismatch"
    assert str(refused.value.field).startswith("template.")
    assert not failed.value.retryable
