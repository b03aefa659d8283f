"""The reply process manager's worker: takes conversations with turns to take, one turn at
a time per conversation, and records each turn's outcome with what it queues.

Each customer message that may start a turn is recorded as a turn request (by a subscriber,
with its checkpoint). A worker claims a conversation with open requests for a lease, reads
its stream, and takes ONE turn answering every open request together: messages arriving
during the turn are left to the next one. The assistant is asked outside any transaction;
the outcome, and the reply, fallback or handoff message it queues through the outbox,
then commit in one transaction (an order the assistant decides is placed from the recorded
outcome by the orders process manager, which sends its summary), at the stream version the
turn read: when a person took over or auto-reply was turned off meanwhile, the turn is
recorded as skipped instead (new customer messages never cancel its answer). The outcome's
id comes from the turn's first message, so a turn retried by the same worker or taken over
after its worker died stores one outcome and queues one message. Conversations run
concurrently up to a bound, each turn under a
time limit, so a slow provider never holds up other conversations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol, TypeAlias

import msgspec
import structlog

from application.assistant_settings import AssistantSettingsService
from application.event_log import ANY, ConcurrencyError, ExpectedVersion, NewEvent, RecordedEvent
from application.gateway import AccessToken, Sender
from application.outbox import AccessTokens
from application.polling import STOP_GRACE_SECONDS, PollingWorker
from application.ports import Assistant, AssistantUnavailableError, EventStore, WhatsAppGateway
from domain.assistant import (
    AssistantAnswer,
    AssistantContext,
    CustomerInput,
    Escalate,
    EscalationCause,
    PlaceOrder,
    Reply,
)
from domain.assistant_settings import AssistantSettings
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
    SilenceReason,
    turn_escalated_event_id,
    turn_message_id,
    turn_outcome_event_id,
)
from domain.conversation import MessageReceived
from domain.events import DomainEvent, EventMetadata
from domain.handoff import ConversationEscalated, EscalatedBy
from domain.outbound import OutboundMessage, Recipient, TextMessage, recipient_of
from domain.outbox import OutboundMessageQueued, queued_event_id
from domain.privacy import mask_phones_in
from domain.public_ids import conversation_public_id
from domain.reply_policy import (
    ReplyState,
    escalates_after,
    fold,
    lasting,
    reply_language,
    silence_reason,
    since_turn_read,
    turn_context,
    turn_inputs,
)
from domain.whatsapp_limits import MessageLimitError, check_message

log = structlog.get_logger(__name__)

# A turn's outcome event and what it queues or records with it.
Outcome: TypeAlias = tuple[DomainEvent, list[NewEvent]]

TURNS_SUBSCRIBER: Final = "assistant-turns"
# The newest events of a conversation a turn reads: far more than its open requests and
# the history the assistant is shown.
EVENTS_READ: Final = 500
# Events keep arriving during a turn (statuses, messages): each conflict costs one re-read.
RECORD_ATTEMPTS: Final = 10


class TurnNotRecordedError(Exception):
    """Events kept arriving on the conversation between each check and append."""


@dataclass(frozen=True, slots=True)
class ClaimedConversation:
    """A conversation a worker holds until its lease runs out."""

    conversation_stream: str
    business_id: str
    requested: int  # the turn requests recorded when it was claimed
    lease_token: str


class LastingEvents(Protocol):
    async def lasting_events(self, stream_id: str, before_version: int) -> list[DomainEvent]:
        """Before ``before_version`` of the stream, the newest event of each kind that
        ``reply_policy.lasting`` needs (an ``outbound.queued`` only when an agent queued
        it), oldest first."""
        ...


class TurnBook(LastingEvents, Protocol):
    async def claim(self, limit: int, lease_seconds: float) -> list[ClaimedConversation]:
        """Take conversations with open turn requests that no live lease holds."""
        ...

    async def record(
        self,
        claim: ClaimedConversation,
        outcome: NewEvent,
        effects: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> bool:
        """In one transaction: append the outcome, at ``expected_version`` of the stream
        (else ConcurrencyError, and nothing changed), then ``effects`` after it, and release
        the claim with its requests handled. False when the turn's outcome is already
        stored: nothing is appended and the claim is released with no request handled."""
        ...

    async def release(self, claim: ClaimedConversation) -> None:
        """Nothing was left to answer: the requests seen at the claim are handled."""
        ...

    async def abandon(self, claim: ClaimedConversation) -> None:
        """Let the conversation go at once, no request handled: another worker takes it."""
        ...

    def watching(self, wake: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """Call ``wake`` when turns are requested (from any process) while in the block."""
        ...


@dataclass(frozen=True, slots=True)
class TurnSettings:
    poll_seconds: float = 0.5
    max_concurrent_turns: int = 16  # conversations whose turn runs at once, in this process
    answer_timeout: float = 90.0  # the assistant's whole answer, retries included
    typing_timeout: float = 5.0  # the typing indicator is best effort
    # Longer than a turn may take: a turn still running when its lease ends may be taken over.
    lease_seconds: float = 135.0
    stop_grace_seconds: float = STOP_GRACE_SECONDS  # running turns may finish within it at stop


@dataclass(frozen=True, slots=True)
class _Customer:
    phone_number_id: str
    recipient: Recipient


class AssistantTurnWorker(PollingWorker):
    """Takes assistant turns until stopped; safe to run in any number of processes."""

    def __init__(
        self,
        book: TurnBook,
        store: EventStore,
        assistant: Assistant,
        settings: AssistantSettingsService,
        gateway: WhatsAppGateway,
        tokens: AccessTokens,
        turn_settings: TurnSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._book = book
        self._store = store
        self._assistant = assistant
        self._settings = settings
        self._gateway = gateway
        self._tokens = tokens
        self._turn_settings = turn_settings or TurnSettings()
        self._clock = clock
        self._running: set[asyncio.Task[None]] = set()
        super().__init__(
            "assistant-turns",
            self._turn_settings.poll_seconds,
            stop_grace_seconds=self._turn_settings.stop_grace_seconds,
        )

    async def run(self) -> None:
        try:
            async with self._book.watching(self.wake_up):
                await super().run()
        finally:
            await self._finish_running()

    async def work_round(self) -> bool:
        free = self._turn_settings.max_concurrent_turns - len(self._running)
        if free <= 0:
            return True  # a finishing turn wakes the worker up
        claims = await self._book.claim(free, self._turn_settings.lease_seconds)
        for claim in claims:
            task = asyncio.create_task(self._turn(claim), name="assistant-turn")
            self._running.add(task)
            task.add_done_callback(self._turn_done)
        return len(claims) < free

    def _turn_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wake_up()

    async def _finish_running(self) -> None:
        """Let running turns finish within the grace period; a turn cut short lets its
        conversation go, for any process to take at once."""
        running = set(self._running)
        if not running:
            return
        try:
            await asyncio.wait(running, timeout=self._stop_grace_seconds)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _turn(self, claim: ClaimedConversation) -> None:
        with structlog.contextvars.bound_contextvars(business_id=claim.business_id):
            try:
                await self.take_turn(claim)
            except asyncio.CancelledError:  # stopped: another process may take it at once
                await self._abandon(claim)
                raise
            except TurnNotRecordedError as error:  # taken again at once, not after the lease
                log.warning("assistant.turn_not_recorded", error=str(error))
                await self._abandon(claim)
            except Exception as error:  # the lease runs out and the turn is taken again
                log.warning(
                    "assistant.turn_interrupted",
                    error=mask_phones_in(f"{type(error).__name__}: {error}"),
                )

    async def _abandon(self, claim: ClaimedConversation) -> None:
        try:
            await self._book.abandon(claim)
        except Exception as error:  # its lease ends all the same
            log.warning("assistant.turn_not_let_go", error=type(error).__name__)
        else:
            log.info("assistant.turn_cut_short")

    async def take_turn(self, claim: ClaimedConversation) -> None:
        recorded, state = await self._read(claim.conversation_stream)
        customer = _customer_of([r.event for r in recorded])
        if not state.pending or customer is None:
            await self._book.release(claim)
            return
        settings = (await self._settings.current(claim.business_id)).settings
        version = recorded[-1].version
        correlation = _correlation(recorded, state.pending[0])
        turn = _Turn(claim, state, version, settings, customer, self._clock(), correlation)
        reason = silence_reason(state, settings, turn.now)
        if reason is not None:
            await self._record(turn, lambda _: (turn.skipped(reason), []))
            return
        keyword = escalation_keyword(turn.inputs, settings)
        if keyword is not None:
            escalate = Escalate(cause="keyword", reason=f'the customer wrote "{keyword}"')
            await self._decided(turn, AssistantAnswer(decision=escalate, provider="keywords"))
            return
        await self._typing(turn)
        started = time.monotonic()
        try:
            answer = await asyncio.wait_for(
                self._assistant.answer(turn.context()), self._turn_settings.answer_timeout
            )
        except Exception as error:
            await self._failed(turn, failure_reason(error), _elapsed_ms(started))
            return
        if not answer.latency_ms:  # a provider that does not time itself
            answer = msgspec.structs.replace(answer, latency_ms=_elapsed_ms(started))
        await self._decided(turn, answer)

    async def _read(self, stream: str) -> tuple[list[RecordedEvent], ReplyState]:
        """The newest events of the conversation, oldest first, and its state: their fold,
        from what lasts of the older events when there are more."""
        recorded = list(reversed(await self._store.read_stream_backward(stream, limit=EVENTS_READ)))
        earlier: list[DomainEvent] = []
        if recorded and recorded[0].version > 1:
            earlier = await self._book.lasting_events(stream, recorded[0].version)
        return recorded, fold((r.event for r in recorded), lasting(earlier))

    async def _decided(self, turn: _Turn, answer: AssistantAnswer) -> None:
        decision = answer.decision
        effects: list[NewEvent] = []
        if isinstance(decision, Reply):
            try:
                message = check_message(decision.message)
            except MessageLimitError as error:
                await self._failed(
                    turn, f"the assistant's reply breaks a limit: {error}", answer.latency_ms
                )
                return
            effects.append(turn.queued(message))
        elif isinstance(decision, PlaceOrder):
            pass  # the orders process manager places it, and sends its summary, once recorded
        else:
            by: EscalatedBy = "ai" if answer.provider != "keywords" else "system"
            effects += turn.escalation(decision.cause, decision.reason, by)
        completed = AssistantTurnCompleted(
            business_id=turn.claim.business_id,
            turn_id=turn.turn_id,
            wamids=turn.wamids,
            decision=decision,
            provider=answer.provider,
            at=turn.now,
            model=answer.model,
            latency_ms=answer.latency_ms,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            message_id=None if isinstance(decision, PlaceOrder) else turn.message_id,
        )
        await self._record(turn, lambda _: (completed, effects))

    async def _failed(self, turn: _Turn, reason: str, latency_ms: float) -> None:
        log.warning("assistant.turn_failed", reason=reason)
        await self._record(turn, lambda state: self._failure(turn, state, reason, latency_ms))

    def _failure(self, turn: _Turn, state: ReplyState, reason: str, latency_ms: float) -> Outcome:
        """The failed turn as the conversation now stands: an agent who took it and gave it
        back meanwhile started the count of failures in a row again."""
        escalate = escalates_after(state, turn.settings)
        failures = state.consecutive_failures + 1
        if escalate:
            why = f"the assistant failed {failures} times in a row ({reason})"
            effects = turn.escalation("repeated_failures", why, "system")
        else:
            effects = [turn.queued(TextMessage(body=turn.settings.fallback_message(turn.language)))]
        failed = AssistantTurnFailed(
            business_id=turn.claim.business_id,
            turn_id=turn.turn_id,
            wamids=turn.wamids,
            reason=mask_phones_in(reason)[:1000],  # it may quote the customer
            provider=self._assistant.provider,
            at=turn.now,
            consecutive_failures=failures,
            escalated=escalate,
            latency_ms=latency_ms,
            message_id=turn.message_id,
        )
        return failed, effects

    async def _record(self, turn: _Turn, decide: Callable[[ReplyState], Outcome]) -> None:
        """Store the outcome ``decide`` gives for the conversation as it stands, and its
        effects, unless what was recorded since the turn read the conversation (new customer
        messages aside), or the settings now, silence the assistant: the turn is then
        recorded as skipped for that reason, queueing nothing."""
        state, version = turn.state, turn.version
        for _ in range(RECORD_ATTEMPTS):
            outcome, effects = decide(state)
            acts = bool(effects) or _places_order(outcome)
            if acts:
                settings = (await self._settings.current(turn.claim.business_id)).settings
                reason = silence_reason(state, settings, turn.now)
                if reason is not None:
                    log.info("assistant.turn_silenced", reason=reason,
                             instead_of=outcome.__struct_config__.tag)  # fmt: skip
                    outcome, effects = turn.skipped(reason), []
            new = NewEvent(outcome, turn_outcome_event_id(turn.turn_id), turn.metadata())
            try:
                stored = await self._book.record(turn.claim, new, effects, version if acts else ANY)
            except ConcurrencyError:
                state, version = await self._since(turn, state, version)
                continue
            log.info(
                "assistant.turn",
                outcome=outcome.__struct_config__.tag,
                **({"reason": outcome.reason} if isinstance(outcome, AssistantTurnSkipped) else {}),
                stored=stored,
                messages=len(turn.wamids),
            )
            return
        raise TurnNotRecordedError(
            f"the conversation kept changing while the turn recorded its outcome "
            f"({RECORD_ATTEMPTS} attempts); its lease ends and it is taken again"
        )

    async def _since(self, turn: _Turn, state: ReplyState, version: int) -> tuple[ReplyState, int]:
        """The turn's state with what was recorded after ``version``, and the new version."""
        newer = await self._store.read_stream(turn.claim.conversation_stream, version + 1)
        if not newer:
            return state, version
        return since_turn_read(state, [r.event for r in newer]), newer[-1].version

    async def _typing(self, turn: _Turn) -> None:
        """Mark the newest message read with the typing indicator; never fails the turn."""
        try:
            token = await self._tokens.access_token_of(turn.claim.business_id)
            if token is None:
                return
            sender = Sender(turn.customer.phone_number_id, AccessToken(token))
            await asyncio.wait_for(
                self._gateway.mark_read(sender, turn.wamids[-1], True),
                self._turn_settings.typing_timeout,
            )
        except Exception as error:
            log.info("assistant.typing_not_shown", error=type(error).__name__)


