"""Human handoff through the API: an agent takes a conversation over, gives it back to the
assistant, or marks it read. Each accepts an ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, SkipValidation

from application.handoff import (
    ConversationHandoff,
    Escalation,
    HandoffKey,
    HandoffRefusal,
    HandoffRefusedError,
    HandoffState,
    Replayed,
)
from application.read_models import ConversationView, ReadModelQueries, doc
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError, request_id_of
from entrypoints.idempotency import checked_key, key_header, request_fingerprint
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
    HandoffRefusal.KEY_REUSED: "idempotency_key_reused",
}
_RESPONSES: Final = error_responses(400, 401, 404, 409, 422, 503)
KEY_HEADER: Final[Any] = key_header("records nothing new")
Command = Callable[[HandoffKey | None], Awaitable[HandoffState | Replayed]]


@post("/conversations/{conversation_id:str}/escalate", status_code=200, responses=_RESPONSES)
async def escalate_conversation(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
    data: JSONBody[EscalateRequest | None] = None,
    idempotency: Annotated[str | None, KEY_HEADER] = None,
) -> ConversationView:
    """A person takes the conversation over: the assistant stays silent there and the team is
    notified. Refused with 409 when it is escalated already."""
    body = data or EscalateRequest()
    escalation = Escalation(assignee=body.assignee, reason=body.reason)
    asked = (b"escalate", conversation_id.encode(), msgspec.json.encode(body))
    return await _answer(
        read_models, business_id, conversation_id, checked_key(idempotency), asked,
        lambda key: handoff.escalate(business_id, conversation_id, escalation,
                                     agent=agent_name, cause_id=_cause(request), key=key),
    )  # fmt: skip


@post("/conversations/{conversation_id:str}/resolve", status_code=200, responses=_RESPONSES)
async def resolve_conversation(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
    idempotency: Annotated[str | None, KEY_HEADER] = None,
) -> ConversationView:
    """Give the conversation back to the assistant. Refused with 409 when it is not
    escalated."""
    asked = (b"resolve", conversation_id.encode())
    return await _answer(
        read_models, business_id, conversation_id, checked_key(idempotency), asked,
        lambda key: handoff.resolve(business_id, conversation_id, agent=agent_name,
                                    cause_id=_cause(request), key=key),
    )  # fmt: skip


@post(
    "/conversations/{conversation_id:str}/read",
    status_code=200,
    responses=error_responses(400, 401, 404, 422, 503),
)
async def mark_conversation_read(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    handoff: Handoff,
    read_models: Queries,
    agent_name: AgentName,
    request: Request[Any, Any, Any],
    idempotency: Annotated[str | None, KEY_HEADER] = None,
) -> ConversationView:
    """Set the conversation's unread count to zero (again and again: nothing more is
    recorded until a new message arrives)."""
    asked = (b"read", conversation_id.encode())
    return await _answer(
        read_models, business_id, conversation_id, checked_key(idempotency), asked,
        lambda key: handoff.mark_read(business_id, conversation_id, agent=agent_name,
                                      cause_id=_cause(request), key=key),
    )  # fmt: skip


def _cause(request: Request[Any, Any, Any]) -> str:
    return "api:" + request_id_of(request)


def _refusal(refused: HandoffRefusedError) -> ApiError:
    return ApiError(_REFUSALS[refused.refusal], refused.message, parameter=refused.field)


async def _answer(
    read_models: ReadModelQueries,
    business_id: str,
    conversation_id: str,
    idempotency_key: str | None,
    asked: tuple[bytes, ...],
    command: Command,
) -> ConversationView:
    """Run the command and answer the conversation with the handoff state it decided; with
    an Idempotency-Key, the answer is kept with the command's event, and a repeat gets it."""
    view = await read_models.conversation(business_id, conversation_id)
    if view is None:
        raise ApiError("not_found", "This business has no conversation with that id.")

    def encoded(state: HandoffState) -> str:
        return msgspec.json.encode(answered(view, state)).decode()

    key = None
    if idempotency_key is not None:
        key = HandoffKey(idempotency_key, request_fingerprint(*asked), encoded)
    try:
        outcome = await command(key)
    except HandoffRefusedError as refused:
        raise _refusal(refused) from None
    if isinstance(outcome, Replayed):
        return msgspec.json.decode(outcome.answer, type=ConversationView)
    return answered(view, outcome)


def answered(view: ConversationView, state: HandoffState) -> ConversationView:
    """The conversation as the read model shows it, with the handoff state just decided
    (the read model catches up a moment later)."""
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
