"""One contract, two kinds of dashboard session stores: the in-memory fake and PostgreSQL
alike on signing in, sliding expiry, revocation, signing out and one-time links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from adapters.memory.dashboard_sessions import InMemoryDashboardSessions, InMemoryTokenIdentities
from adapters.postgres.api_tokens import ApiTokenAuthority, PostgresApiTokens
from adapters.postgres.connection import create_pool
from adapters.postgres.dashboard_sessions import PostgresDashboardSessions
from application.api_tokens import IssuedToken
from application.dashboard_sessions import DashboardAccess, SignInLinkError

ENVIRONMENT_TOKEN = "environment-token-0123456789abcdef"


class Tokens(Protocol):
    async def create(self, business_id: str, name: str) -> IssuedToken: ...

    async def revoke(self, token_id: str) -> None: ...


@dataclass
class World:
    access: DashboardAccess
    tokens: Tokens
    now: list[datetime]

    def advance(self, by: timedelta) -> None:
        self.now[0] += by


class MemoryTokens:
    def __init__(self, fake: InMemoryTokenIdentities) -> None:
        self.fake = fake

    async def create(self, business_id: str, name: str) -> IssuedToken:
        return self.fake.create(business_id, name)

    async def revoke(self, token_id: str) -> None:
        self.fake.revoke(token_id)


class StoredTokens:
    def __init__(self, tokens: PostgresApiTokens) -> None:
        self.tokens = tokens

    async def create(self, business_id: str, name: str) -> IssuedToken:
        return await self.tokens.create(business_id, name)

    async def revoke(self, token_id: str) -> None:
        await self.tokens.revoke(token_id)


@pytest.fixture(params=["memory", "postgres"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    # Near the real time: PostgreSQL sweeps rows that expired by its own clock.
    now = [datetime.now(UTC)]

    def clock() -> datetime:
        return now[0]

    if request.param == "memory":
        live: set[tuple[str, bytes]] = set()
        identities = InMemoryTokenIdentities(live)
        # The fake has no environment token: WAZYBOT_API_TOKEN is the authority's business.
        access = DashboardAccess(InMemoryDashboardSessions(live), identities, clock)
        yield World(access, MemoryTokens(identities), now)
        return
    pool: Any = await create_pool(request.getfixturevalue("database_url"), max_size=4)
    stored = PostgresApiTokens(pool)
    authority = ApiTokenAuthority(stored, ENVIRONMENT_TOKEN)
    sessions = PostgresDashboardSessions(pool, ENVIRONMENT_TOKEN)
    yield World(DashboardAccess(sessions, authority, clock), StoredTokens(stored), now)
    await pool.close()


async def test_a_token_opens_a_session_of_its_business_named_after_it(world: World) -> None:
    issued = await world.tokens.create("acme", "Marie")
    opened = await world.access.sign_in(issued.token)
    assert opened is not None
    assert opened.session.business_id == "acme"
    assert opened.session.agent_name == "Marie"
    assert len(opened.session.csrf_token) >= 32
    found = await world.access.session(opened.session_id)
    assert found is not None
    assert (found.business_id, found.agent_name) == ("acme", "Marie")
    assert found.csrf_token == opened.session.csrf_token

    unnamed = await world.access.sign_in((await world.tokens.create("acme", "")).token)
    assert unnamed is not None
    assert unnamed.session.agent_name is None
    assert unnamed.session_id != opened.session_id
    assert unnamed.session.csrf_token != opened.session.csrf_token


async def test_unknown_tokens_and_ids_open_nothing(world: World) -> None:
    await world.tokens.create("acme", "Marie")
    for token in ("", "   ", "wzb_unknown_token", ENVIRONMENT_TOKEN + "x"):
        assert await world.access.sign_in(token) is None
    assert await world.access.session("") is None
    assert await world.access.session("no-such-session") is None


async def test_sessions_slide_and_expire(world: World) -> None:
    opened = await world.access.sign_in((await world.tokens.create("acme", "Marie")).token)
    assert opened is not None
    world.advance(timedelta(hours=11))
    assert await world.access.session(opened.session_id) is not None  # pushed to +23 h
    world.advance(timedelta(hours=11))
    assert await world.access.session(opened.session_id) is not None  # pushed to +34 h
    world.advance(timedelta(hours=12, seconds=1))
    assert await world.access.session(opened.session_id) is None


async def test_revoking_the_token_ends_its_sessions_only(world: World) -> None:
    marie = await world.tokens.create("acme", "Marie")
    paul = await world.tokens.create("acme", "Paul")
    first = await world.access.sign_in(marie.token)
    second = await world.access.sign_in(marie.token)
    other = await world.access.sign_in(paul.token)
    assert first is not None
    assert second is not None
    assert other is not None
    await world.tokens.revoke(marie.id)
    assert await world.access.session(first.session_id) is None
    assert await world.access.session(second.session_id) is None
    assert await world.access.session(other.session_id) is not None
    assert await world.access.sign_in(marie.token) is None


async def test_signing_out_ends_that_session_only(world: World) -> None:
    token = (await world.tokens.create("acme", "Marie")).token
    first = await world.access.sign_in(token)
    second = await world.access.sign_in(token)
    assert first is not None
    assert second is not None
    await world.access.sign_out(first.session_id)
    await world.access.sign_out(first.session_id)  # again: harmless
    await world.access.sign_out("no-such-session")
    assert await world.access.session(first.session_id) is None
    assert await world.access.session(second.session_id) is not None


async def test_a_sign_in_link_works_once_within_its_time(world: World) -> None:
    issued = await world.tokens.create("globex", "Gina")
    code = await world.access.create_sign_in_link("globex", issued.id)
    opened = await world.access.use_sign_in_link(code)
    assert opened is not None
    assert (opened.session.business_id, opened.session.agent_name) == ("globex", "Gina")
    assert await world.access.session(opened.session_id) is not None
    assert await world.access.use_sign_in_link(code) is None
    assert await world.access.use_sign_in_link("") is None
    assert await world.access.use_sign_in_link("no-such-code") is None

    late = await world.access.create_sign_in_link("globex", issued.id)
    world.advance(timedelta(minutes=15, seconds=1))
    assert await world.access.use_sign_in_link(late) is None

    # The session a link opens ends with its token, like any other.
    fresh = await world.access.use_sign_in_link(
        await world.access.create_sign_in_link("globex", issued.id)
    )
    assert fresh is not None
    await world.tokens.revoke(issued.id)
    assert await world.access.session(fresh.session_id) is None


async def test_a_link_needs_a_live_token_of_that_business(world: World) -> None:
    issued = await world.tokens.create("globex", "Gina")
    with pytest.raises(SignInLinkError):
        await world.access.create_sign_in_link("acme", issued.id)
    with pytest.raises(SignInLinkError):
        await world.access.create_sign_in_link("globex", "no-such-id")
    await world.tokens.revoke(issued.id)
    with pytest.raises(SignInLinkError):
        await world.access.create_sign_in_link("globex", issued.id)


async def test_the_environment_token_opens_the_default_business(database_url: str) -> None:
    pool: Any = await create_pool(database_url, max_size=2)
    try:
        stored = PostgresApiTokens(pool)
        access = DashboardAccess(
            PostgresDashboardSessions(pool, ENVIRONMENT_TOKEN),
            ApiTokenAuthority(stored, ENVIRONMENT_TOKEN),
        )
        opened = await access.sign_in(ENVIRONMENT_TOKEN)
        assert opened is not None
        assert (opened.session.business_id, opened.session.agent_name) == ("default", None)
        linked = await access.use_sign_in_link(await access.create_sign_in_link("default"))
        assert linked is not None
        # Another WAZYBOT_API_TOKEN after a restart: the old sessions end.
        changed = DashboardAccess(
            PostgresDashboardSessions(pool, "another-environment-token-0123456"),
            ApiTokenAuthority(stored, "another-environment-token-0123456"),
        )
        assert await changed.session(opened.session_id) is None
        assert await changed.session(linked.session_id) is None
        assert await access.session(opened.session_id) is not None
    finally:
        await pool.close()
