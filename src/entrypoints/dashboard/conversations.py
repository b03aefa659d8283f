"""Conversations: the list (search, status, older pages), one conversation's timeline, and
what an agent does there (reply, take over, hand back)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode

import structlog
from litestar import get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from application.handoff import Escalation, HandoffRefusal, HandoffRefusedError
from application.read_models import (
    ConversationFilter,
    ConversationView,
    QueryError,
    conversation_status,
    search_text,
)
from application.sending import Refusal, SendCommand, SendRefusedError
from application.templates import TemplateError
from domain.outbound import OutboundMessage, TemplateMessage, TextMessage
from entrypoints.dashboard import formatting
from entrypoints.dashboard.i18n import language_of
from entrypoints.dashboard.web import (
    AnyRequest,
    PageNotFoundError,
    Services,
    Session,
    form_of,
    query,
    redirect_back,
    render,
)
from entrypoints.errors import request_id_of

log = structlog.get_logger(__name__)

LIST_SIZE: Final = 25
TIMELINE_SIZE: Final = 50
STATUSES: Final = ("bot", "escalated", "closed")
# After a command the page is shown again; the read model follows the events a moment later.
# Wait for it (bounded) so the page shows what was just done; past the deadline, show it anyway.
READ_MODEL_WAIT_SECONDS: Final = 3.0
_SEND_PROBLEMS: Final = {
    Refusal.WINDOW_CLOSED: "window_closed",
    Refusal.INVALID: "invalid_message",
    Refusal.NOT_SENDABLE: "not_sendable",
    Refusal.KEY_REUSED: "invalid_message",
}
_HANDOFF_PROBLEMS: Final = {
    HandoffRefusal.ALREADY_ESCALATED: "already_escalated",
    HandoffRefusal.NOT_ESCALATED: "not_escalated",
    HandoffRefusal.BUSY: "busy",
    HandoffRefusal.INVALID: "busy",
    HandoffRefusal.KEY_REUSED: "busy",
}


def _text(raw: str | None) -> str | None:
    return raw if raw else None


@get("/conversations", include_in_schema=False)
async def conversation_list(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    search: str | None = query("search"),
    status: str | None = query("status"),
    cursor: str | None = query("cursor"),
) -> Template:
    lang = language_of(request)
    problem = None
    try:
        filter_ = ConversationFilter(conversation_status(_text(status)), search_text(search))
        page = await dashboard.read_models().conversations(
            session.business_id, filter_, LIST_SIZE, _text(cursor)
        )
    except QueryError as error:
        log.info("dashboard.bad_query", parameter=error.parameter)
        problem = "bad_filter"
        filter_ = ConversationFilter()
        page = await dashboard.read_models().conversations(
            session.business_id, filter_, LIST_SIZE, None
        )
    older = None
    if page.next_cursor:
        query = {"search": filter_.search or "", "status": filter_.status or ""}
        older = "/conversations?" + urlencode(
            {**{k: v for k, v in query.items() if v}, "cursor": page.next_cursor}
        )
    rows = [(c, formatting.moment(c.last_activity_at, lang)) for c in page.items]
    return render(
        request, "conversations.html", rows=rows, statuses=STATUSES,
        search=filter_.search or "", status=filter_.status or "", older=older,
        paged=bool(cursor) and problem is None, list_problem=problem,
    )  # fmt: skip


@get("/conversations/{conversation_id:str}", include_in_schema=False)
async def conversation_page(
    request: AnyRequest,
    conversation_id: FromPath[str],
    session: Session,
    dashboard: Services,
    cursor: str | None = query("cursor"),
) -> Template:
    lang = language_of(request)
    queries = dashboard.read_models()
    conversation = await queries.conversation(session.business_id, conversation_id)
    if conversation is None:
        raise PageNotFoundError
    try:
        page = await queries.messages(
            session.business_id, conversation_id, TIMELINE_SIZE, _text(cursor)
        )
    except QueryError:
        page = await queries.messages(session.business_id, conversation_id, TIMELINE_SIZE, None)
    messages = list(reversed(page.items)) if page is not None else []
    older = None
    if page is not None and page.next_cursor:
        older = f"/conversations/{conversation_id}?" + urlencode({"cursor": page.next_cursor})
    templates = []
    if not conversation.service_window_open:
        found, _ = await dashboard.template_listing().page(
            session.business_id, status="APPROVED", limit=100
        )
        templates = [(t.name, t.language) for t in found]
    return render(
        request, "conversation.html", conversation=conversation,
        timeline=[(m, formatting.moment(m.sent_at, lang)) for m in messages],
        older=older, templates=templates,
        window_closes=formatting.moment(conversation.service_window_closes_at, lang),
        last_activity=formatting.moment(conversation.last_activity_at, lang),
    )  # fmt: skip


def _conversation_path(conversation_id: str) -> str:
    return f"/conversations/{conversation_id}"


async def _shown(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until the read model shows a command's effect, at most READ_MODEL_WAIT_SECONDS."""
    try:
        async with asyncio.timeout(READ_MODEL_WAIT_SECONDS):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        log.info("dashboard.read_model_behind")


