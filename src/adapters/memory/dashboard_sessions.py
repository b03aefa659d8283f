"""Dashboard sessions in a dict, for service tests; the tokens live while in ``live_tokens``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from application.api_tokens import IssuedToken, issue_token, token_digest
from application.dashboard_sessions import (
    DashboardSession,
    NewSession,
    SignInGrant,
    TokenIdentity,
)


@dataclass
class _Link:
    grant: SignInGrant
    expires_at: datetime
    used: bool = False


class InMemoryDashboardSessions:
    """``live_tokens``: (business id, token SHA-256) of the tokens not revoked."""

    def __init__(self, live_tokens: set[tuple[str, bytes]] | None = None) -> None:
        self.live_tokens = live_tokens if live_tokens is not None else set()
        self.sessions: dict[bytes, NewSession] = {}
        self.links: dict[bytes, _Link] = {}

    async def open(self, session: NewSession) -> None:
        self.sessions[session.id_sha256] = session

    async def find(
        self, id_sha256: bytes, now: datetime, expires_at: datetime
    ) -> DashboardSession | None:
        found = self.sessions.get(id_sha256)
        if found is None or found.expires_at <= now:
            return None
        if (found.business_id, found.token_sha256) not in self.live_tokens:
            return None
        self.sessions[id_sha256] = found = replace(found, expires_at=expires_at)
        return DashboardSession(
            found.business_id, found.agent_name, found.csrf_token, found.expires_at
        )

    async def close(self, id_sha256: bytes) -> None:
        self.sessions.pop(id_sha256, None)

    async def add_link(self, code_sha256: bytes, grant: SignInGrant, expires_at: datetime) -> None:
        self.links[code_sha256] = _Link(grant, expires_at)

    async def use_link(self, code_sha256: bytes, now: datetime) -> SignInGrant | None:
        link = self.links.get(code_sha256)
        if link is None or link.used or link.expires_at <= now:
            return None
        link.used = True
        return link.grant


class InMemoryTokenIdentities:
    """API tokens in a dict for service tests; revoking one takes it out of ``live_tokens``
    (shared with InMemoryDashboardSessions), as revoking a stored token does."""

    def __init__(self, live_tokens: set[tuple[str, bytes]]) -> None:
        self.live_tokens = live_tokens
        self._tokens: dict[str, tuple[str, TokenIdentity]] = {}  # token -> (its id, identity)

    def create(self, business_id: str, name: str = "") -> IssuedToken:
        issued = issue_token(business_id)
        identity = TokenIdentity(business_id, issued.id, name or None, token_digest(issued.token))
        self._tokens[issued.token] = (issued.id, identity)
        self.live_tokens.add((business_id, identity.token_sha256))
        return issued

    def revoke(self, token_id: str) -> None:
        for found_id, identity in self._tokens.values():
            if found_id == token_id:
                self.live_tokens.discard((identity.business_id, identity.token_sha256))

    def _live(self, identity: TokenIdentity) -> bool:
        return (identity.business_id, identity.token_sha256) in self.live_tokens

    async def identify(self, token: str) -> TokenIdentity | None:
        found = self._tokens.get(token)
        return found[1] if found is not None and self._live(found[1]) else None

    async def by_id(self, business_id: str, token_id: str | None) -> TokenIdentity | None:
        for found_id, identity in self._tokens.values():
            if found_id == token_id and identity.business_id == business_id:
                return identity if self._live(identity) else None
        return None
