"""Bearer tokens of the read-model API: made here, stored hashed, each for one business."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

TOKEN_PREFIX: Final = "wzb"  # noqa: S105 - a public marker, not a secret
_ID_BYTES: Final = 6
_SECRET_BYTES: Final = 32


class ApiTokenError(ValueError):
    """A token could not be created (unknown business, bad name)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: str  # public: shown by listings and safe to log
    business_id: str
    token: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of a stored token: never the token itself."""

    id: str
    business_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def issue_token(business_id: str) -> IssuedToken:
    token_id = secrets.token_hex(_ID_BYTES)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return IssuedToken(token_id, business_id, token)


def token_digest(token: str) -> bytes:
    """Tokens carry 256 random bits, so a fast hash is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).digest()


def same_token(supplied: str, expected: str) -> bool:
    return hmac.compare_digest(token_digest(supplied), token_digest(expected))
