"""A caller's Idempotency-Key, shared by every write command that accepts one.

The key is stored in the transaction that records what the request did, with a fingerprint
of the request and the answer it got: the same key with the same request gets that answer
again and changes nothing; the same key with another request is refused. Keys belong to
one business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

KEY_REUSED: Final = (
    "This Idempotency-Key was already used with a different request; use a new key for a "
    "new request."
)
KEY_FIELD: Final = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class RememberedKey:
    fingerprint: str  # what was asked
    answer: str  # what the first request was answered, as its command encodes it


@dataclass(frozen=True, slots=True)
class KeyToRemember:
    business_id: str
    key: str
    fingerprint: str
    answer: str

    def remembered(self) -> RememberedKey:
        return RememberedKey(self.fingerprint, self.answer)


def same_request(known: RememberedKey, fingerprint: str) -> bool:
    return known.fingerprint == fingerprint
