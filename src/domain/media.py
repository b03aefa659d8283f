"""WhatsApp's media rules: which files Meta accepts for upload, and how large each may be.

From Meta's "Supported media types" (Cloud API reference). Stickers: an animated
sticker may weigh 500 KB, a static one 100 KB; a file cannot tell which it is without
being decoded, so the larger limit applies and Meta refuses a static one above 100 KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

MediaKind: TypeAlias = Literal["image", "video", "audio", "document", "sticker"]

KB: Final = 1024
MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaRule:
    kind: MediaKind
    max_bytes: int


_DOCUMENT: Final = MediaRule("document", 100 * MB)
_AUDIO: Final = MediaRule("audio", 16 * MB)
_VIDEO: Final = MediaRule("video", 16 * MB)
_IMAGE: Final = MediaRule("image", 5 * MB)

# mime type -> what it is and its largest accepted size
MEDIA_RULES: Final[dict[str, MediaRule]] = {
    "image/jpeg": _IMAGE,
    "image/png": _IMAGE,
    "video/mp4": _VIDEO,
    "video/3gpp": _VIDEO,
    "audio/aac": _AUDIO,
    "audio/amr": _AUDIO,
    "audio/mpeg": _AUDIO,
    "audio/mp4": _AUDIO,
    "audio/ogg": _AUDIO,  # Meta accepts OPUS in OGG only
    "text/plain": _DOCUMENT,
    "application/pdf": _DOCUMENT,
    "application/msword": _DOCUMENT,
    "application/vnd.ms-excel": _DOCUMENT,
    "application/vnd.ms-powerpoint": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _DOCUMENT,
    "image/webp": MediaRule("sticker", 500 * KB),
}
LARGEST_UPLOAD: Final = max(rule.max_bytes for rule in MEDIA_RULES.values())


class MediaRefusedError(ValueError):
    """A file WhatsApp would refuse; ``too_large`` tells a size problem from a type problem."""

    def __init__(self, message: str, *, too_large: bool) -> None:
        super().__init__(message)
        self.too_large = too_large


def normalized_mime_type(declared: str) -> str:
    """``Image/PNG; charset=x`` -> ``image/png``."""
    return declared.split(";", 1)[0].strip().lower()


def rule_for(mime_type: str) -> MediaRule:
    """The rule of a mime type, or MediaRefusedError naming the accepted types."""
    rule = MEDIA_RULES.get(normalized_mime_type(mime_type))
    if rule is None:
        shown = mime_type.strip() or "none"
        raise MediaRefusedError(
            f"WhatsApp does not accept files of type {shown!r}; accepted: "
            + ", ".join(sorted(MEDIA_RULES)),
            too_large=False,
        )
    return rule


def check_upload(mime_type: str, size: int) -> MediaRule:
    """The rule a file of this type and size passes, or MediaRefusedError saying why not."""
    rule = rule_for(mime_type)
    if size > rule.max_bytes:
        raise MediaRefusedError(
            f"{rule.kind} files ({normalized_mime_type(mime_type)}) are limited to "
            f"{describe_size(rule.max_bytes)} by WhatsApp; this one has {describe_size(size)}",
            too_large=True,
        )
    if size == 0:
        raise MediaRefusedError("the file is empty", too_large=False)
    return rule


def describe_size(size: int) -> str:
    if size >= MB and size % MB == 0:
        return f"{size // MB} MB"
    if size >= KB and size % KB == 0:
        return f"{size // KB} KB"
    return f"{size} bytes"
