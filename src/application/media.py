"""Media through the Graph API: uploads for sending, and downloads of what customers sent.

Uploads are checked against WhatsApp's types and sizes (``domain.media``) before Meta is
called. A download is only for media received in one of the business's conversations
(``ReceivedMedia``, kept from the inbound events) and is Meta's two steps: the media URL,
then the file with the business's token, streamed in chunks and cut off past ``max_bytes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Final, NamedTuple, Protocol

import structlog

from application.businesses import Business
from application.event_log import RecordedEvent
from application.gateway import AccessToken, GatewayError, Sender
from domain.conversation import MessageEchoed, MessageReceived
from domain.inbound import EditContent, MediaContent
from domain.media import MediaKind, check_upload, describe_size, normalized_mime_type
from domain.public_ids import conversation_public_id

log = structlog.get_logger(__name__)

DEFAULT_MEDIA_MAX_BYTES: Final = 64 * 1024 * 1024
FALLBACK_CONTENT_TYPE: Final = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Meta's answer to a media id: where to fetch the file (for a few minutes) and what it is."""

    media_id: str
    url: str
    mime_type: str | None = None
    file_size: int | None = None
    sha256: str | None = None


class MediaDownload(Protocol):
    """An open download: the headers are known, the body comes by ``chunks``."""

    @property
    def content_type(self) -> str | None: ...

    @property
    def content_length(self) -> int | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class MediaGateway(Protocol):
    """The Graph API's media endpoints. Failures raise ``GatewayError``, classified."""

    async def upload(self, sender: Sender, file: IO[bytes], mime_type: str, filename: str) -> str:
        """Upload a file for the sender's number; the media id Meta gives it."""
        ...

    async def media_info(self, sender: Sender, media_id: str) -> MediaInfo: ...

    def download(self, sender: Sender, url: str) -> AbstractAsyncContextManager[MediaDownload]:
        """Open ``url`` (from ``media_info``) with the sender's token, to read it in chunks."""
        ...


@dataclass(frozen=True, slots=True)
class ReceivedMediaRecord:
    """A media id seen in one of a business's conversations, and the number it came to."""

    business_id: str
    media_id: str
    phone_number_id: str
    mime_type: str | None = None


class ReceivedMedia(Protocol):
    async def find(self, business_id: str, media_id: str) -> ReceivedMediaRecord | None: ...


class MediaBusinesses(Protocol):
    async def get(self, business_id: str) -> Business | None: ...

    async def access_token_of(self, business_id: str) -> str | None: ...


class MediaError(Exception):
    """Base of the media failures the API turns into answers; messages hold no secret."""


class UnknownMediaError(MediaError):
    """Not received in any conversation of this business (or not at all)."""


class UnknownNumberError(MediaError):
    """The business does not own the phone number id asked for."""


class NoAccessTokenError(MediaError):
    """The business has no access token this process can use."""


class MediaTooLargeError(MediaError):
    """The file is larger than this server passes on (WAZYBOT_MEDIA_MAX_BYTES)."""


class MetaMediaError(MediaError):
    """Meta refused or failed; ``error`` is the gateway's classified failure."""

    def __init__(self, message: str, error: GatewayError) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    media_id: str
    kind: MediaKind
    phone_number_id: str


@dataclass(frozen=True, slots=True)
class OpenedMedia:
    """A download ready to stream: close it by exhausting or closing ``chunks``."""

    content_type: str
    content_length: int | None
    chunks: AsyncIterator[bytes]


