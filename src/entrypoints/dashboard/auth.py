"""Signing in (API token or one-time link), signing out, and choosing the language."""

from __future__ import annotations

from typing import Any, Final

import structlog
from litestar import get, post
from litestar.response import Redirect, Template

from application.dashboard_sessions import OpenedSession
from entrypoints.dashboard.i18n import LANG_COOKIE, supported
from entrypoints.dashboard.web import (
    PRE_SESSION_CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    AnyRequest,
    Services,
    cookie,
    expired_cookie,
    form_of,
    local_path,
    new_pre_session_token,
    query,
    render,
    session_of,
)

log = structlog.get_logger(__name__)

_YEAR: Final = 365 * 24 * 3600


def _sign_in_page(
    request: AnyRequest, *, status_code: int = 200, next_: str | None = None, **context: Any
) -> Template:
    """The form; ``next_`` (a refused POST's own field) else the query's ``next``."""
    token = request.cookies.get(PRE_SESSION_CSRF_COOKIE) or new_pre_session_token()
    wanted = next_ if next_ is not None else request.query_params.get("next")
    page = render(
        request, "sign_in.html", status_code=status_code, pre_session_csrf=token,
        next=local_path(wanted, ""), **context,
    )  # fmt: skip
    page.cookies.append(cookie(request, PRE_SESSION_CSRF_COOKIE, token))
    return page


def _signed_in(request: AnyRequest, opened: OpenedSession, target: str) -> Redirect:
    answer = Redirect(path=target, status_code=303)
    answer.cookies.append(cookie(request, SESSION_COOKIE, opened.session_id))
    answer.cookies.append(expired_cookie(request, PRE_SESSION_CSRF_COOKIE))
    return answer


@get("/sign-in", opt={PUBLIC: True}, include_in_schema=False)
async def sign_in_page(request: AnyRequest) -> Template | Redirect:
    if session_of(request) is not None:
        return Redirect(path="/", status_code=303)
    return _sign_in_page(request)


@post("/sign-in", opt={PUBLIC: True}, include_in_schema=False)
async def sign_in(request: AnyRequest, dashboard: Services) -> Template | Redirect:
    form = await form_of(request)
    opened = await dashboard.ready_access().sign_in(form.get("token", ""))
    if opened is None:
        log.info("dashboard.sign_in_refused")
        return _sign_in_page(request, status_code=401, refused="sign_in.refused",
                             next_=form.get("next", ""))  # fmt: skip
    log.info("dashboard.signed_in", business_id=opened.session.business_id)
    return _signed_in(request, opened, local_path(form.get("next")))


@get("/sign-in/link", opt={PUBLIC: True}, include_in_schema=False)
async def sign_in_link(
    request: AnyRequest,
    dashboard: Services,
    code: str | None = query("code"),
) -> Template | Redirect:
    opened = await dashboard.ready_access().use_sign_in_link(code or "")
    if opened is None:
        log.info("dashboard.sign_in_link_refused")
        return _sign_in_page(request, status_code=401, refused="sign_in.link_refused")
    log.info("dashboard.signed_in", business_id=opened.session.business_id, by="link")
    return _signed_in(request, opened, "/")


@post("/sign-out", include_in_schema=False)
async def sign_out(request: AnyRequest, dashboard: Services) -> Redirect:
    await dashboard.ready_access().sign_out(request.cookies.get(SESSION_COOKIE, ""))
    answer = Redirect(path="/sign-in", status_code=303)
    answer.cookies.append(expired_cookie(request, SESSION_COOKIE))
    return answer


@post("/language", opt={PUBLIC: True}, include_in_schema=False)
async def choose_language(request: AnyRequest) -> Redirect:
    form = await form_of(request)
    answer = Redirect(path=local_path(form.get("next")), status_code=303)
    language = supported(form.get("lang"))
    if language is not None:
        answer.cookies.append(cookie(request, LANG_COOKIE, language, max_age=_YEAR))
    return answer


AUTH_HANDLERS: Final = (sign_in_page, sign_in, sign_in_link, sign_out, choose_language)
