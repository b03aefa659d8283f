"""Human handoff through the API: an agent takes a conversation over, gives it back to the
assistant, or marks it read."""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.handoff import (
    ConversationHandoff,
    Escalation,
    HandoffRefusal,
    HandoffRefusedError,
    HandoffState,
)
from application.read_models import ConversationView, ReadModelQueries, doc
from entrypoints.errors import ApiError, request_id_of
from entrypoints.openapi import error_responses

# Services come from the router's dependencies and are not values to validate.
Handoff = NamedDependency[SkipValidation[ConversationHandoff]]
Queries = NamedDependency[SkipValidation[ReadModelQueries]]
AgentName = NamedDependency[SkipValidation[str | None]]


class EscalateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Both optional; the body may be omitted."""

    assignee: Annotated[
        str | None,
        doc(
            "Who takes the conversation (at most 100 characters); default: the name of the "
            "API token used, if it has one."
        ),
    ] = None
    reason: Annotated[
        str | None,
        doc("Why, for the team (at most 500 characters); default: an agent took over."),
    ] = None


_REFUSALS: Final = {
    HandoffRefusal.NOT_FOUND: "not_found",
    HandoffRefusal.INVALID: "invalid_parameter",
    HandoffRefusal.ALREADY_ESCALATED: "conflict",
    HandoffRefusal.NOT_ESCALATED: "conflict",
    HandoffRefusal.BUSY: "unavailable",
}
_RESPONSES: Final = error_responses(400, 401, 404, 409, 503)


@post("/conversations/{conversation_id:str}/escalate", status_code=200, responses=_RESPONSES)
async def escalate_conversation(
    conversation_id: str,
    business_id: str,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
    data: EscalateRequest | None = None,
) -> ConversationView:
    """A person takes the conversation over: the assistant stays silent there and the team is
    notified. Refused with 409 when it is escalated already."""
    body = data or EscalateRequest()
    escalation = Escalation(assignee=body.assignee, reason=body.reason)
    try:
        state = await handoff.escalate(business_id, conversation_id, escalation,
                                       agent=agent_name, cause_id=_cause(request))  # fmt: skip
    except HandoffRefusedError as refused:
        raise _refusal(refused) from None
    return await _answer(read_models, business_id, conversation_id, state)


@post("/conversations/{conversation_id:str}/resolve", status_code=200, responses=_RESPONSES)
async def resolve_conversation(
    conversation_id: str,
    business_id: str,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
) -> ConversationView:
    """Give the conversation back to the assistant. Refused with 409 when it is not
    escalated."""
    try:
        state = await handoff.resolve(business_id, conversation_id, agent=agent_name,
                                      cause_id=_cause(request))  # fmt: skip
    except HandoffRefusedError as refused:
        raise _refusal(refused) from None
    return await _answer(read_models, business_id, conversation_id, state)


@post(
    "/conversations/{conversation_id:str}/read",
    status_code=200,
    responses=error_responses(400, 401, 404, 503),
)
async def mark_conversation_read(
    conversation_id: str,
    business_id: str,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
) -> ConversationView:
    """Set the conversation's unread count to zero (again and again: nothing more is
    recorded until a new message arrives)."""
    try:
        state = await handoff.mark_read(business_id, conversation_id, agent=agent_name,
                                        cause_id=_cause(request))  # fmt: skip
    except HandoffRefusedError as refused:
        raise _refusal(refused) from None
    return await _answer(read_models, business_id, conversation_id, state)


def _cause(request: Request[Any, Any, Any]) -> str:
    return "api:" + request_id_of(request)


def _refusal(refused: HandoffRefusedError) -> ApiError:
    return ApiError(_REFUSALS[refused.refusal], refused.message, parameter=refused.field)


async def _answer(
    read_models: ReadModelQueries, business_id: str, conversation_id: str, state: HandoffState
) -> ConversationView:
    """The conversation as the read model shows it, with the handoff state just decided
    (the read model catches up a moment later)."""
    view = await read_models.conversation(business_id, conversation_id)
    if view is None:
        raise ApiError("not_found", "This business has no conversation with that id.")
    escalation = state.escalation
    changed = msgspec.structs.replace(
        view,
        status=state.status,
        assignee=escalation.assignee if escalation else None,
        escalated_at=escalation.at if escalation else None,
        escalation_cause=escalation.cause if escalation else None,
        escalation_reason=escalation.reason if escalation else None,
        escalated_by=escalation.by if escalation else None,
    )
    return msgspec.structs.replace(changed, unread_count=0) if state.marked_read else changed


HANDOFF_HANDLERS: Final = (escalate_conversation, resolve_conversation, mark_conversation_read)