class MediaService:
    def __init__(
        self,
        gateway: MediaGateway,
        businesses: MediaBusinesses,
        received: ReceivedMedia,
        *,
        max_bytes: int = DEFAULT_MEDIA_MAX_BYTES,
    ) -> None:
        self._gateway = gateway
        self._businesses = businesses
        self._received = received
        self._max_bytes = max_bytes

    async def upload(
        self,
        business_id: str,
        file: IO[bytes],
        *,
        size: int,
        mime_type: str,
        filename: str,
        phone_number_id: str | None = None,
    ) -> UploadedMedia:
        """Check the file against WhatsApp's rules, then upload it (MediaRefusedError first)."""
        rule = check_upload(mime_type, size)
        sender = await self._sender(business_id, await self._number(business_id, phone_number_id))
        try:
            media_id = await self._gateway.upload(
                sender, file, normalized_mime_type(mime_type), filename
            )
        except GatewayError as error:
            raise _meta_failed("the upload", error) from None
        log.info("media.uploaded", business_id=business_id, kind=rule.kind, size=size,
                 phone_number_id=sender.phone_number_id)  # fmt: skip
        return UploadedMedia(media_id, rule.kind, sender.phone_number_id)

    async def open_download(self, business_id: str, media_id: str) -> OpenedMedia:
        """Find the file at Meta and open it; its chunks stop past the size limit."""
        received = await self._received.find(business_id, media_id)
        if received is None:
            raise UnknownMediaError("no conversation of this business received media with that id")
        sender = await self._sender(business_id, received.phone_number_id)
        try:
            info = await self._gateway.media_info(sender, media_id)
        except GatewayError as error:
            raise _meta_failed("the media lookup", error) from None
        self._check_size(info.file_size)
        stack = AsyncExitStack()
        try:
            download = await stack.enter_async_context(self._gateway.download(sender, info.url))
            self._check_size(download.content_length)
        except GatewayError as error:
            await stack.aclose()
            raise _meta_failed("the download", error) from None
        except BaseException:
            await stack.aclose()
            raise
        content_type = download.content_type or info.mime_type or received.mime_type
        return OpenedMedia(
            content_type=content_type or FALLBACK_CONTENT_TYPE,
            content_length=download.content_length,
            chunks=self._limited(download, stack, business_id),
        )

    async def _limited(
        self, download: MediaDownload, stack: AsyncExitStack, business_id: str
    ) -> AsyncIterator[bytes]:
        """The file's chunks; MediaTooLargeError once more than ``max_bytes`` came."""
        seen = 0
        try:
            async for chunk in download.chunks():
                seen += len(chunk)
                if seen > self._max_bytes:
                    log.warning("media.download_cut", business_id=business_id,
                                max_bytes=self._max_bytes)  # fmt: skip
                    raise MediaTooLargeError(self._too_large_text())
                yield chunk
        finally:
            await stack.aclose()

    def _check_size(self, size: int | None) -> None:
        if size is not None and size > self._max_bytes:
            raise MediaTooLargeError(self._too_large_text(size))

    def _too_large_text(self, size: int | None = None) -> str:
        has = f" ({describe_size(size)})" if size is not None else ""
        return (f"the file{has} is larger than this server passes on "
                f"({describe_size(self._max_bytes)}, WAZYBOT_MEDIA_MAX_BYTES)")  # fmt: skip

    async def _number(self, business_id: str, asked: str | None) -> str:
        business = await self._businesses.get(business_id)
        numbers = business.phone_number_ids if business is not None else ()
        if asked is None and numbers:
            return numbers[0]
        if asked is None or asked not in numbers:
            raise UnknownNumberError("this business has no phone number with that id")
        return asked

    async def _sender(self, business_id: str, phone_number_id: str) -> Sender:
        try:
            token = await self._businesses.access_token_of(business_id)
        except Exception as error:  # a key that does not open the stored token
            log.error("media.token_unavailable", business_id=business_id,
                      error=type(error).__name__)  # fmt: skip
            token = None
        if token is None:
            raise NoAccessTokenError(
                "this business has no usable WhatsApp access token: store one with "
                "`wazybot business update --access-token-stdin` (or WHATSAPP_ACCESS_TOKEN)"
            )
        return Sender(phone_number_id, AccessToken(token))


def _meta_failed(step: str, error: GatewayError) -> MetaMediaError:
    code = f" (code {error.code})" if error.code is not None else ""
    return MetaMediaError(f"Meta refused or failed {step}{code}: {error.classification.reason}",
                          error)  # fmt: skip


# --- the received-media lookup, kept from the inbound events ---------------------------------


class ReceivedMediaRow(NamedTuple):
    """One row of the lookup, in its table's column order."""

    business_id: str
    media_id: str
    phone_number_id: str
    conversation_id: str
    media_type: str
    mime_type: str | None
    received_at: datetime


def received_media_rows(events: Sequence[RecordedEvent]) -> list[ReceivedMediaRow]:
    """The media each event brings into a conversation: customers' files, and the files
    someone at the business sent from the WhatsApp Business app (echoes)."""
    rows: list[ReceivedMediaRow] = []
    for recorded in events:
        payload = recorded.event
        if not isinstance(payload, MessageReceived | MessageEchoed):
            continue
        content = payload.message.content
        if isinstance(content, EditContent):
            content = content.content
        if not isinstance(content, MediaContent) or not content.media_id:
            continue
        rows.append(ReceivedMediaRow(
            payload.business_id, content.media_id, payload.message.phone_number_id,
            conversation_public_id(payload.business_id, recorded.stream_id), content.media_type,
            content.mime_type or None, payload.message.sent_at,
        ))  # fmt: skip
    return rows
