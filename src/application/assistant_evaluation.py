"""Trying an assistant change on past conversations: what was answered then, what would be
answered now.

Every past turn of a business in a time window, and every customer message that started no
turn (auto-reply was off, or it came before turns existed), is replayed from the event log.
The conversation's stream is folded up to the last message the turn answered, onto what
lasts of the events older than those read (``reply_policy.lasting``, as the live turn
does), so the assistant is shown what the live turn was shown (``domain.reply_policy``),
under the business's current settings (with other instructions, when given). The live
rules apply in the live order: the conversation's silences (escalated, throttled, a
person's recent reply, a closed window, a group), then the escalation keywords, then the
assistant. Auto-reply being off never silences a replay: seeing the answers is the point
of trying.

Each turn is replayed against the history as it happened, not against the answers the
replay gave earlier: a conversation the assistant escalated then stays escalated for its
later turns. Nothing is appended and nothing is sent: the replay only reads the log and
asks the assistant.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeAlias

import msgspec

from application.assistant_settings import AssistantSettingsService
from application.assistant_turns import (
    EVENTS_READ,
    LastingEvents,
    escalation_keyword,
    failure_reason,
)
from application.event_log import RecordedEvent
from application.ports import Assistant, EventStore
from domain.assistant import AssistantAnswer, Escalate, Language, Reply
from domain.assistant_settings import AssistantSettings
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
)
from domain.conversation import MessageEchoed, MessageReceived
from domain.events import DomainEvent
from domain.outbound import (
    ListMessage,
    MediaMessage,
    OutboundMessage,
    ReplyButtonsMessage,
    TemplateMessage,
)
from domain.outbox import OutboundMessageQueued
from domain.privacy import mask_phones_in
from domain.reply_policy import (
    ReplyState,
    echo_text,
    escalates_after,
    evolve,
    lasting,
    outbound_text,
    reply_language,
    silence_reason,
    starts_turn,
    turn_context,
    turn_inputs,
)
from domain.whatsapp_limits import MessageLimitError, check_message

# Events recorded this long before the window may still be messages Meta sent inside it.
CLOCK_MARGIN: Final = timedelta(minutes=10)
PAGE: Final = EVENTS_READ
STREAMS_READ_AT_ONCE: Final = 4  # well within a command's connection pool
MAX_NOTE: Final = 500


@dataclass(frozen=True, slots=True)
class ConversationRef:
    stream: str
    public_id: str


class ActiveConversations(Protocol):
    async def active_since(self, business_id: str, since: datetime) -> list[ConversationRef]:
        """The business's conversations with any activity (Meta's times) at or after
        ``since``: every conversation a customer wrote in since then is among them."""
        ...


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    business_id: str
    since: datetime
    until: datetime
    limit: int | None = None  # the newest turns only
    instructions: str | None = None  # replaces the business's, for this evaluation only
    concurrency: int = 4  # assistant calls at once
    timeout_seconds: float = 90.0  # per assistant call


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was done (then) or would be done (now) for the customer's messages.

    ``decision``: reply, escalate, fallback (the assistant failed), skipped (it stayed
    silent), and for messages no turn answered: agent reply, assistant reply, no reply.
    ``text``: what the customer got or would get; ``note``: why (a skip or escalation).
    """

    decision: str
    text: str = ""
    note: str = ""
    escalated: bool = False
    failure: str = ""
    latency_ms: float | None = None
    provider: str = ""

    @property
    def seen_by_customer(self) -> tuple[bool, str]:
        return self.escalated, self.text


@dataclass(frozen=True, slots=True)
class ReplayedTurn:
    conversation_id: str  # the public id, never a phone number
    at: datetime  # Meta's time of the turn's first message
    customer_messages: tuple[str, ...]
    then: Outcome
    now: Outcome

    @property
    def changed(self) -> bool:
        """Would the customer get something else (another text, or a person instead)?"""
        return self.then.seen_by_customer != self.now.seen_by_customer


@dataclass(frozen=True, slots=True)
class EvaluationSummary:
    turns: int
    changed: int
    escalations_then: int
    escalations_now: int
    failures_then: int
    failures_now: int
    latency_p50_ms: float | None  # of the assistant's answers now
    latency_p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    business_id: str
    since: datetime
    until: datetime
    provider: str
    instructions_replaced: bool
    turns: tuple[ReplayedTurn, ...]

    @property
    def summary(self) -> EvaluationSummary:
        return summarize(self.turns)