class _Turn:
    """One turn's facts: what it answers, in which language, and the events it makes."""

    def __init__(
        self,
        claim: ClaimedConversation,
        state: ReplyState,
        version: int,
        settings: AssistantSettings,
        customer: _Customer,
        now: datetime,
        correlation: str | None,
    ) -> None:
        self.claim = claim
        self.state = state
        self.version = version  # of the stream when the turn read it
        self.settings = settings
        self.customer = customer
        self.now = now
        self.wamids = state.pending
        self.turn_id = state.pending[0]
        self.inputs = turn_inputs(state, self.wamids)
        self.message_id = turn_message_id(self.turn_id)
        self._correlation = correlation or self.turn_id
        self.language = reply_language(state, settings, self.inputs)

    def context(self) -> AssistantContext:
        return turn_context(
            self.state,
            self.settings,
            business_id=self.claim.business_id,
            conversation_id=conversation_public_id(
                self.claim.business_id, self.claim.conversation_stream
            ),
            inputs=self.inputs,
            language=self.language,
        )

    def skipped(self, reason: SilenceReason) -> AssistantTurnSkipped:
        return AssistantTurnSkipped(
            business_id=self.claim.business_id,
            turn_id=self.turn_id,
            wamids=self.wamids,
            reason=reason,
            at=self.now,
        )

    def metadata(self) -> EventMetadata:
        return EventMetadata(correlation_id=self._correlation, causation_id=self.turn_id)

    def queued(self, message: OutboundMessage) -> NewEvent:
        event = OutboundMessageQueued(
            message_id=self.message_id,
            business_id=self.claim.business_id,
            conversation_stream=self.claim.conversation_stream,
            phone_number_id=self.customer.phone_number_id,
            recipient=self.customer.recipient,
            message=message,
            requested_by="ai",
            queued_at=self.now,
        )
        caused = EventMetadata(
            correlation_id=self._correlation, causation_id=str(turn_outcome_event_id(self.turn_id))
        )
        return NewEvent(event, queued_event_id(self.message_id), caused)

    def escalation(self, cause: EscalationCause, reason: str, by: EscalatedBy) -> list[NewEvent]:
        escalated = ConversationEscalated(
            business_id=self.claim.business_id,
            cause=cause,
            reason=mask_phones_in(reason)[:1000],  # it may quote the customer
            by=by,
            at=self.now,
            wamid=self.wamids[-1],
        )
        handoff = TextMessage(body=self.settings.handoff_message(self.language))
        return [
            NewEvent(escalated, turn_escalated_event_id(self.turn_id), self.metadata()),
            self.queued(handoff),
        ]


