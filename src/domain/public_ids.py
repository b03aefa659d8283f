"""Identifiers the API shows: opaque (no phone number inside) and stable across rebuilds.

Each is a digest of what identifies the thing for good, so replaying the log into
fresh read models gives every conversation and message the id it had before.
Migration 0006 computes the conversation id in SQL with the same recipe; keep them alike.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

PUBLIC_ID_LENGTH: Final = 32  # hex digits: 128 bits of SHA-256
_SEPARATOR: Final = "\x1f"  # a control character no business id, stream id or wamid holds
_SHAPE: Final = re.compile(f"[0-9a-f]{{{PUBLIC_ID_LENGTH}}}")


def _digest(kind: str, *parts: str) -> str:
    text = _SEPARATOR.join((kind, *parts))
    return hashlib.sha256(text.encode()).hexdigest()[:PUBLIC_ID_LENGTH]


def conversation_public_id(business_id: str, stream_id: str) -> str:
    """The id of a business's conversation (its event stream) in URLs and answers."""
    return _digest("conversation", business_id, stream_id)


def message_public_id(business_id: str, wamid: str) -> str:
    """The id of a message on a business's timeline."""
    return _digest("message", business_id, wamid)


def is_public_id(value: str) -> bool:
    """Has ``value`` the shape of an id these functions make? (Others name nothing.)"""
    return _SHAPE.fullmatch(value) is not None