Progress = Callable[[int, int], None]  # (replayed, total)


def summarize(turns: Sequence[ReplayedTurn]) -> EvaluationSummary:
    latencies = [t.now.latency_ms for t in turns if t.now.latency_ms is not None]
    return EvaluationSummary(
        turns=len(turns),
        changed=sum(t.changed for t in turns),
        escalations_then=sum(t.then.escalated for t in turns),
        escalations_now=sum(t.now.escalated for t in turns),
        failures_then=sum(bool(t.then.failure) for t in turns),
        failures_now=sum(bool(t.now.failure) for t in turns),
        latency_p50_ms=percentile(latencies, 50),
        latency_p99_ms=percentile(latencies, 99),
    )


def percentile(values: Sequence[float], rank: float) -> float | None:
    """The nearest-rank percentile: a value that was really measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


@dataclass(slots=True)
class _Unit:
    """One thing to replay: a past turn, or one message no turn answered."""

    conversation: ConversationRef
    at: datetime
    wamids: tuple[str, ...]
    cut: int  # the state is the stream folded up to this event, included
    turn_time: datetime
    then: Outcome
    state: ReplyState = field(default_factory=ReplyState)


class AssistantEvaluation:
    """Replays a business's past turns through an assistant; reads only, sends nothing."""

    def __init__(
        self,
        conversations: ActiveConversations,
        store: EventStore,
        settings: AssistantSettingsService,
        assistant: Assistant,
        lasting_events: LastingEvents,
    ) -> None:
        self._conversations = conversations
        self._store = store
        self._settings = settings
        self._assistant = assistant
        self._lasting_events = lasting_events

    async def evaluate(
        self, request: EvaluationRequest, progress: Progress | None = None
    ) -> Evaluation:
        settings = await self._settings_for(request)
        units = await self._units(request)
        gate = asyncio.Semaphore(max(1, request.concurrency))
        done = 0

        async def replay(unit: _Unit) -> ReplayedTurn:
            nonlocal done
            now = await self._now(unit, settings, request, gate)
            done += 1
            if progress is not None:
                progress(done, len(units))
            inputs = turn_inputs(unit.state, unit.wamids)
            said = tuple(given.text or f"[{given.kind}]" for given in inputs)
            return ReplayedTurn(unit.conversation.public_id, unit.at, said, unit.then, now)

        turns = await asyncio.gather(*(replay(unit) for unit in units))
        return Evaluation(
            business_id=request.business_id,
            since=request.since,
            until=request.until,
            provider=self._assistant.provider,
            instructions_replaced=request.instructions is not None,
            turns=tuple(turns),
        )

    async def _settings_for(self, request: EvaluationRequest) -> AssistantSettings:
        settings = (await self._settings.current(request.business_id)).settings
        if request.instructions is not None:
            settings = msgspec.structs.replace(settings, instructions=request.instructions)
        return settings

    async def _units(self, request: EvaluationRequest) -> list[_Unit]:
        conversations = await self._conversations.active_since(request.business_id, request.since)
        reads = asyncio.Semaphore(STREAMS_READ_AT_ONCE)

        async def units_in(conversation: ConversationRef) -> list[_Unit]:
            async with reads:
                events = await self._events_of(conversation.stream, request.since)
                start = await self._lead_in(conversation.stream, events)
            return units_of(conversation, events, request, start)

        found = await asyncio.gather(*(units_in(c) for c in conversations))
        units = [unit for in_one in found for unit in in_one]
        units.sort(key=lambda unit: (unit.at, unit.conversation.public_id))
        if request.limit is not None:
            units = units[-request.limit :] if request.limit > 0 else []
        return units

    async def _events_of(self, stream: str, since: datetime) -> list[RecordedEvent]:
        """The stream from a little before ``since`` to its end, oldest first: enough
        events before the window's first message to fold what a live turn folds."""
        newest_first: list[RecordedEvent] = []
        before: int | None = None
        while True:
            page = await self._store.read_stream_backward(stream, before, limit=PAGE)
            newest_first += page
            if len(page) < PAGE:
                break
            before = page[-1].version
            if page[-1].recorded_at < since - CLOCK_MARGIN:
                newest_first += await self._store.read_stream_backward(stream, before, PAGE)
                break
        return newest_first[::-1]

    async def _lead_in(self, stream: str, events: Sequence[RecordedEvent]) -> ReplyState:
        """What lasts of the events older than those read (an escalation, a person's
        reply, the failures in a row), as the live turn keeps it."""
        if not events or events[0].version <= 1:
            return ReplyState()
        return lasting(await self._lasting_events.lasting_events(stream, events[0].version))

    async def _now(
        self,
        unit: _Unit,
        settings: AssistantSettings,
        request: EvaluationRequest,
        gate: asyncio.Semaphore,
    ) -> Outcome:
        state = unit.state
        inputs = turn_inputs(state, unit.wamids)
        if not inputs:  # more messages at once than the state remembers: nothing to answer
            return Outcome("skipped", note="the messages are no longer in the recent history")
        replaying = msgspec.structs.replace(settings, auto_reply=True)
        reason = silence_reason(state, replaying, unit.turn_time)
        if reason is not None:
            return Outcome("skipped", note=reason)
        language = reply_language(state, settings, inputs)
        keyword = escalation_keyword(inputs, settings)
        if keyword is not None:
            return Outcome(
                "escalate",
                text=settings.handoff_message(language),
                note=f'keyword: the customer wrote "{keyword}"',
                escalated=True,
                provider="keywords",
            )
        context = turn_context(
            state,
            settings,
            business_id=request.business_id,
            conversation_id=unit.conversation.public_id,
            inputs=inputs,
            language=language,
        )
        async with gate:
            started = time.monotonic()
            try:
                answer = await asyncio.wait_for(
                    self._assistant.answer(context), request.timeout_seconds
                )
            except Exception as error:
                return _failed(failure_reason(error), _elapsed_ms(started), state, settings,
                               language, self._assistant.provider)  # fmt: skip
        if not answer.latency_ms:
            answer = msgspec.structs.replace(answer, latency_ms=_elapsed_ms(started))
        return _decided(answer, state, settings, language)


