"""The Errors page at /errors: failed sends with their reason, dead letters, webhook problems,
unreadable changes and parked events, newest first; a failed message can be sent again.

``GET /errors?cursor=`` is the page, ``GET /errors/rows`` its list alone (re-fetched on the
live ``errors`` event), ``POST /errors/{message_id}/retry`` sends a failed message again
through the same service as ``POST /api/v1/outbox/{message_id}/retry``.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from application.read_models import ErrorPage, QueryError, page_size
from application.sending import RetryOutcome
from entrypoints.dashboard.orders import when_for
from entrypoints.dashboard.web import AnyRequest, Services, Session, redirect_back, render


def _query(name: str) -> Any:
    return QueryParameter(name=name, default=None, required=False)


PAGE_SIZE: Final = "25"
RETRYABLE_KINDS: Final = frozenset({"dead_letter", "send_failed"})


async def _errors(session: Session, dashboard: Services, cursor: str | None) -> dict[str, Any]:
    try:
        page: ErrorPage = await dashboard.read_models().errors(
            session.business_id, page_size(PAGE_SIZE), cursor or None
        )
    except QueryError:
        return {"bad": True, "errors": [], "next_cursor": None, "cursor": None}
    return {"bad": False, "errors": page.items, "next_cursor": page.next_cursor,
            "cursor": cursor or None}  # fmt: skip


async def _render(
    request: AnyRequest, template: str, session: Session, dashboard: Services, cursor: str | None
) -> Template:
    """The page or its list alone: the same errors, the same words."""
    context = await _errors(session, dashboard, cursor)
    return render(request, template, status_code=400 if context["bad"] else 200,
                  when=when_for(request), retryable=RETRYABLE_KINDS, **context)  # fmt: skip


@get("/errors", include_in_schema=False)
async def errors_page(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    cursor: str | None = _query("cursor"),
) -> Template:
    return await _render(request, "errors.html", session, dashboard, cursor)


@get("/errors/rows", include_in_schema=False)
async def errors_rows(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    cursor: str | None = _query("cursor"),
) -> Template:
    return await _render(request, "_errors_rows.html", session, dashboard, cursor)


@post("/errors/{message_id:str}/retry", include_in_schema=False)
async def retry_failed(
    message_id: FromPath[str], request: AnyRequest, session: Session, dashboard: Services
) -> Redirect:
    cause = "dashboard:" + (session.agent_name or "token")
    outcome = await dashboard.outbox_retries().request_retry(
        session.business_id, message_id, "agent", cause
    )
    if outcome is RetryOutcome.NOT_FOUND:
        return redirect_back("/errors", problem="retry_not_found")
    if outcome is RetryOutcome.NOT_FAILED:
        return redirect_back("/errors", problem="retry_not_failed")
    return redirect_back("/errors", notice="retry_queued")


ERRORS_HANDLERS: Final = (errors_page, errors_rows, retry_failed)
