"""Media upload rules (WhatsApp's supported types and size limits) and multipart parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from adapters.whatsapp.simulator.errors import GraphError, missing

MB: Final = 1024 * 1024
# mime type -> largest accepted size in bytes
LIMITS: Final[dict[str, int]] = {
    "audio/aac": 16 * MB,
    "audio/amr": 16 * MB,
    "audio/mpeg": 16 * MB,
    "audio/mp4": 16 * MB,
    "audio/ogg": 16 * MB,
    "image/jpeg": 5 * MB,
    "image/png": 5 * MB,
    "image/webp": 500 * 1024,
    "video/mp4": 16 * MB,
    "video/3gpp": 16 * MB,
    "text/plain": 100 * MB,
    "application/pdf": 100 * MB,
    "application/msword": 100 * MB,
    "application/vnd.ms-excel": 100 * MB,
    "application/vnd.ms-powerpoint": 100 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
}
MAX_UPLOAD: Final = 100 * MB


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Upload:
    content: bytes
    mime_type: str
    filename: str | None


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        raise GraphError(100, "the upload must be multipart/form-data")
    delimiter = b"--" + match.group(1).encode()
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        parts.append(_part(head.decode("utf-8", "replace"), data.removesuffix(b"\r\n")))
    return parts


def _part(head: str, data: bytes) -> Part:
    headers = {}
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    name = re.search(r'\bname="([^"]*)"', disposition)
    filename = re.search(r'\bfilename="([^"]*)"', disposition)
    return Part(
        name.group(1) if name else "",
        filename.group(1) if filename else None,
        headers.get("content-type"),
        data,
    )


def validate_upload(parts: list[Part]) -> Upload:
    fields = {p.name: p for p in parts}
    product = fields.get("messaging_product")
    if product is None:
        raise missing("messaging_product")
    if product.data != b"whatsapp":
        raise GraphError(100, "Param messaging_product must be one of {WHATSAPP}")
    file = fields.get("file")
    if file is None or file.filename is None:
        raise missing("file")
    declared = fields.get("type")
    mime_type = (declared.data.decode() if declared else file.content_type) or ""
    limit = LIMITS.get(mime_type)
    if limit is None:
        raise GraphError(131053, f"unsupported file type {mime_type!r}")
    if len(file.data) > limit:
        raise GraphError(
            131053, f"{mime_type} files are limited to {limit} bytes (got {len(file.data)})"
        )
    return Upload(file.data, mime_type, file.filename)
