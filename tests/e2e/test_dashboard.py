"""The dashboard over real HTTP against the whole server (workers, projections) and a real
PostgreSQL: sign-in, sessions, CSRF, one-time links, tenants, pages in both languages, and
what an agent does in a conversation."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from application.businesses import Business
from application.dashboard_sessions import SignInLinkError
from entrypoints.container import resolve
from tests.support.sending import API_TOKEN, SendingWorld, sending_world
from tests.support.webhooks import (
    encode,
    messages_change,
    signed_headers,
    text_message,
    webhook,
)

ANA = "15550007001"
BO = "15550007002"
GLOBEX_NUMBER = "2233445566779"
GLOBEX_CUSTOMER = "15550007009"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class Browser:
    """One browser: its own cookies, no automatic redirects."""

    def __init__(self, base_url: str, language: str = "en") -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, follow_redirects=False, timeout=30,
            headers={"Accept-Language": language},
        )  # fmt: skip

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def page(self, path: str, **params: str) -> str:
        answer = await self.get(path, **params)
        assert answer.status_code == 200, (answer.status_code, answer.headers, answer.text[:500])
        return answer.text

    async def csrf(self, path: str = "/") -> str:
        found = _CSRF.search(await self.page(path))
        assert found is not None
        assert found.group(1)
        return found.group(1)

    async def sign_in(self, token: str) -> httpx.Response:
        csrf = await self.csrf("/sign-in")
        return await self.http.post("/sign-in", data={"token": token, "csrf_token": csrf})

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """A form post with the CSRF token of the page the form is on (the overview)."""
        form = {"csrf_token": await self.csrf(), **(data or {})}
        return await self.http.post(path, data=form)

    async def close(self) -> None:
        await self.http.aclose()


@asynccontextmanager
async def browser(world: SendingWorld, language: str = "en") -> AsyncIterator[Browser]:
    opened = Browser(str(world.http.base_url), language)
    try:
        yield opened
    finally:
        await opened.close()


@asynccontextmanager
async def dashboard_world(database_url: str) -> AsyncIterator[SendingWorld]:
    """The server, a Globex business with its own number, and an agent token per business."""
    async with sending_world(database_url) as world:
        registry = await resolve(world.container.business_registry())
        await registry.add(Business(id="globex", name="Globex",
                                    phone_number_ids=(GLOBEX_NUMBER,)))  # fmt: skip
        yield world


async def token(world: SendingWorld, business_id: str, name: str) -> tuple[str, str]:
    issued = await (await resolve(world.container.api_tokens())).create(business_id, name)
    return issued.id, issued.token


async def deliver(
    world: SendingWorld, message: dict[str, Any], name: str, number: str | None = None
) -> None:
    """A customer's message through the signed webhook, from ``name``."""
    extra: dict[str, Any] = {"phone_number_id": number} if number else {}
    change = messages_change([message], names={message["from"]: name}, **extra)
    raw = encode(webhook(change))
    answer = await world.http.post("/webhooks/whatsapp", content=raw, headers=signed_headers(raw))
    assert answer.status_code == 200, answer.text


async def globex_conversation(world: SendingWorld) -> str:
    await deliver(world, text_message("Globex question", customer=GLOBEX_CUSTOMER), "Gaston",
                  GLOBEX_NUMBER)  # fmt: skip
    pool = await resolve(world.container.pool())

    async def found() -> str | None:
        value: str | None = await pool.fetchval(
            "select public_id from conversations where business_id = 'globex'"
        )
        return value

    conversation_id: str = await world.eventually(found)
    return conversation_id


def redirected_to(answer: httpx.Response, path: str) -> bool:
    return answer.status_code == 303 and answer.headers["location"] == path


async def events_of_type(world: SendingWorld, kind: str) -> int:
    pool = await resolve(world.container.pool())
    count: int = await pool.fetchval("select count(*) from events where type = $1", kind)
    return count


# --- sessions ---------------------------------------------------------------------------------


