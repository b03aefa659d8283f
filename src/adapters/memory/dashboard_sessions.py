"""Dashboard sessions in a dict, for service tests; the tokens live while in ``live_tokens``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from application.dashboard_sessions import DashboardSession, NewSession, SignInGrant


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
