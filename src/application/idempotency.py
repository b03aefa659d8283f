"""A caller's Idempotency-Key, shared by every write command that accepts one.

The key is stored in the transaction that records what the request did, with a fingerprint
of the request and the answer it got: the same key with the same request gets that answer
again and changes nothing; the same key with another request is refused. Keys belong to
one business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from application.polling import PollingWorker

log = structlog.get_logger(__name__)

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


class ExpiredKeys(Protocol):
    async def forget_expired(self, limit: int) -> int:
        """Delete at most ``limit`` keys older than the window; how many went."""
        ...


class ExpiredKeyPurger(PollingWorker):
    """Deletes keys once their window has passed: a key's stored answer may hold a
    customer's details (a handoff answers with the conversation), so none is kept for
    longer than a repeat could need it."""

    def __init__(self, keys: ExpiredKeys, *, poll_seconds: float = 600.0, batch: int = 1000):
        super().__init__("idempotency-key-purger", poll_seconds)
        self._keys = keys
        self._batch = batch

    async def work_round(self) -> bool:
        forgotten = await self._keys.forget_expired(self._batch)
        if forgotten:
            log.info("idempotency.keys_forgotten", count=forgotten)
        return forgotten < self._batch