def _reply_message(form: dict[str, str]) -> OutboundMessage | None:
    chosen = form.get("template", "")
    if chosen:
        name, _, language = chosen.partition("|")
        parameters = tuple(
            line.strip() for line in form.get("parameters", "").splitlines() if line.strip()
        )
        return TemplateMessage(name=name, language=language, body_parameters=parameters)
    text = form.get("text", "").strip()
    return TextMessage(body=text) if text else None


@post("/conversations/{conversation_id:str}/reply", include_in_schema=False)
async def reply(
    request: AnyRequest, conversation_id: FromPath[str], session: Session, dashboard: Services
) -> Redirect:
    back = _conversation_path(conversation_id)
    message = _reply_message(await form_of(request))
    if message is None:
        return redirect_back(back, problem="empty_reply")
    command = SendCommand(
        business_id=session.business_id, conversation_id=conversation_id, message=message,
        requested_by="agent", cause="dashboard:" + request_id_of(request),
    )  # fmt: skip
    try:
        answer = await dashboard.message_sending().send(command)
    except SendRefusedError as refused:
        if refused.refusal is Refusal.NOT_FOUND:
            raise PageNotFoundError from None
        return redirect_back(back, problem=_SEND_PROBLEMS[refused.refusal])
    except TemplateError:
        return redirect_back(back, problem="template_refused")
    queries = dashboard.read_models()

    async def listed() -> bool:
        page = await queries.messages(session.business_id, conversation_id, TIMELINE_SIZE, None)
        return page is not None and any(m.id == answer.message_id for m in page.items)

    await _shown(listed)
    return redirect_back(back, notice="reply_queued")


async def _handoff(
    dashboard: Services,
    session: Session,
    conversation_id: str,
    command: Callable[[], Awaitable[object]],
    expected: str,
    notice: str,
) -> Redirect:
    back = _conversation_path(conversation_id)
    try:
        await command()
    except HandoffRefusedError as refused:
        if refused.refusal is HandoffRefusal.NOT_FOUND:
            raise PageNotFoundError from None
        return redirect_back(back, problem=_HANDOFF_PROBLEMS[refused.refusal])
    queries = dashboard.read_models()

    async def shown() -> bool:
        view: ConversationView | None = await queries.conversation(
            session.business_id, conversation_id
        )
        return view is not None and view.status == expected

    await _shown(shown)
    return redirect_back(back, notice=notice)


@post("/conversations/{conversation_id:str}/take-over", include_in_schema=False)
async def take_over(
    request: AnyRequest, conversation_id: FromPath[str], session: Session, dashboard: Services
) -> Redirect:
    handoff = dashboard.handoff_service()
    return await _handoff(
        dashboard, session, conversation_id,
        lambda: handoff.escalate(
            session.business_id, conversation_id, Escalation(), agent=session.agent_name,
            cause_id="dashboard:" + request_id_of(request),
        ),
        "escalated", "taken_over",
    )  # fmt: skip


@post("/conversations/{conversation_id:str}/hand-back", include_in_schema=False)
async def hand_back(
    request: AnyRequest, conversation_id: FromPath[str], session: Session, dashboard: Services
) -> Redirect:
    handoff = dashboard.handoff_service()
    return await _handoff(
        dashboard, session, conversation_id,
        lambda: handoff.resolve(
            session.business_id, conversation_id, agent=session.agent_name,
            cause_id="dashboard:" + request_id_of(request),
        ),
        "bot", "handed_back",
    )  # fmt: skip


CONVERSATION_HANDLERS: Final = (conversation_list, conversation_page, reply, take_over, hand_back)
