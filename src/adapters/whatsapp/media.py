"""The media gateway over the Graph API: upload, media URL lookup, streamed download.

It shares the process's one pooled httpx client with the messages gateway. The access
token travels only in the ``Authorization`` header, and only to the Graph API's own host
or to Meta's media hosts: a media URL pointing anywhere else is refused, never fetched.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Final
from urllib.parse import urlsplit

import httpx
import msgspec
import structlog

from adapters.whatsapp.graph import _ERROR_ANSWER, _GraphError, _title_of, _transport_of
from application.gateway import GatewayError, Sender
from application.media import MediaInfo
from domain.whatsapp_errors import Classification, ErrorClass, classify

log = structlog.get_logger(__name__)

CHUNK_BYTES: Final = 64 * 1024
# Where Meta serves media files (lookaside.fbsbx.com today); the token may go there.
META_MEDIA_HOSTS: Final = (".fbsbx.com", ".facebook.com", ".fbcdn.net", ".whatsapp.net")


class _MediaAnswer(msgspec.Struct):
    url: str
    id: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    sha256: str | None = None


class _UploadAnswer(msgspec.Struct):
    id: str


_MEDIA_ANSWER: Final = msgspec.json.Decoder(_MediaAnswer)
_UPLOAD_ANSWER: Final = msgspec.json.Decoder(_UploadAnswer)


@dataclass(frozen=True, slots=True)
class HttpMediaDownload:
    response: httpx.Response

    @property
    def content_type(self) -> str | None:
        value = self.response.headers.get("content-type")
        return str(value) if value is not None else None

    @property
    def content_length(self) -> int | None:
        declared = self.response.headers.get("content-length", "")
        return int(declared) if declared.isdigit() else None

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.aiter_bytes(CHUNK_BYTES):
            yield chunk


class GraphMediaGateway:
    def __init__(self, client: httpx.AsyncClient, graph_url: str, api_version: str) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"
        self._graph_host = urlsplit(graph_url).netloc.lower()

    async def upload(self, sender: Sender, file: IO[bytes], mime_type: str, filename: str) -> str:
        url = f"{self._base}/{sender.phone_number_id}/media"
        response = await self._request(
            sender, "upload", "POST", url,
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, file, mime_type)},
        )  # fmt: skip
        try:
            return _UPLOAD_ANSWER.decode(response.content).id
        except msgspec.DecodeError:
            raise _unreadable(response.status_code) from None

    async def media_info(self, sender: Sender, media_id: str) -> MediaInfo:
        # No phone_number_id filter: Meta applies it to uploads only, not to received media.
        response = await self._request(sender, "lookup", "GET", f"{self._base}/{media_id}")
        try:
            answer = _MEDIA_ANSWER.decode(response.content)
        except msgspec.DecodeError:
            raise _unreadable(response.status_code) from None
        return MediaInfo(media_id=answer.id or media_id, url=answer.url,
                         mime_type=answer.mime_type, file_size=answer.file_size,
                         sha256=answer.sha256)  # fmt: skip

    @contextlib.asynccontextmanager
    async def download(self, sender: Sender, url: str) -> AsyncIterator[HttpMediaDownload]:
        if not self._may_carry_token(url):
            log.error("whatsapp.media_url_refused", host=urlsplit(url).netloc)
            reason = "Meta's media URL points outside Meta's hosts; it was not fetched"
            raise GatewayError(Classification(error_class=ErrorClass.PERMANENT, reason=reason))
        request = self._client.build_request("GET", url, headers=_auth(sender))
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as error:
            raise _transport_error(sender, "download", error) from None
        try:
            if not response.is_success:
                await response.aread()
                raise _answered_error(sender, "download", response)
            yield HttpMediaDownload(response)
        finally:
            await response.aclose()

    def _may_carry_token(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.netloc.lower() == self._graph_host:
            return parts.scheme in ("http", "https")
        return parts.scheme == "https" and host.endswith(META_MEDIA_HOSTS)

    async def _request(
        self, sender: Sender, step: str, method: str, url: str, **kwargs: object
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method,
                url,
                headers=_auth(sender),
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.TransportError as error:
            raise _transport_error(sender, step, error) from None
        if not response.is_success:
            raise _answered_error(sender, step, response)
        return response


def _auth(sender: Sender) -> dict[str, str]:
    return {"Authorization": f"Bearer {sender.access_token.value}"}


def _unreadable(status: int) -> GatewayError:
    reason = "Meta's answer could not be read"
    return GatewayError(Classification(error_class=ErrorClass.TRANSIENT, reason=reason),
                        http_status=status)  # fmt: skip


def _transport_error(sender: Sender, step: str, error: httpx.TransportError) -> GatewayError:
    transport = _transport_of(error)
    log.warning("whatsapp.media_unanswered", step=step, phone_number_id=sender.phone_number_id,
                transport=transport.value, error=type(error).__name__)  # fmt: skip
    return GatewayError(classify(None, None, transport), details=type(error).__name__)


def _answered_error(sender: Sender, step: str, response: httpx.Response) -> GatewayError:
    try:
        graph = _ERROR_ANSWER.decode(response.content).error
    except msgspec.DecodeError:
        graph = _GraphError()
    token = sender.access_token.value

    def clean(text: str | None) -> str | None:
        return text.replace(token, "***") if text and token else text

    message = clean(graph.message)
    error = GatewayError(
        classify(graph.code, response.status_code, meta_message=message),
        code=graph.code,
        title=clean(graph.error_user_title) or _title_of(message),
        meta_message=message,
        details=clean(graph.error_data.details if graph.error_data else None),
        fbtrace_id=graph.fbtrace_id,
        http_status=response.status_code,
    )
    log.warning("whatsapp.media_refused", step=step, phone_number_id=sender.phone_number_id,
                code=graph.code, http_status=response.status_code, meta_message=message,
                fbtrace_id=graph.fbtrace_id)  # fmt: skip
    return error
