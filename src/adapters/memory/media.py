"""An in-memory media gateway: files kept by id, per-token access, scripted failures."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO, Final

from application.gateway import GatewayError, Sender
from application.media import MediaInfo
from domain.whatsapp_errors import classify

_URL_PREFIX: Final = "memory://media/"
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class StoredMedia:
    content: bytes
    mime_type: str
    filename: str | None = None
    phone_number_id: str | None = None  # the number it was uploaded for


@dataclass(frozen=True, slots=True)
class MemoryMediaDownload:
    content: bytes
    content_type: str | None
    content_length: int | None

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.content), _CHUNK):
            yield self.content[start : start + _CHUNK]


@dataclass
class InMemoryMediaGateway:
    """Files by media id. A token must be granted (``allow``) before it is accepted.

    ``fail(code)`` answers the next call(s) with a Graph error, like Meta would.
    """

    media: dict[str, StoredMedia] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    _failures: list[int] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def allow(self, token: str) -> None:
        self.tokens.add(token)

    def add(self, content: bytes, mime_type: str, *, media_id: str | None = None) -> str:
        media_id = media_id or self._next_id()
        self.media[media_id] = StoredMedia(content, mime_type)
        return media_id

    def fail(self, code: int, times: int = 1) -> None:
        self._failures.extend([code] * times)

    async def upload(self, sender: Sender, file: IO[bytes], mime_type: str, filename: str) -> str:
        self._check(sender)
        media_id = self._next_id()
        self.media[media_id] = StoredMedia(file.read(), mime_type, filename, sender.phone_number_id)
        return media_id

    async def media_info(self, sender: Sender, media_id: str) -> MediaInfo:
        self._check(sender)
        stored = self.media.get(media_id)
        if stored is None:
            raise _graph_error(100, 400)
        return MediaInfo(media_id=media_id, url=_URL_PREFIX + media_id,
                         mime_type=stored.mime_type, file_size=len(stored.content),
                         sha256=hashlib.sha256(stored.content).hexdigest())  # fmt: skip

    @contextlib.asynccontextmanager
    async def download(self, sender: Sender, url: str) -> AsyncIterator[MemoryMediaDownload]:
        if sender.access_token.value not in self.tokens:
            raise GatewayError(classify(None, 401), http_status=401)
        stored = self.media.get(url.removeprefix(_URL_PREFIX))
        if stored is None:
            raise GatewayError(classify(None, 404), http_status=404)
        yield MemoryMediaDownload(stored.content, stored.mime_type, len(stored.content))

    def _check(self, sender: Sender) -> None:
        if self._failures:
            raise _graph_error(self._failures.pop(0), 400)
        if sender.access_token.value not in self.tokens:
            raise _graph_error(190, 401)

    def _next_id(self) -> str:
        return f"{next(self._ids):015d}"


def _graph_error(code: int, status: int) -> GatewayError:
    message = f"(#{code}) Scripted failure"
    return GatewayError(classify(code, status, meta_message=message), code=code,
                        title="Scripted failure", meta_message=message, fbtrace_id="FAKE",
                        http_status=status)  # fmt: skip
