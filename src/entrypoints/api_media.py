"""The media endpoints of the API: upload a file to send, download a file a customer sent."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
import structlog
from litestar import Request, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, SkipValidation
from litestar.response import Stream

from application.media import (
    MediaError,
    MediaService,
    MediaTooLargeError,
    MetaMediaError,
    NoAccessTokenError,
    UnknownMediaError,
    UnknownNumberError,
    UploadedMedia,
)
from application.read_models import doc
from domain.media import LARGEST_UPLOAD, MediaRefusedError
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError
from entrypoints.openapi import error_responses

log = structlog.get_logger(__name__)

# The form around the file (boundaries, headers, small fields) gets this much beyond the file.
FORM_OVERHEAD: Final = 1024 * 1024
MEDIA_ID_LENGTH: Final = 200


class MediaUploaded(msgspec.Struct, frozen=True, kw_only=True):
    media_id: Annotated[
        str, doc("Meta's id of the uploaded file: send it as a media message's id.")
    ]
    type: Annotated[
        str, doc("What WhatsApp takes the file for: image, video, audio, document or sticker.")
    ]
    phone_number_id: Annotated[
        str, doc("The business number the file was uploaded for (it may send it).")
    ]


Media = NamedDependency[SkipValidation[MediaService]]


def _text(description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


_UPLOAD_FORM: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["file"],
    properties={
        "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY,
                       description="The file: exactly one."),
        "type": _text("The file's mime type, when the part's own Content-Type is wrong."),
        "phone_number_id": _text("One of the business's numbers; default its first."),
    },
)  # fmt: skip


@dataclass
class _UploadOperation(Operation):
    """The upload's body is read by the handler itself: the document describes it here."""

    def __post_init__(self) -> None:
        form = OpenAPIMediaType(schema=_UPLOAD_FORM)
        self.request_body = RequestBody(content={"multipart/form-data": form}, required=True)


def media_router(media_service: Callable[[], MediaService]) -> Router:
    """The /media routes; ``media_service`` answers the service or raises ``unavailable``."""
    return Router(
        path="/media",
        route_handlers=[upload_media, download_media],
        dependencies={"media": Provide(media_service, sync_to_thread=False)},
        tags=["media"],
    )


@post(
    "/",
    status_code=201,
    request_max_body_size=LARGEST_UPLOAD + FORM_OVERHEAD,
    operation_class=_UploadOperation,
    responses=error_responses(400, 401, 413, 415, 502, 503),
)
async def upload_media(
    request: Request[Any, Any, Any], business_id: BusinessId, media: Media
) -> MediaUploaded:
    """Upload one file (multipart/form-data, field `file`) to WhatsApp for this business.

    Optional fields: `type` (the file's mime type, when the part's own Content-Type is
    wrong) and `phone_number_id` (one of the business's numbers; default its first).
    WhatsApp's types and sizes are checked first: image/jpeg and image/png up to 5 MB,
    video/mp4 and video/3gpp 16 MB, audio/aac, amr, mpeg, mp4 and ogg 16 MB, documents
    (text/plain, PDF, Word, Excel, PowerPoint) 100 MB, stickers (image/webp) 500 KB.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        message = "Send the file as multipart/form-data with a field named 'file'."
        raise ApiError("unsupported_media_type", message)
    form = await request.form()
    try:
        uploaded = await _upload_the_file(media, business_id, form)
    finally:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.close()  # its temporary file
    return MediaUploaded(
        media_id=uploaded.media_id, type=uploaded.kind, phone_number_id=uploaded.phone_number_id
    )


async def _upload_the_file(media: MediaService, business_id: str, form: Any) -> UploadedMedia:
    upload = _the_file(form.getall("file") if "file" in form else [])
    try:
        return await media.upload(
            business_id, upload.file, size=_size_of(upload),
            mime_type=_text_field(form, "type") or upload.content_type,
            filename=os.path.basename(upload.filename) or "file",
            phone_number_id=_text_field(form, "phone_number_id"),
        )  # fmt: skip
    except MediaRefusedError as error:
        raise _refused(error) from None
    except MediaError as error:
        raise _media_error(error) from None


@get(
    "/{media_id:str}",
    responses={
        **error_responses(400, 401, 404, 502, 503),
        200: ResponseSpec(
            data_container=bytes, media_type="application/octet-stream",
            description="The file, with its own content type; its size when Meta gave it.",
            generate_examples=False,
        ),
    },
)  # fmt: skip
async def download_media(media_id: FromPath[str], business_id: BusinessId, media: Media) -> Stream:
    """Download a file received in one of this business's conversations, streamed from Meta.

    Files larger than WAZYBOT_MEDIA_MAX_BYTES are refused (502 `media_too_large`); when
    Meta does not say the size first, the answer is cut off at that limit.
    """
    if not media_id or len(media_id) > MEDIA_ID_LENGTH or not media_id.isprintable():
        raise ApiError("invalid_parameter", "Invalid media id.", parameter="media_id")
    try:
        opened = await media.open_download(business_id, media_id)
    except MediaError as error:
        raise _media_error(error) from None
    headers = {
        # The bytes come from customers: never let a browser run them as a page of this site.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    if opened.content_length is not None:
        headers["Content-Length"] = str(opened.content_length)
    return Stream(_logged(opened.chunks, media_id), media_type=opened.content_type,
                  headers=headers)  # fmt: skip


async def _logged(chunks: AsyncIterator[bytes], media_id: str) -> AsyncIterator[bytes]:
    """The chunks; a download cut short aborts the answer (the client sees it incomplete)."""
    try:
        async for chunk in chunks:
            yield chunk
    except MediaTooLargeError:
        log.warning("media.download_aborted", media_id=media_id, reason="too large")
        raise
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def _the_file(values: list[Any]) -> UploadFile:
    files = [v for v in values if isinstance(v, UploadFile)]
    if len(values) != 1 or len(files) != 1:
        raise ApiError("invalid_parameter", "Send exactly one file, in the form field 'file'.",
                       parameter="file")  # fmt: skip
    return files[0]


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError("invalid_parameter", f"The form field '{name}' must be a non-empty text.",
                       parameter=name)  # fmt: skip
    return value.strip()


def _refused(error: MediaRefusedError) -> ApiError:
    if error.too_large:
        return ApiError("file_too_large", _sentence(str(error)), parameter="file")
    return ApiError("unsupported_file_type", _sentence(str(error)), parameter="file")


def _media_error(error: MediaError) -> ApiError:
    message = _sentence(str(error))
    match error:
        case UnknownMediaError():
            return ApiError("not_found", message)
        case UnknownNumberError():
            return ApiError("invalid_parameter", message, parameter="phone_number_id")
        case NoAccessTokenError():
            return ApiError("not_configured", message)
        case MediaTooLargeError():
            return ApiError("media_too_large", message)
        case MetaMediaError(error=gateway_error):
            return ApiError("upstream_error", message,
                            log_fields={"meta_code": gateway_error.code,
                                        "meta_status": gateway_error.http_status})  # fmt: skip
    return ApiError("upstream_error", message)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