async def test_sign_in_with_a_token_until_it_is_revoked_and_sign_out(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as person:
        assert redirected_to(await person.get("/"), "/sign-in")
        assert redirected_to(await person.get("/conversations"), "/sign-in?next=%2Fconversations")

        refused = await person.sign_in("wzb_not_a_token")
        assert refused.status_code == 401
        assert "unknown or was revoked" in refused.text
        assert "wazybot_session" not in person.http.cookies

        token_id, marie = await token(world, "default", "Marie")
        opened = await person.sign_in(marie)
        assert redirected_to(opened, "/")
        cookie = next(c for c in opened.headers.get_list("set-cookie")
                      if c.startswith("wazybot_session="))  # fmt: skip
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here
        overview = await person.page("/")
        assert "Marie, signed in to default" in overview

        # Only the SHA-256 of the session id is stored.
        session_id = person.http.cookies["wazybot_session"]
        pool = await resolve(world.container.pool())
        stored = await pool.fetchval("select id_sha256 from dashboard_sessions")
        assert bytes(stored) == hashlib.sha256(session_id.encode()).digest()
        assert session_id.encode() not in bytes(stored)

        # Revoking the token ends the session at the next request.
        await (await resolve(world.container.api_tokens())).revoke(token_id)
        assert redirected_to(await person.get("/"), "/sign-in")
        assert (await person.sign_in(marie)).status_code == 401

        # WAZYBOT_API_TOKEN opens the default business too; signing out ends the session.
        assert redirected_to(await person.sign_in(API_TOKEN), "/")
        old_session = person.http.cookies["wazybot_session"]
        assert "Signed in to default" in await person.page("/")
        signed_out = await person.post("/sign-out")
        assert redirected_to(signed_out, "/sign-in")
        assert any(
            c.startswith('wazybot_session=""') or c.startswith("wazybot_session=;")
            for c in signed_out.headers.get_list("set-cookie")
        ), signed_out.headers
        assert await pool.fetchval(
            "select count(*) from dashboard_sessions where id_sha256 = $1",
            hashlib.sha256(old_session.encode()).digest(),
        ) == 0  # fmt: skip
        person.http.cookies.set("wazybot_session", old_session)
        assert redirected_to(await person.get("/"), "/sign-in")


async def test_the_session_cookie_is_secure_behind_https(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as person:
        csrf = await person.csrf("/sign-in")
        opened = await person.http.post(
            "/sign-in", data={"token": API_TOKEN, "csrf_token": csrf},
            headers={"X-Forwarded-Proto": "https"},
        )  # fmt: skip
        assert redirected_to(opened, "/")
        cookie = next(c for c in opened.headers.get_list("set-cookie")
                      if c.startswith("wazybot_session="))  # fmt: skip
        assert "Secure" in cookie


async def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    database_url: str,
) -> None:
    async with dashboard_world(database_url) as world, browser(world) as person:
        await deliver(world, text_message("Hello", customer=ANA), "Ana")
        chat = await world.conversation_of(ANA)

        # The sign-in form itself: no double-submit token, no session.
        no_token = await person.http.post("/sign-in", data={"token": API_TOKEN})
        assert no_token.status_code == 403
        assert "wazybot_session" not in person.http.cookies
        assert redirected_to(await person.sign_in(API_TOKEN), "/")

        for form, headers in [
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({}, {"X-CSRF-Token": "forged"}),
        ]:
            refused = await person.http.post(
                f"/conversations/{chat}/take-over", data=form, headers=headers
            )
            assert refused.status_code == 403, refused.text
            assert "nothing was changed" in refused.text
            refused = await person.http.post(
                f"/conversations/{chat}/reply", data={"text": "x", **form}, headers=headers
            )
            assert refused.status_code == 403
        assert (
            redirected_to(
                await person.http.post("/sign-out", data={"csrf_token": "forged"}), "/sign-in"
            )
            is False
        )
        assert await events_of_type(world, "conversation.escalated") == 0
        assert await events_of_type(world, "outbound.queued") == 0
        assert "Signed in to default" in await person.page("/")  # still signed in

        # htmx sends the token as a header: accepted.
        csrf = await person.csrf()
        taken = await person.http.post(
            f"/conversations/{chat}/take-over", headers={"X-CSRF-Token": csrf}
        )
        assert redirected_to(taken, f"/conversations/{chat}?notice=taken_over")
        assert await events_of_type(world, "conversation.escalated") == 1


async def test_a_one_time_link_opens_one_session_once(database_url: str) -> None:
    async with dashboard_world(database_url) as world:
        access = await resolve(world.container.dashboard_access())
        token_id, _ = await token(world, "globex", "Gina")
        code = await access.create_sign_in_link("globex", token_id)

        async with browser(world) as first, browser(world) as second:
            opened = await first.get("/sign-in/link", code=code)
            assert redirected_to(opened, "/")
            assert "Gina, signed in to globex" in await first.page("/")
            again = await second.get("/sign-in/link", code=code)
            assert again.status_code == 401
            assert "already used or expired" in again.text
            assert "wazybot_session" not in second.http.cookies
            assert (await second.get("/sign-in/link", code="nonsense")).status_code == 401
            assert (await second.get("/sign-in/link")).status_code == 401

            # An expired link opens nothing either.
            late = await access.create_sign_in_link("default")  # WAZYBOT_API_TOKEN
            pool = await resolve(world.container.pool())
            await pool.execute(
                "update dashboard_sign_in_links set expires_at = now() - interval '1 second'"
                " where code_sha256 = $1", hashlib.sha256(late.encode()).digest(),
            )  # fmt: skip
            assert (await second.get("/sign-in/link", code=late)).status_code == 401
            fresh = await access.create_sign_in_link("default")
            assert redirected_to(await second.get("/sign-in/link", code=fresh), "/")
            assert "Signed in to default" in await second.page("/")

        with pytest.raises(SignInLinkError):
            await access.create_sign_in_link("default", token_id)  # Globex's token
        with pytest.raises(SignInLinkError):
            await access.create_sign_in_link("globex")  # the environment token is default's


async def test_one_business_never_sees_another_s_conversations(database_url: str) -> None:
    async with dashboard_world(database_url) as world:
        await deliver(world, text_message("Default's secret", customer=ANA), "Ana")
        default_chat = await world.conversation_of(ANA)
        globex_chat = await globex_conversation(world)
        _, gina = await token(world, "globex", "Gina")

        async with browser(world) as globex, browser(world) as default:
            assert redirected_to(await globex.sign_in(gina), "/")
            assert redirected_to(await default.sign_in(API_TOKEN), "/")

            listed = await globex.page("/conversations")
            assert globex_chat in listed
            assert "Gaston" in listed
            assert default_chat not in listed
            assert "Ana" not in listed
            assert "Ana" not in await globex.page("/conversations", search=ANA)
            assert (await globex.get(f"/conversations/{default_chat}")).status_code == 404
            assert (await globex.get(f"/conversations/{default_chat}/live")).status_code == 404
            assert "Ana" not in await globex.page("/conversations/rows")
            for action in ("take-over", "hand-back", "reply"):
                refused = await globex.post(
                    f"/conversations/{default_chat}/{action}", {"text": "hi"}
                )
                assert refused.status_code == 404, (action, refused.status_code)
            assert await events_of_type(world, "conversation.escalated") == 0
            assert await events_of_type(world, "outbound.queued") == 0

            mine = await default.page("/conversations")
            assert default_chat in mine
            assert globex_chat not in mine
            assert (await default.get(f"/conversations/{globex_chat}")).status_code == 404


# --- pages ------------------------------------------------------------------------------------


def chart_of(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="messages-chart-data">(.*?)</script>', page, re.S
    )
    assert found is not None
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


async def test_every_page_renders_in_english_and_french_with_real_data(
    database_url: str,
) -> None:
    async with dashboard_world(database_url) as world:
        await deliver(world, text_message("Do you deliver to Lyon?", customer=ANA), "Ana")
        await deliver(world, text_message("Bonjour", customer=BO), "Bo")
        await deliver(world, text_message("<b>Lyon</b>", customer=ANA), "Ana")
        chat = await world.conversation_of(ANA)
        await world.conversation_of(BO)
        async with browser(world, "fr-FR,fr;q=0.9,en;q=0.5") as french, browser(world) as english:
            assert redirected_to(await english.sign_in(API_TOKEN), "/")
            assert redirected_to(await french.sign_in(API_TOKEN), "/")

            async def received_three() -> bool:
                return "Messages received" in (page := await english.page("/")) and re.search(
                    r'id="metric-messages_received">\s*<h3>Messages received</h3>\s*'
                    r'<p class="value">3</p>', page) is not None  # fmt: skip

            await world.eventually(received_three)
            overview = await english.page("/")
            assert '<html lang="en">' in overview
            assert 'id="status-title">Connection</h2>' in overview  # the live status service
            assert "Live (Meta)" in overview
            for label in ("AI responses", "Response rate", "Average first response",
                          "Delivery rate", "Read rate", "Handoffs to a person", "Orders",
                          "Revenue", "vs the previous period"):  # fmt: skip
                assert label in overview, label
            assert "/static/vendor/uPlot.iife.min.js" in overview
            assert "http://" not in overview.replace(str(world.http.base_url), "")
            chart = chart_of(overview)
            assert sum(chart["series"][0]["values"]) == 3
            assert len(chart["x"]) == len(chart["series"][0]["values"]) == 24

            week = await english.page("/", range="7d")
            assert len(chart_of(week)["x"]) == 7
            assert 'aria-current="true">7 days' in week

            accueil = html.unescape(await french.page("/"))
            assert '<html lang="fr">' in accueil
            for label in (
                "Messages reçus",
                "Réponses de l'IA",
                "Taux de réponse",
                "Vue d'ensemble",
                "Se déconnecter",
                "par rapport à la période",
            ):
                assert label in accueil, label
            card = accueil[accueil.index('id="status-title"') : accueil.index("</section>")]
            assert "Jeton d'accès : " in card  # the checks in French, not the API's English
            assert "access token" not in card

            listing = await english.page("/conversations")
            assert "Ana" in listing
            assert "Bo" in listing
            assert "&lt;b&gt;Lyon&lt;/b&gt;" in listing
            assert f'href="/conversations/{chat}"' in listing
            only_ana = await english.page("/conversations", search="Ana")
            assert "Ana" in only_ana
            assert "Bonjour" not in only_ana
            assert "Bonjour" in await french.page("/conversations", status="bot")
            assert "Aucune conversation" in await french.page("/conversations", status="closed")
            bad = await french.page("/conversations", status="nonsense")
            assert "inutilisable" in bad

            page = await english.page(f"/conversations/{chat}")
            assert "&lt;b&gt;Lyon&lt;/b&gt;" in page  # what customers write is text, never HTML
            assert "<b>Lyon</b>" not in page
            assert "Do you deliver to Lyon?" in page
            assert "Customer" in page
            assert "Take over" in page
            assert 'name="text"' in page
            page_fr = await french.page(f"/conversations/{chat}")
            assert "Prendre la main" in page_fr
            assert "Client" in page_fr
            assert (await english.get("/conversations/" + "0" * 32)).status_code == 404

            # The language switch: a cookie, then back to the page it came from.
            switched = await english.post("/language", {"lang": "fr", "next": "/conversations"})
            assert redirected_to(switched, "/conversations")
            assert '<html lang="fr">' in await english.page("/conversations")
            home = await english.post("/language", {"lang": "en", "next": "https://evil.example/"})
            assert redirected_to(home, "/")


async def test_pages_fit_a_narrow_screen_and_label_every_field(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as person:
        await deliver(world, text_message("Hi", customer=ANA), "Ana")
        chat = await world.conversation_of(ANA)
        sign_in = await person.page("/sign-in")
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in sign_in
        assert '<label for="token">' in sign_in
        assert redirected_to(await person.sign_in(API_TOKEN), "/")
        for path in ("/", "/conversations", f"/conversations/{chat}"):
            page = await person.page(path)
            assert page.count("<h1>") == 1, path
            for field in re.findall(r"<(?:input|select|textarea)([^>]*)>", page):
                if 'type="hidden"' in field:
                    continue
                found = re.search(r'id="([^"]+)"', field)
                assert found is not None, (path, field)
                assert f'<label for="{found.group(1)}">' in page, (path, field)
        css = (await person.get("/static/dashboard.css")).text
        assert "@media (max-width: 40rem)" in css
        assert ":focus-visible" in css


# --- an agent at work -------------------------------------------------------------------------


async def test_an_agent_replies_takes_over_and_hands_back(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        world.sim.set_outcome("read")
        await deliver(world, text_message("Where is my parcel?", customer=ANA), "Ana")
        chat = await world.conversation_of(ANA)
        _, marie = await token(world, "default", "Marie")
        assert redirected_to(await agent.sign_in(marie), "/")

        sent = await agent.post(f"/conversations/{chat}/reply", {"text": "It left this morning"})
        assert redirected_to(sent, f"/conversations/{chat}?notice=reply_queued")
        page = await agent.page(f"/conversations/{chat}", notice="reply_queued")
        assert "Your reply is queued" in page
        assert "It left this morning" in page
        assert "Agent" in page
        timeline = await world.timeline(chat)
        assert [m["sender"] for m in timeline if m["summary"] == "It left this morning"] == [
            "agent"
        ]

        await world.eventually(lambda: _tick(agent, chat, "read"))
        page = await agent.page(f"/conversations/{chat}")
        assert "✓✓" in page
        assert ">read<" in page

        # A send that fails shows its reason.
        world.sim.set_outcome("failed", recipient=BO, error_code=131026)
        await deliver(world, text_message("Hello?", customer=BO), "Bo")
        other = await world.conversation_of(BO)
        await agent.post(f"/conversations/{other}/reply", {"text": "Hi Bo"})
        await world.eventually(lambda: _tick(agent, other, "failed"))
        failed = await agent.page(f"/conversations/{other}")
        assert re.search(r'>failed</span>: <span class="reason">[^<]+</span>', failed), failed

        # The same form sent twice at once (a double click) queues one message.
        page = await agent.page(f"/conversations/{chat}")
        submission = re.search(r'name="submission" value="([^"]+)"', page)
        assert submission is not None
        twice = {"text": "Sent once", "submission": submission.group(1)}
        answers = await asyncio.gather(*(agent.post(f"/conversations/{chat}/reply", twice)
                                         for _ in range(2)))  # fmt: skip
        assert all(redirected_to(a, f"/conversations/{chat}?notice=reply_queued") for a in answers)
        timeline = await world.timeline(chat)
        assert [m["summary"] for m in timeline].count("Sent once") == 1
        edited = await agent.post(f"/conversations/{chat}/reply",
                                  {**twice, "text": "Sent once, edited"})  # fmt: skip
        assert redirected_to(edited, f"/conversations/{chat}?problem=already_sent")

        empty = await agent.post(f"/conversations/{chat}/reply", {"text": "   "})
        assert redirected_to(empty, f"/conversations/{chat}?problem=empty_reply")

        taken = await agent.post(f"/conversations/{chat}/take-over")
        assert redirected_to(taken, f"/conversations/{chat}?notice=taken_over")
        page = await agent.page(f"/conversations/{chat}")
        assert "Escalated" in page
        assert "handled by Marie" in page
        assert "Hand back" in page
        again = await agent.post(f"/conversations/{chat}/take-over")
        assert redirected_to(again, f"/conversations/{chat}?problem=already_escalated")
        assert "Escalated" in await agent.page("/conversations", status="escalated")

        back = await agent.post(f"/conversations/{chat}/hand-back")
        assert redirected_to(back, f"/conversations/{chat}?notice=handed_back")
        page = await agent.page(f"/conversations/{chat}")
        assert "Take over" in page
        assert "handled by" not in page
        again = await agent.post(f"/conversations/{chat}/hand-back")
        assert redirected_to(again, f"/conversations/{chat}?problem=not_escalated")


async def _tick(agent: Browser, chat: str, status: str) -> bool:
    shown = await agent.page(f"/conversations/{chat}")
    return f'class="delivery status-{status}"' in shown


async def test_a_closed_window_offers_approved_templates_only(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        world.sim.add_template("hello_world", "en_US", [{"type": "BODY", "text": "Hello World"}])
        world.sim.add_template("draft", "en_US", [{"type": "BODY", "text": "x"}],
                               status="PENDING")  # fmt: skip
        await world.sync_templates()
        stale = int(time.time()) - 25 * 3600
        await deliver(world, text_message("old question", customer=BO, sent_at=stale), "Bo")
        chat = await world.conversation_of(BO)
        assert redirected_to(await agent.sign_in(API_TOKEN), "/")

        page = await agent.page(f"/conversations/{chat}")
        assert "only approved templates can be sent" in page
        assert 'name="text"' not in page
        assert '<option value="hello_world|en_US">' in page
        assert "draft" not in page

        refused = await agent.post(f"/conversations/{chat}/reply", {"text": "hi"})
        assert redirected_to(refused, f"/conversations/{chat}?problem=window_closed")
        assert await events_of_type(world, "outbound.queued") == 0

        sent = await agent.post(f"/conversations/{chat}/reply", {"template": "hello_world|en_US"})
        assert redirected_to(sent, f"/conversations/{chat}?notice=reply_queued")
        assert await events_of_type(world, "outbound.queued") == 1
        timeline = await world.timeline(chat)
        assert any(m["type"] == "template" and m["sender"] == "agent" for m in timeline)
        wrong = await agent.post(
            f"/conversations/{chat}/reply",
            {"template": "hello_world|en_US", "parameters": "unexpected"},
        )
        assert redirected_to(wrong, f"/conversations/{chat}?problem=template_refused")


async def test_pages_refuse_framing_inline_code_and_caching(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        _, marie = await token(world, "default", "Marie")
        for answer in (await agent.get("/sign-in"), await agent.sign_in(marie),
                       await agent.get("/"), await agent.get("/conversations")):  # fmt: skip
            headers = answer.headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "script-src 'self';" in headers["content-security-policy"]
            assert "unsafe-inline" not in headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["cache-control"] == "no-store"
            assert headers["referrer-policy"] == "same-origin"
            assert "Cookie" in headers["vary"]


async def test_sign_in_counts_as_a_use_and_never_goes_on_to_another_sign_in(
    database_url: str,
) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        token_id, marie = await token(world, "default", "Marie")
        csrf = await agent.csrf("/sign-in")
        form = {"token": marie, "csrf_token": csrf, "next": "/sign-in/link?code=someone-elses"}
        answer = await agent.http.post("/sign-in", data=form)
        assert redirected_to(answer, "/")
        tokens = await (await resolve(world.container.api_tokens())).list("default")
        assert [t.last_used_at is not None for t in tokens if t.id == token_id] == [True]


async def test_the_live_parts_render_alone_as_the_page_shows_them(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        await deliver(world, text_message("Is it in stock?", customer=ANA), "Ana")
        chat = await world.conversation_of(ANA)
        assert redirected_to(await agent.sign_in(API_TOKEN), "/")

        rows = await agent.page("/conversations/rows", status="bot")
        assert 'id="conversation-rows"' in rows
        assert 'hx-trigger="sse:conversations, sse:refresh"' in rows
        assert f"/conversations/{chat}" in rows
        assert "<html" not in rows

        part = await agent.page(f"/conversations/{chat}/live")
        assert f'hx-trigger="sse:conversation:{chat}, sse:refresh"' in part
        assert "Is it in stock?" in part
        assert "<html" not in part

        figures = await agent.page("/overview/figures", range="7d")
        assert 'id="overview-figures"' in figures
        assert "range=7d" in figures
        assert chart_of(figures)["series"]
        assert "<html" not in figures

        # The page re-fetches its changing part; the reply box being typed in is left alone.
        page = await agent.page(f"/conversations/{chat}")
        assert f'hx-get="/conversations/{chat}/live"' in page
        live_part = page[page.index('id="conversation-live"') :]
        assert live_part.index("</ol>") < live_part.index('id="reply-title"')


async def test_a_refused_sign_in_keeps_where_it_was_going(database_url: str) -> None:
    async with dashboard_world(database_url) as world, browser(world) as agent:
        _, marie = await token(world, "default", "Marie")
        csrf = await agent.csrf("/sign-in?next=/conversations")
        refused = await agent.http.post("/sign-in", data={
            "token": "not-a-token", "csrf_token": csrf, "next": "/conversations"})  # fmt: skip
        assert refused.status_code == 401
        assert 'name="next" value="/conversations"' in refused.text
        answer = await agent.http.post("/sign-in", data={
            "token": marie, "csrf_token": csrf, "next": "/conversations"})  # fmt: skip
        assert redirected_to(answer, "/conversations")
