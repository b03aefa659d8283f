"""The ``Idempotency-Key`` header as every write endpoint that accepts it reads it."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from litestar.params import HeaderParameter

from application.idempotency import KEY_FIELD
from entrypoints.errors import ApiError

IDEMPOTENCY_HEADER: Final = KEY_FIELD
_KEY_SHAPE: Final = re.compile(r"^[\x21-\x7e]{1,255}$")


def key_header(repeat: str) -> Any:
    """The header's marker, for ``Annotated[str | None, key_header(...)] = None``; ``repeat``
    says what a repeated request does not do again."""
    return HeaderParameter(
        name=IDEMPOTENCY_HEADER,
        description="Any unique string (at most 255 characters): the same key with the same "
        f"request returns the first answer again for 24 hours and {repeat}; the same key with "
        "another request is refused (422 idempotency_key_reused). Keys are per business.",
    )


def checked_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY_SHAPE.match(key):
        raise ApiError(
            "invalid_parameter",
            f"The {IDEMPOTENCY_HEADER} header must be 1 to 255 visible ASCII characters.",
            parameter=IDEMPOTENCY_HEADER,
        )
    return key


def request_fingerprint(*parts: bytes) -> str:
    """What a request asked, to tell a repeat from another request under the same key."""
    return hashlib.sha256(b"\x1f".join(parts)).hexdigest()
