"""Meta's webhook signature: HMAC-SHA256 of the raw body with the app secret."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

SIGNATURE_HEADER: Final = "x-hub-signature-256"
_PREFIX: Final = "sha256="
_HEX_DIGEST: Final = re.compile(r"^[0-9a-fA-F]{64}$")


def sign(app_secret: bytes, body: bytes) -> str:
    """The header value Meta would send for ``body``."""
    return _PREFIX + hmac.new(app_secret, body, hashlib.sha256).hexdigest()


def signature_is_valid(app_secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a well-formed header whose digest matches, compared in constant time.

    The digest is computed over the bytes as received; re-serialised JSON would
    differ from what Meta signed (escaping of non-ASCII text, key order, spacing).
    """
    if header is None or not header.startswith(_PREFIX):
        return False
    supplied = header[len(_PREFIX) :]
    if not _HEX_DIGEST.match(supplied):
        return False
    expected = hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), supplied.lower().encode())