def units_of(
    conversation: ConversationRef,
    events: Sequence[RecordedEvent],
    request: EvaluationRequest,
    start: ReplyState | None = None,
) -> list[_Unit]:
    """The turns and unanswered messages of one conversation in the window, each with the
    state its replay starts from: ``events`` folded onto ``start`` (what lasts of the
    older events) up to the unit's cut."""
    plain = [recorded.event for recorded in events]
    received = {
        e.message.wamid: (i, e)
        for i, e in enumerate(plain)
        if starts_turn(e) and isinstance(e, MessageReceived)
    }
    requested = {e.wamid: i for i, e in enumerate(plain) if isinstance(e, AssistantTurnRequested)}
    answered: set[str] = set()
    units: list[_Unit] = []
    for index, event in enumerate(plain):
        if not isinstance(event, _OUTCOMES) or event.business_id != request.business_id:
            continue
        answered.update(event.wamids)
        known = [received[w] for w in event.wamids if w in received]
        if not known:
            continue  # its messages are older than the events read
        cut = max([i for i, _ in known] + [requested.get(w, -1) for w in event.wamids])
        first = known[0][1].message.sent_at
        then = then_of_turn(event, plain[index + 1 :])
        units.append(_Unit(conversation, first, event.wamids, cut, event.at, then))
    for wamid, (index, message) in received.items():
        if wamid in answered or message.business_id != request.business_id:
            continue
        at = message.message.sent_at
        then = then_without_turn(plain[index + 1 :])
        units.append(_Unit(conversation, at, (wamid,), index, at, then))
    units = [u for u in units if request.since <= u.at < request.until]
    _attach_states(units, plain, start or ReplyState())
    return units


_OUTCOMES: Final = (AssistantTurnCompleted, AssistantTurnFailed, AssistantTurnSkipped)
TurnOutcome: TypeAlias = AssistantTurnCompleted | AssistantTurnFailed | AssistantTurnSkipped


def _attach_states(units: list[_Unit], events: Sequence[DomainEvent], start: ReplyState) -> None:
    """One fold over the stream, keeping the state at each unit's cut."""
    if not units:
        return
    by_cut = sorted(units, key=lambda unit: unit.cut)
    state = start
    position = 0
    for index, event in enumerate(events):
        state = evolve(state, event)
        while position < len(by_cut) and by_cut[position].cut == index:
            by_cut[position].state = state
            position += 1
        if position == len(by_cut):
            return


