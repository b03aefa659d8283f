"""One contract for every MediaGateway: the in-memory fake and the Graph adapter over HTTP."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from typing import Protocol

import httpx
import pytest

from adapters.memory.media import InMemoryMediaGateway
from adapters.whatsapp.graph import create_graph_client
from adapters.whatsapp.media import GraphMediaGateway
from adapters.whatsapp.simulator import CloudApiSimulator, running
from application.gateway import AccessToken, GatewayError, Sender
from application.media import MediaGateway
from domain.whatsapp_errors import ErrorClass

SENDER = Sender(phone_number_id="106540352242922", access_token=AccessToken("EAAG-media"))
STRANGER = Sender(phone_number_id="106540352242922", access_token=AccessToken("EAAG-unknown"))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800  # several chunks


class Harness(Protocol):
    gateway: MediaGateway

    def store(self, content: bytes, mime_type: str) -> str:
        """A file Meta holds (one a customer sent); its media id."""
        ...

    def stored(self, media_id: str) -> tuple[bytes, str]: ...

    def fail(self, code: int) -> None:
        """Meta answers the next call with this Graph error code."""


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = InMemoryMediaGateway()
        self.fake.allow(SENDER.access_token.value)
        self.gateway: MediaGateway = self.fake

    def store(self, content: bytes, mime_type: str) -> str:
        return self.fake.add(content, mime_type)

    def stored(self, media_id: str) -> tuple[bytes, str]:
        media = self.fake.media[media_id]
        return media.content, media.mime_type

    def fail(self, code: int) -> None:
        self.fake.fail(code)


class HttpHarness:
    def __init__(self, sim: CloudApiSimulator, gateway: GraphMediaGateway) -> None:
        self.sim = sim
        self.gateway: MediaGateway = gateway

    def store(self, content: bytes, mime_type: str) -> str:
        return self.sim.add_media(content, mime_type).id

    def stored(self, media_id: str) -> tuple[bytes, str]:
        media = self.sim.state.media[media_id]
        return media.content, media.mime_type

    def fail(self, code: int) -> None:
        self.sim.fail(code, count=1)


@pytest.fixture(params=["memory", "http"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    simulator = CloudApiSimulator(access_tokens=[], app_secret="media-secret")
    simulator.bind_token(SENDER.phone_number_id, SENDER.access_token.value)
    client = create_graph_client(connect_timeout=2.0, read_timeout=5.0)
    try:
        async with running(simulator) as sim:
            assert sim.base_url is not None
            yield HttpHarness(sim, GraphMediaGateway(client, sim.base_url, "v26.0"))
    finally:
        await client.aclose()


async def read_all(gateway: MediaGateway, url: str) -> tuple[bytes, str | None, int]:
    """The body, its content type, and how many chunks it came in."""
    chunks: list[bytes] = []
    async with gateway.download(SENDER, url) as download:
        content_type = download.content_type
        async for chunk in download.chunks():
            chunks.append(chunk)
    return b"".join(chunks), content_type, len(chunks)


@pytest.mark.parametrize(
    ("mime_type", "filename"),
    [("image/png", "photo.png"), ("application/pdf", "invoice.pdf"), ("audio/ogg", "v.ogg")],
)
async def test_an_upload_returns_a_media_id_for_the_file(
    harness: Harness, mime_type: str, filename: str
) -> None:
    media_id = await harness.gateway.upload(SENDER, io.BytesIO(PNG), mime_type, filename)

    assert media_id
    assert harness.stored(media_id) == (PNG, mime_type)


async def test_two_uploads_get_two_ids(harness: Harness) -> None:
    first = await harness.gateway.upload(SENDER, io.BytesIO(b"one"), "text/plain", "a.txt")
    second = await harness.gateway.upload(SENDER, io.BytesIO(b"two"), "text/plain", "b.txt")

    assert first != second


async def test_the_lookup_names_the_url_type_size_and_digest(harness: Harness) -> None:
    media_id = harness.store(PNG, "image/png")

    info = await harness.gateway.media_info(SENDER, media_id)

    assert info.media_id == media_id
    assert info.url
    assert (info.mime_type, info.file_size) == ("image/png", len(PNG))
    assert info.sha256 == hashlib.sha256(PNG).hexdigest()


async def test_a_download_streams_the_file_in_chunks(harness: Harness) -> None:
    media_id = harness.store(PNG, "image/png")
    info = await harness.gateway.media_info(SENDER, media_id)

    body, content_type, chunks = await read_all(harness.gateway, info.url)

    assert body == PNG
    assert content_type == "image/png"
    assert chunks > 1


async def test_an_unknown_media_id_is_a_permanent_error(harness: Harness) -> None:
    with pytest.raises(GatewayError) as raised:
        await harness.gateway.media_info(SENDER, "999999999")

    assert raised.value.code == 100
    assert raised.value.error_class is ErrorClass.PERMANENT


async def test_a_token_meta_does_not_know_is_critical(harness: Harness) -> None:
    with pytest.raises(GatewayError) as raised:
        await harness.gateway.upload(STRANGER, io.BytesIO(b"x"), "text/plain", "a.txt")

    assert raised.value.code == 190
    assert raised.value.error_class is ErrorClass.CRITICAL
    assert "EAAG-unknown" not in str(raised.value)


async def test_a_download_with_a_token_meta_does_not_know_fails(harness: Harness) -> None:
    media_id = harness.store(PNG, "image/png")
    info = await harness.gateway.media_info(SENDER, media_id)

    with pytest.raises(GatewayError) as raised:
        async with harness.gateway.download(STRANGER, info.url):
            pass

    assert raised.value.http_status == 401


@pytest.mark.parametrize(("code", "error_class"), [(131000, ErrorClass.TRANSIENT),
                                                   (131053, ErrorClass.PERMANENT)])  # fmt: skip
async def test_meta_errors_carry_their_classification(
    harness: Harness, code: int, error_class: ErrorClass
) -> None:
    harness.fail(code)

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.upload(SENDER, io.BytesIO(b"x"), "text/plain", "a.txt")

    assert (raised.value.code, raised.value.error_class) == (code, error_class)
    # the failure was for one call only
    assert await harness.gateway.upload(SENDER, io.BytesIO(b"x"), "text/plain", "a.txt")


@pytest.mark.parametrize(
    "url",
    ["https://attacker.example/file", "http://lookaside.fbsbx.com/x",
     "https://fbsbx.com.attacker.example/x", "ftp://127.0.0.1/x"],
)  # fmt: skip
async def test_the_token_never_goes_to_a_host_outside_meta(url: str) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    gateway = GraphMediaGateway(client, "https://graph.facebook.com", "v26.0")
    sent: list[httpx.Request] = []
    client.event_hooks["request"].append(lambda request: _record(sent, request))

    with pytest.raises(GatewayError) as raised:
        async with gateway.download(SENDER, url):
            pass

    assert raised.value.error_class is ErrorClass.PERMANENT
    assert sent == []
    await client.aclose()


async def _record(sent: list[httpx.Request], request: httpx.Request) -> None:
    sent.append(request)


async def test_the_token_goes_to_metas_media_host() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"file", headers={"content-type": "image/png"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    gateway = GraphMediaGateway(client, "https://graph.facebook.com", "v26.0")
    async with gateway.download(SENDER, "https://lookaside.fbsbx.com/whatsapp/?mid=1") as file:
        body = b"".join([chunk async for chunk in file.chunks()])
    await client.aclose()

    assert body == b"file"
    assert seen[0].headers["authorization"] == "Bearer EAAG-media"
