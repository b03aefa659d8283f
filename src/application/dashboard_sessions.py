"""Dashboard sessions: signing in with an API token, one-time sign-in links, signing out.

A session is opened with an API token (or a one-time link made for one) and remembers the
business and the token (by its SHA-256): revoking the token ends every session it opened.
The browser holds a random session id; only its SHA-256 is stored, so a copy of the table
opens nothing. Sessions slide: each use pushes the expiry ``ttl`` further.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

SESSION_TTL: Final = timedelta(hours=12)
LINK_TTL: Final = timedelta(minutes=15)
_ID_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    """Who a live API token is: its business, its stored id (None for WAZYBOT_API_TOKEN),
    its name (the agent's name, None when it has none) and its SHA-256."""

    business_id: str
    token_id: str | None
    name: str | None
    token_sha256: bytes


class TokenIdentities(Protocol):
    async def identify(self, token: str) -> TokenIdentity | None:
        """The live token's identity; None for an unknown or revoked token."""
        ...

    async def by_id(self, business_id: str, token_id: str | None) -> TokenIdentity | None:
        """The live stored token with that id in that business (None: WAZYBOT_API_TOKEN,
        which opens the default business)."""
        ...


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """What every dashboard page knows of the person signed in."""

    business_id: str
    agent_name: str | None  # the token's name: who replies or takes a conversation over
    csrf_token: str  # every form carries it; a POST without it is refused
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OpenedSession:
    session_id: str  # for the browser's cookie only; never stored, never logged
    session: DashboardSession


@dataclass(frozen=True, slots=True)
class NewSession:
    id_sha256: bytes
    business_id: str
    token_sha256: bytes
    agent_name: str | None
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignInGrant:
    """What a one-time link opens: a session for this business and token."""

    business_id: str
    token_sha256: bytes
    agent_name: str | None


class DashboardSessionStore(Protocol):
    async def open(self, session: NewSession) -> None: ...

    async def find(
        self, id_sha256: bytes, now: datetime, expires_at: datetime
    ) -> DashboardSession | None:
        """The session, its expiry moved to ``expires_at``; None when unknown, expired or
        when the token that opened it is revoked."""
        ...

    async def close(self, id_sha256: bytes) -> None:
        """Forget the session (nothing happens for an unknown one)."""
        ...

    async def add_link(
        self, code_sha256: bytes, grant: SignInGrant, expires_at: datetime
    ) -> None: ...

    async def use_link(self, code_sha256: bytes, now: datetime) -> SignInGrant | None:
        """The link's grant, once: a second use, an expired or unknown code gives None."""
        ...


class SignInLinkError(ValueError):
    """A sign-in link cannot be made: no such live token in that business."""


def digest(secret: str) -> bytes:
    """Session ids and link codes carry 256 random bits: a fast hash is enough."""
    return hashlib.sha256(secret.encode()).digest()


class DashboardAccess:
    """Signing in, finding the session of a request, signing out, one-time links."""

    def __init__(
        self,
        store: DashboardSessionStore,
        tokens: TokenIdentities,
        clock: Callable[[], datetime] | None = None,
        ttl: timedelta = SESSION_TTL,
        link_ttl: timedelta = LINK_TTL,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ttl = ttl
        self._link_ttl = link_ttl

    async def sign_in(self, token: str) -> OpenedSession | None:
        """A new session for a live API token; None when the token opens nothing."""
        identity = await self._tokens.identify(token.strip()) if token.strip() else None
        if identity is None:
            return None
        return await self._open(
            SignInGrant(identity.business_id, identity.token_sha256, identity.name)
        )

    async def session(self, session_id: str) -> DashboardSession | None:
        if not session_id:
            return None
        now = self._clock()
        return await self._store.find(digest(session_id), now, now + self._ttl)

    async def sign_out(self, session_id: str) -> None:
        if session_id:
            await self._store.close(digest(session_id))

    async def create_sign_in_link(self, business_id: str, token_id: str | None = None) -> str:
        """A code for ``GET /sign-in/link?code=...``: valid once, for LINK_TTL (15 minutes).

        The session it opens acts with the stored token ``token_id`` of ``business_id``
        (its name is the agent's name) and ends when that token is revoked; ``None`` stands
        for WAZYBOT_API_TOKEN (default business only). SignInLinkError when no such live
        token exists.
        """
        identity = await self._tokens.by_id(business_id, token_id)
        if identity is None or identity.business_id != business_id:
            raise SignInLinkError(f"business {business_id!r} has no live token {token_id!r}")
        code = secrets.token_urlsafe(_ID_BYTES)
        grant = SignInGrant(business_id, identity.token_sha256, identity.name)
        await self._store.add_link(digest(code), grant, self._clock() + self._link_ttl)
        return code

    async def use_sign_in_link(self, code: str) -> OpenedSession | None:
        """A new session for a one-time code; None when unknown, used or expired."""
        if not code:
            return None
        grant = await self._store.use_link(digest(code), self._clock())
        return await self._open(grant) if grant is not None else None

    async def _open(self, grant: SignInGrant) -> OpenedSession:
        session_id = secrets.token_urlsafe(_ID_BYTES)
        session = NewSession(
            id_sha256=digest(session_id),
            business_id=grant.business_id,
            token_sha256=grant.token_sha256,
            agent_name=grant.agent_name,
            csrf_token=secrets.token_urlsafe(_ID_BYTES),
            expires_at=self._clock() + self._ttl,
        )
        await self._store.open(session)
        return OpenedSession(
            session_id,
            DashboardSession(
                session.business_id, session.agent_name, session.csrf_token, session.expires_at
            ),
        )