def then_of_turn(outcome: TurnOutcome, after: Sequence[DomainEvent]) -> Outcome:
    queued = _queued(outcome, after)
    match outcome:
        case AssistantTurnCompleted(decision=Reply(message=message)):
            return Outcome("reply", text=describe(message), latency_ms=outcome.latency_ms,
                           provider=outcome.provider)  # fmt: skip
        case AssistantTurnCompleted(decision=Escalate() as escalate):
            note = f"{escalate.cause}: {mask_phones_in(escalate.reason)[:MAX_NOTE]}"
            return Outcome("escalate", text=queued, note=note,
                           escalated=True, latency_ms=outcome.latency_ms or None,
                           provider=outcome.provider)  # fmt: skip
        case AssistantTurnFailed():
            note = "repeated_failures: a person took over" if outcome.escalated else ""
            return Outcome("escalate" if outcome.escalated else "fallback", text=queued,
                           note=note, escalated=outcome.escalated,
                           failure=mask_phones_in(outcome.reason)[:MAX_NOTE],
                           latency_ms=outcome.latency_ms, provider=outcome.provider)  # fmt: skip
        case AssistantTurnSkipped():
            return Outcome("skipped", note=outcome.reason)
        case _:  # a decision kind this replay does not know yet
            return Outcome("reply", text=queued, provider=outcome.provider)


def _queued(outcome: TurnOutcome, after: Sequence[DomainEvent]) -> str:
    message_id = getattr(outcome, "message_id", None)
    for event in after:
        if isinstance(event, OutboundMessageQueued) and event.message_id == message_id:
            return describe(event.message)
    return ""


def then_without_turn(after: Sequence[DomainEvent]) -> Outcome:
    """The next message a person or the assistant sent the customer, if any."""
    for event in after:
        if isinstance(event, OutboundMessageQueued):
            who = "agent" if event.requested_by == "agent" else "assistant"
            return Outcome(f"{who} reply", text=describe(event.message))
        if isinstance(event, MessageEchoed):
            return Outcome("agent reply", text=echo_text(event) or "[a message from the app]",
                           note="from the WhatsApp Business app")  # fmt: skip
    return Outcome("no reply")


def describe(message: OutboundMessage) -> str:
    """A message as one readable text: its words, then what the customer can tap."""
    text = outbound_text(message)
    match message:
        case ReplyButtonsMessage():
            return f"{text}\n[buttons: {' | '.join(b.title for b in message.buttons)}]"
        case ListMessage():
            rows = " | ".join(row.title for section in message.sections for row in section.rows)
            return f"{text}\n[list {message.button}: {rows}]"
        case TemplateMessage():
            values = ", ".join(message.body_parameters)
            return f"[template {message.name} ({message.language})" + (
                f": {values}]" if values else "]"
            )
        case MediaMessage():
            return text if message.caption is None else f"[{message.media_type}] {text}"
        case _:
            return text


def _decided(
    answer: AssistantAnswer, state: ReplyState, settings: AssistantSettings, language: Language
) -> Outcome:
    decision = answer.decision
    if isinstance(decision, Escalate):
        return Outcome("escalate", text=settings.handoff_message(language),
                       note=f"{decision.cause}: {mask_phones_in(decision.reason)[:MAX_NOTE]}",
                       escalated=True, latency_ms=answer.latency_ms,
                       provider=answer.provider)  # fmt: skip
    try:
        message = check_message(decision.message)
    except MessageLimitError as error:
        return _failed(f"the assistant's reply breaks a limit: {error}", answer.latency_ms,
                       state, settings, language, answer.provider)  # fmt: skip
    return Outcome("reply", text=describe(message), latency_ms=answer.latency_ms,
                   provider=answer.provider)  # fmt: skip


def _failed(
    reason: str,
    latency_ms: float,
    state: ReplyState,
    settings: AssistantSettings,
    language: Language,
    provider: str,
) -> Outcome:
    """What the live turn does when the assistant fails: the fallback message, or a person
    once the business's limit of failures in a row is reached."""
    reason = mask_phones_in(reason)[:MAX_NOTE]
    if escalates_after(state, settings):
        return Outcome("escalate", text=settings.handoff_message(language),
                       note="repeated_failures: a person would take over", escalated=True,
                       failure=reason, latency_ms=latency_ms, provider=provider)  # fmt: skip
    return Outcome("fallback", text=settings.fallback_message(language), failure=reason,
                   latency_ms=latency_ms, provider=provider)  # fmt: skip


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
