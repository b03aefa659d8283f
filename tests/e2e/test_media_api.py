"""POST /api/v1/media and GET /api/v1/media/{id}, over real HTTP against the Cloud API
simulator, with the real database and the projection that records received media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from domain.media import KB, MB
from tests.support.app_server import (
    API_TOKEN,
    GLOBEX_NUMBER,
    NUMBER,
    AppServer,
    app_server,
)

MAX_BYTES = 300 * KB
CUSTOMER = "15550009999"


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[AppServer]:
    async with app_server(database_url, WAZYBOT_MEDIA_MAX_BYTES=str(MAX_BYTES)) as server:
        yield server


@pytest.fixture
async def client(app: AppServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=app.base_url, headers=headers, timeout=30) as http:
        yield http


async def upload(client: httpx.AsyncClient, content: bytes, mime_type: str,
                 filename: str = "file.bin", **fields: str) -> httpx.Response:  # fmt: skip
    return await client.post(
        "/api/v1/media", files={"file": (filename, content, mime_type)}, data=fields
    )


def uploads_seen(app: AppServer) -> list[Any]:
    return [r for r in app.sim.requests if r.path.endswith("/media") and r.method == "POST"]


EVERY_TYPE = [
    ("image/jpeg", "image", 5 * MB), ("image/png", "image", 5 * MB),
    ("video/mp4", "video", 16 * MB), ("video/3gpp", "video", 16 * MB),
    ("audio/aac", "audio", 16 * MB), ("audio/amr", "audio", 16 * MB),
    ("audio/mpeg", "audio", 16 * MB), ("audio/mp4", "audio", 16 * MB),
    ("audio/ogg", "audio", 16 * MB),
    ("text/plain", "document", 100 * MB), ("application/pdf", "document", 100 * MB),
    ("application/msword", "document", 100 * MB),
    ("application/vnd.ms-excel", "document", 100 * MB),
    ("application/vnd.ms-powerpoint", "document", 100 * MB),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document",
     100 * MB),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document", 100 * MB),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document",
     100 * MB),
    ("image/webp", "sticker", 500 * KB),
]  # fmt: skip


async def test_every_whatsapp_type_uploads_at_its_largest_size(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    small = [(mime, kind) for mime, kind, _ in EVERY_TYPE]
    for mime_type, kind in small:
        content = f"a {mime_type} file".encode()
        response = await upload(client, content, mime_type, "f")

        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["type"] == kind
        assert answer["phone_number_id"] == NUMBER
        stored = app.sim.state.media[answer["media_id"]]
        assert (stored.content, stored.mime_type) == (content, mime_type)
    # At the limit exactly: Meta (the simulator) takes it too.
    for mime_type, _, limit in [EVERY_TYPE[1], EVERY_TYPE[-1], EVERY_TYPE[2]]:
        response = await upload(client, b"\0" * limit, mime_type)
        assert response.status_code == 201, response.text
    assert len(uploads_seen(app)) == len(EVERY_TYPE) + 3
    assert all(r.path.endswith(f"/{NUMBER}/media") for r in uploads_seen(app))


async def test_the_type_field_overrides_the_parts_content_type(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    response = await upload(client, b"OggS...", "application/octet-stream", "v.ogg",
                            type="audio/ogg")  # fmt: skip

    assert response.status_code == 201, response.text
    assert app.sim.state.media[response.json()["media_id"]].mime_type == "audio/ogg"


@pytest.mark.parametrize(
    ("mime_type", "size", "status", "code"),
    [
        ("image/gif", 10, 400, "unsupported_file_type"),
        ("application/zip", 10, 400, "unsupported_file_type"),
        ("image/png", 5 * MB + 1, 413, "file_too_large"),
        ("image/webp", 500 * KB + 1, 413, "file_too_large"),
        ("audio/ogg", 16 * MB + 1, 413, "file_too_large"),
        ("text/plain", 0, 400, "unsupported_file_type"),
    ],
)
async def test_files_whatsapp_refuses_never_reach_meta(
    app: AppServer, client: httpx.AsyncClient, mime_type: str, size: int, status: int, code: str
) -> None:
    response = await upload(client, b"x" * size, mime_type)

    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["parameter"]) == (code, "file")
    assert uploads_seen(app) == []


async def test_the_upload_form_must_hold_one_file(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    none = await client.post("/api/v1/media", files={"other": ("a.txt", b"x", "text/plain")})
    two_files = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    two = await client.post("/api/v1/media", files=two_files)
    as_json = await client.post("/api/v1/media", json={"file": "x"})
    foreign = await upload(client, b"x", "text/plain", phone_number_id=GLOBEX_NUMBER)

    assert (none.status_code, none.json()["parameter"]) == (400, "file")
    assert (two.status_code, two.json()["parameter"]) == (400, "file")
    assert (as_json.status_code, as_json.json()["error"]) == (415, "unsupported_media_type")
    assert (foreign.status_code, foreign.json()["parameter"]) == (400, "phone_number_id")
    assert uploads_seen(app) == []


async def test_meta_refusing_an_upload_is_a_502(app: AppServer, client: httpx.AsyncClient) -> None:
    app.sim.fail(131000, count=1)

    response = await upload(client, b"hello", "text/plain")

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_error"
    assert "131000" in response.json()["message"]


async def test_uploads_need_a_token(app: AppServer) -> None:
    async with httpx.AsyncClient(base_url=app.base_url) as anonymous:
        response = await anonymous.post(
            "/api/v1/media", files={"file": ("a.txt", b"x", "text/plain")}
        )

    assert response.status_code == 401


# --- downloads ------------------------------------------------------------------------------


async def received(app: AppServer, content: bytes, mime_type: str, *,
                   number: str = NUMBER, kind: str = "image") -> str:  # fmt: skip
    """A customer sends a file to ``number``; its media id once the projection has it."""
    media_id = app.sim.add_media(content, mime_type).id
    await app.sim.customer_sends({"type": kind, kind: {"id": media_id}}, phone=CUSTOMER,
                                 phone_number_id=number)  # fmt: skip

    async def recorded() -> bool:
        found = await app.pool.fetchval(
            "select count(*) from received_media where media_id = $1", media_id
        )
        return bool(found)

    await app.eventually(recorded, "the received media")
    return media_id


async def test_a_received_file_downloads_streamed_with_its_type(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    content = bytes(range(256)) * 1000  # 256 kB: several chunks
    media_id = await received(app, content, "image/jpeg")

    chunks: list[bytes] = []
    async with client.stream("GET", f"/api/v1/media/{media_id}") as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            chunks.append(chunk)

    assert b"".join(chunks) == content
    assert len(chunks) > 1
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_document_keeps_its_own_type(app: AppServer, client: httpx.AsyncClient) -> None:
    media_id = await received(app, b"%PDF-1.7 ...", "application/pdf", kind="document")

    response = await client.get(f"/api/v1/media/{media_id}")

    assert response.status_code == 200
    assert (response.content, response.headers["content-type"]) == (b"%PDF-1.7 ...",
                                                                    "application/pdf")  # fmt: skip


async def test_another_business_media_and_unknown_ids_are_404(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    ours = await received(app, b"ours", "image/png")
    theirs = await received(app, b"theirs", "image/png", number=GLOBEX_NUMBER)
    stored_at_meta_only = app.sim.add_media(b"never received", "image/png").id
    globex = {"Authorization": f"Bearer {app.globex_api_token}"}

    for media_id in (theirs, stored_at_meta_only, "123456789"):
        response = await client.get(f"/api/v1/media/{media_id}")
        assert response.status_code == 404, media_id
        assert response.json()["error"] == "not_found"
    assert (await client.get(f"/api/v1/media/{theirs}", headers=globex)).content == b"theirs"
    assert (await client.get(f"/api/v1/media/{ours}", headers=globex)).status_code == 404


async def test_a_file_above_the_limit_is_refused_before_streaming(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    media_id = await received(app, b"\0" * (MAX_BYTES + 1), "video/mp4", kind="video")

    response = await client.get(f"/api/v1/media/{media_id}")

    assert response.status_code == 502
    assert response.json()["error"] == "media_too_large"


async def test_the_limit_holds_while_streaming_when_meta_understates_the_size(
    app: AppServer, client: httpx.AsyncClient
) -> None:
    content = b"\1" * (MAX_BYTES * 3)
    media_id = await received(app, content, "video/mp4", kind="video")
    app.sim.misdeclare_media_size(media_id, 1000)

    got: list[bytes] = []

    async def read_it() -> httpx.Response:
        async with client.stream("GET", f"/api/v1/media/{media_id}") as response:
            async for chunk in response.aiter_raw():
                got.append(chunk)
        return response

    with pytest.raises(httpx.RemoteProtocolError):  # the answer is cut off, never completed
        await read_it()

    assert 0 < len(b"".join(got)) <= MAX_BYTES  # never more than the limit passed on


async def test_meta_failing_is_a_502(app: AppServer, client: httpx.AsyncClient) -> None:
    media_id = await received(app, b"a photo", "image/png")
    gone = await received(app, b"a photo Meta forgot", "image/png")
    del app.sim.state.media[gone]

    app.sim.fail(2, count=1)
    failed = await client.get(f"/api/v1/media/{media_id}")
    unknown_at_meta = await client.get(f"/api/v1/media/{gone}")
    again = await client.get(f"/api/v1/media/{media_id}")

    assert (failed.status_code, failed.json()["error"]) == (502, "upstream_error")
    assert "code 2" in failed.json()["message"]
    assert unknown_at_meta.status_code == 502
    assert unknown_at_meta.json()["error"] == "upstream_error"
    assert (again.status_code, again.content) == (200, b"a photo")