def _places_order(outcome: DomainEvent) -> bool:
    """An outcome the orders process manager acts on: silenced like a queued message."""
    return isinstance(outcome, AssistantTurnCompleted) and isinstance(outcome.decision, PlaceOrder)


def _customer_of(events: Sequence[DomainEvent]) -> _Customer | None:
    """Where a reply goes: the number and the customer of the newest message received."""
    for event in reversed(events):
        if isinstance(event, MessageReceived):
            identity = event.message.identity
            recipient = recipient_of(identity.phone, identity.user_id, event.message.customer_id)
            return _Customer(event.message.phone_number_id, recipient)
    return None


def _correlation(recorded: Sequence[RecordedEvent], turn_id: str) -> str | None:
    """The correlation of the request of the turn's first message (its webhook's)."""
    for r in recorded:
        if isinstance(r.event, AssistantTurnRequested) and r.event.wamid == turn_id:
            return r.metadata.correlation_id
    return None


def escalation_keyword(inputs: Sequence[CustomerInput], settings: AssistantSettings) -> str | None:
    for given in inputs:
        keyword = settings.escalation_keyword_in(given.text)
        if keyword is not None:
            return keyword
    return None


def failure_reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the assistant gave no answer in time"
    if isinstance(error, AssistantUnavailableError):  # a provider may quote the prompt
        return mask_phones_in(f"the assistant is unavailable: {error.reason}")
    return mask_phones_in(f"the assistant failed: {type(error).__name__}: {error}")


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
