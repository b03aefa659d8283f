"""What every dashboard page shares: the session of a request, CSRF, rendering, redirects.

A page handler takes ``request``, ``session: Session`` and ``dashboard: Services`` and returns
``render(request, "page.html", **context)``; a form handler reads ``await form_of(request)``
and answers ``redirect_back("/path", notice="key")``. The CSRF check has already run for
every POST before the handler is called.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import structlog
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import QueryParameter, SkipValidation
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from application.dashboard_sessions import DashboardSession
from entrypoints.dashboard.i18n import LANGUAGE_NAMES, LANGUAGES, Language, language_of, translate
from entrypoints.dashboard.slot import DashboardSlot, ServiceStartingError

log = structlog.get_logger(__name__)

SESSION_COOKIE: Final = "wazybot_session"
# Before sign-in there is no session to hold the CSRF token: the sign-in (and language)
# forms use a double-submit cookie instead, compared with the form's hidden field.
PRE_SESSION_CSRF_COOKIE: Final = "wazybot_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
PUBLIC: Final = "dashboard_public"  # opt key: the route needs no session (sign-in, link...)
_STATE_KEY: Final = "dashboard_session"
_SLOT_KEY: Final = "dashboard_slot"

Session = NamedDependency[SkipValidation[DashboardSession]]
Services = NamedDependency[SkipValidation[DashboardSlot]]
AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str  # an i18n key
    sandbox_only: bool = False


# The navigation, in order. A new page adds its handlers to pages.PAGE_HANDLERS; it is listed
# here already when the brief's URL map names it.
NAV: Final = (
    NavItem("/", "nav.overview"),
    NavItem("/conversations", "nav.conversations"),
    NavItem("/orders", "nav.orders"),
    NavItem("/errors", "nav.errors"),
    NavItem("/phone", "nav.phone", sandbox_only=True),
)


class NotSignedInError(Exception):
    """The page needs a session: the browser is sent to /sign-in."""


class CsrfRefusedError(Exception):
    """A POST without the right CSRF token: a 403 page, nothing changed."""


class PageNotFoundError(Exception):
    """Nothing at this address for this business: a 404 page."""


def query(name: str) -> Any:
    """An optional query parameter (``str | None = query("name")``)."""
    return QueryParameter(name=name, default=None)


def session_of(request: AnyRequest) -> DashboardSession | None:
    found: DashboardSession | None = request.state.get(_STATE_KEY)
    return found


def guard(slot: DashboardSlot) -> Any:
    """The before-request hook of every dashboard page: find the session, refuse a page
    without one (except the public ones), refuse a POST without its CSRF token."""

    async def before_request(request: AnyRequest) -> None:
        request.state[_SLOT_KEY] = slot
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = await slot.ready_access().session(session_id) if session_id else None
        request.state[_STATE_KEY] = session
        public = bool(request.route_handler.opt.get(PUBLIC))
        if session is None and not public:
            raise NotSignedInError
        if request.method == "POST":
            expected = (
                session.csrf_token if session else request.cookies.get(PRE_SESSION_CSRF_COOKIE, "")
            )
            supplied = request.headers.get(CSRF_HEADER) or str(
                (await request.form()).get(CSRF_FIELD) or ""
            )
            if not expected or not hmac.compare_digest(expected.encode(), supplied.encode()):
                log.warning("dashboard.csrf_refused", path=request.url.path)
                raise CsrfRefusedError

    return before_request


def provide_session(request: AnyRequest) -> DashboardSession:
    session = session_of(request)
    if session is None:
        raise NotSignedInError
    return session


async def form_of(request: AnyRequest) -> dict[str, str]:
    """The posted form's fields (the last value of each), CSRF field left out."""
    form = await request.form()
    return {k: str(v) for k, v in form.items() if k != CSRF_FIELD and isinstance(v, str)}


def render(
    request: AnyRequest, template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """A page from templates/: the layout's values (lang, t, session, csrf_token, nav) added."""
    slot: DashboardSlot | None = request.state.get(_SLOT_KEY)
    lang = language_of(request)
    session = session_of(request)
    csrf_token = session.csrf_token if session else context.pop("pre_session_csrf", "")

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    notice = request.query_params.get("notice")
    problem = request.query_params.get("problem")
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "lang": lang,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "t": t,
            "session": session,
            "csrf_field": CSRF_FIELD,
            "csrf_token": csrf_token,
            "nav": [item for item in NAV if not item.sandbox_only or (slot and slot.sandbox)],
            "current_path": request.url.path,
            "current_url": _local_url(request),
            "notice": _known(lang, "notice", notice),
            "problem": _known(lang, "problem", problem),
            **context,
        },
    )


def _known(lang: Language, kind: str, key: str | None) -> str | None:
    """The text of a notice named in the query string, if it is one of ours."""
    full = f"{kind}.{key}"
    text = translate(lang, full) if key else full
    return None if text == full else text


def _local_url(request: AnyRequest) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def local_path(raw: str | None, default: str = "/") -> str:
    """A place on this site to go back to: a path, never another host."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    return raw


def redirect_back(
    path: str, *, notice: str | None = None, problem: str | None = None, **query: str
) -> Redirect:
    """303 to ``path`` (after a POST), with a notice or problem key (i18n ``notice.<key>``,
    ``problem.<key>``) shown at the top of the page."""
    params = {k: v for k, v in {**query, "notice": notice, "problem": problem}.items() if v}
    return Redirect(path=path + (("?" + urlencode(params)) if params else ""), status_code=303)


def secure_request(request: AnyRequest) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


def cookie(request: AnyRequest, key: str, value: str, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=key, value=value, path="/", httponly=True, samesite="lax",
        secure=secure_request(request), max_age=max_age,
    )  # fmt: skip


def expired_cookie(request: AnyRequest, key: str) -> Cookie:
    return Cookie(
        key=key, value="", path="/", httponly=True, samesite="lax",
        secure=secure_request(request), max_age=0, expires=0,
    )  # fmt: skip


def new_pre_session_token() -> str:
    return secrets.token_urlsafe(32)


def _to_sign_in(request: AnyRequest, _: Exception) -> Response[Any]:
    target = "/sign-in"
    if request.method == "GET" and request.url.path != "/":
        target += "?" + urlencode({"next": _local_url(request)})
    return Redirect(path=target, status_code=303)


def _error_page(kind: str, status_code: int) -> Any:
    def handler(request: AnyRequest, _: Exception) -> Response[Any]:
        return render(request, "error.html", status_code=status_code, kind=kind)

    return handler


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    NotSignedInError: _to_sign_in,
    CsrfRefusedError: _error_page("forbidden", 403),
    PageNotFoundError: _error_page("not_found", 404),
    ServiceStartingError: _error_page("starting", 503),
}
