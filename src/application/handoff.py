"""Handing a conversation to a person and back: escalate, resolve, mark read.

The conversation's own stream decides: it is escalated from its latest
``conversation.escalated`` until a later ``conversation.resolved``. Each command reads
that state and appends its event at the stream version it read, so two callers racing
on one conversation never both succeed at something only one may do (the loser reads
again and gets the answer the new state gives).

A caller may give an Idempotency-Key (``HandoffKey``): it is stored with the caller's
answer in the transaction that records the event, so a repeat gets the first answer and
records nothing, and of two requests racing with one key, one records and the other gets
its answer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

from application.event_log import ConcurrencyError, NewEvent
from application.idempotency import (
    KEY_FIELD,
    KEY_REUSED,
    KeyToRemember,
    RememberedKey,
    same_request,
)
from domain.assistant import EscalationCause
from domain.events import DomainEvent, EventMetadata, deterministic_event_id
from domain.handoff import (
    ConversationEscalated,
    ConversationMarkedRead,
    ConversationResolved,
    EscalatedBy,
)

MAX_ASSIGNEE_LENGTH: Final = 100
MAX_REASON_LENGTH: Final = 500
AGENT_TOOK_OVER: Final = "An agent took over the conversation."
_ATTEMPTS: Final = 5  # messages keep arriving on the stream: re-read, then append again


class HandoffRefusal(enum.Enum):
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    ALREADY_ESCALATED = "already_escalated"
    NOT_ESCALATED = "not_escalated"
    BUSY = "busy"  # the stream kept moving under the command: try again
    KEY_REUSED = "idempotency_key_reused"


class HandoffRefusedError(Exception):
    """The command changes nothing; the message says why (and ``field`` which input)."""

    def __init__(self, refusal: HandoffRefusal, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class HandoffHistory:
    """What a conversation's stream says about its handoff, at one stream version."""

    version: int
    escalation: ConversationEscalated | None  # the one in force: no resolution after it
    read_at_version: int | None = None  # the version of the latest ConversationMarkedRead


@dataclass(frozen=True, slots=True)
class HandoffState:
    """The conversation's handoff state after a command."""

    stream_id: str
    escalation: ConversationEscalated | None
    marked_read: bool = False

    @property
    def status(self) -> Literal["bot", "escalated"]:
        return "bot" if self.escalation is None else "escalated"


@dataclass(frozen=True, slots=True)
class Replayed:
    """A repeat of a request made with the same Idempotency-Key: its first answer."""

    answer: str


@dataclass(frozen=True, slots=True)
class HandoffKey:
    """A caller's Idempotency-Key, with the answer it gives for a state (kept for repeats)."""

    key: str
    fingerprint: str  # what was asked: the same key must come with the same request
    answer: Callable[[HandoffState], str]


class HandoffRecords(Protocol):
    async def stream_of(self, business_id: str, conversation_id: str) -> str | None:
        """The stream of the business's conversation with that public id; None if none."""
        ...

    async def history(self, stream_id: str) -> HandoffHistory: ...

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None: ...

    async def record(
        self, stream_id: str, version: int, new: NewEvent | None, key: KeyToRemember | None
    ) -> RememberedKey | None:
        """In one transaction, store the key (when given) and append the event (when given)
        at the stream's ``version``: ConcurrencyError, with nothing stored, when the stream
        moved or a same-kind event is there already. When a concurrent request stored the
        same key first, nothing is written and what it stored is returned."""
        ...


@dataclass(frozen=True, slots=True)
class Escalation:
    assignee: str | None = None
    reason: str | None = None
    cause: EscalationCause = "agent_took_over"
    by: EscalatedBy = "agent"


class ConversationHandoff:
    """The commands the API (and later the CLI or the assistant) use."""

    def __init__(
        self, records: HandoffRecords, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._records = records
        self._clock = clock or (lambda: datetime.now(UTC))

    async def escalate(
        self, business_id: str, conversation_id: str, request: Escalation,
        *, agent: str | None = None, cause_id: str | None = None, key: HandoffKey | None = None,
    ) -> HandoffState | Replayed:  # fmt: skip
        """Hand the conversation to a person (by default: an agent takes it over);
        ``agent``: who asks (their token's name), the assignee unless one is given."""
        assignee = _text("assignee", request.assignee, MAX_ASSIGNEE_LENGTH) or agent
        reason = _text("reason", request.reason, MAX_REASON_LENGTH) or AGENT_TOOK_OVER
        stream_id = await self._stream(business_id, conversation_id)

        def decide(history: HandoffHistory) -> tuple[DomainEvent, HandoffState]:
            current = history.escalation
            if current is not None:
                who = f" to {current.assignee}" if current.assignee else ""
                raise HandoffRefusedError(
                    HandoffRefusal.ALREADY_ESCALATED,
                    f"This conversation is already escalated{who} (since "
                    f"{current.at.isoformat()}); resolve it first to hand it over again.",
                )
            event = ConversationEscalated(
                business_id=business_id, cause=request.cause, reason=reason, by=request.by,
                at=self._clock(), assignee=assignee,
            )  # fmt: skip
            return event, HandoffState(stream_id, event)

        return await self._command(business_id, stream_id, "escalated", decide, cause_id, key)

    async def resolve(
        self, business_id: str, conversation_id: str,
        *, agent: str | None = None, cause_id: str | None = None, key: HandoffKey | None = None,
    ) -> HandoffState | Replayed:  # fmt: skip
        """The conversation goes back to the assistant."""
        stream_id = await self._stream(business_id, conversation_id)

        def decide(history: HandoffHistory) -> tuple[DomainEvent, HandoffState]:
            if history.escalation is None:
                raise HandoffRefusedError(
                    HandoffRefusal.NOT_ESCALATED,
                    "This conversation is not escalated: the assistant handles it already.",
                )
            event = ConversationResolved(business_id=business_id, at=self._clock(), by=agent)
            return event, HandoffState(stream_id, None)

        return await self._command(business_id, stream_id, "resolved", decide, cause_id, key)

    async def mark_read(
        self, business_id: str, conversation_id: str,
        *, agent: str | None = None, cause_id: str | None = None, key: HandoffKey | None = None,
    ) -> HandoffState | Replayed:  # fmt: skip
        """Its unread count goes to zero; marking it read again before anything new arrives
        records nothing more."""
        stream_id = await self._stream(business_id, conversation_id)

        def decide(history: HandoffHistory) -> tuple[DomainEvent | None, HandoffState]:
            state = HandoffState(stream_id, history.escalation, marked_read=True)
            if history.read_at_version == history.version:
                return None, state
            return ConversationMarkedRead(
                business_id=business_id, at=self._clock(), by=agent
            ), state

        return await self._command(business_id, stream_id, "read", decide, cause_id, key)

    async def _stream(self, business_id: str, conversation_id: str) -> str:
        stream_id = await self._records.stream_of(business_id, conversation_id)
        if stream_id is None:
            raise HandoffRefusedError(
                HandoffRefusal.NOT_FOUND, "This business has no conversation with that id."
            )
        return stream_id

    async def _command(
        self,
        business_id: str,
        stream_id: str,
        kind: str,
        decide: Callable[[HandoffHistory], tuple[DomainEvent | None, HandoffState]],
        cause_id: str | None,
        key: HandoffKey | None,
    ) -> HandoffState | Replayed:
        for _ in range(_ATTEMPTS):
            history = await self._records.history(stream_id)
            # The key is read after the state: a request with this key whose event (and key)
            # committed meanwhile is found by its key, rather than refused by its event.
            if key is not None and (known := await self._records.remembered(business_id, key.key)):
                return _replayed(known, key)
            event, state = decide(history)
            new = None if event is None else _new_event(stream_id, kind, history.version,
                                                        event, cause_id)  # fmt: skip
            remember = None
            if key is not None:
                remember = KeyToRemember(business_id, key.key, key.fingerprint, key.answer(state))
            if new is None and remember is None:
                return state
            try:
                raced = await self._records.record(stream_id, history.version, new, remember)
            except ConcurrencyError:
                continue
            if raced is not None and key is not None:
                return _replayed(raced, key)
            return state
        raise _busy()


def _new_event(
    stream_id: str, kind: str, version: int, event: DomainEvent, cause_id: str | None
) -> NewEvent:
    # One handoff event of a kind per stream version: of two callers appending at the
    # same version, the one whose event was stored first wins; the other reads again.
    return NewEvent(
        event, deterministic_event_id(stream_id, "handoff", kind, str(version)),
        EventMetadata(correlation_id=cause_id, causation_id=cause_id),
    )  # fmt: skip


def _replayed(known: RememberedKey, key: HandoffKey) -> Replayed:
    if not same_request(known, key.fingerprint):
        raise HandoffRefusedError(HandoffRefusal.KEY_REUSED, KEY_REUSED, KEY_FIELD)
    return Replayed(known.answer)


def _busy() -> HandoffRefusedError:
    return HandoffRefusedError(
        HandoffRefusal.BUSY, "The conversation kept changing meanwhile; try again."
    )


def _text(field: str, value: str | None, longest: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise HandoffRefusedError(HandoffRefusal.INVALID, f"{field} must not contain NUL.", field)
    value = value.strip()
    if len(value) > longest:
        raise HandoffRefusedError(
            HandoffRefusal.INVALID, f"{field} may be at most {longest} characters.", field
        )
    return value or None


def handoff_history(version: int, events: Sequence[tuple[int, DomainEvent]]) -> HandoffHistory:
    """The history from the stream's handoff events (version, event), in any order."""
    escalation: ConversationEscalated | None = None
    read_at: int | None = None
    for _, event in sorted(events, key=lambda pair: pair[0]):
        if isinstance(event, ConversationEscalated):
            escalation = event
        elif isinstance(event, ConversationResolved):
            escalation = None
    reads = [v for v, e in events if isinstance(e, ConversationMarkedRead)]
    if reads:
        read_at = max(reads)
    return HandoffHistory(version, escalation, read_at)
