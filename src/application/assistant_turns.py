"""The reply process manager's worker: takes conversations with turns to take, one turn at
a time per conversation, and records each turn's outcome with what it queues.

Each customer message that may start a turn is recorded as a turn request (by a subscriber,
with its checkpoint). A worker claims a conversation with open requests for a lease, reads
its stream, and takes ONE turn answering every open request together: messages arriving
during the turn are left to the next one. The assistant is asked outside any transaction;
the outcome, and the reply, fallback or handoff message it queues through the outbox,
then commit in one transaction. The outcome's id comes from the turn's first message, so
a turn retried by the same worker or taken over after its worker died stores one outcome
and queues one message. Conversations run concurrently up to a bound, each turn under a
time limit, so a slow provider never holds up other conversations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

import msgspec
import structlog

from application.assistant_settings import AssistantSettingsService
from application.event_log import NewEvent, RecordedEvent
from application.gateway import AccessToken, Sender
from application.outbox import AccessTokens
from application.polling import PollingWorker
from application.ports import Assistant, AssistantUnavailableError, EventStore, WhatsAppGateway
from domain.assistant import (
    AssistantAnswer,
    AssistantContext,
    CustomerInput,
    Escalate,
    EscalationCause,
    Reply,
)
from domain.assistant_settings import AssistantSettings
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnSkipped,
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
    reply_language,
    silence_reason,
    turn_context,
    turn_inputs,
)
from domain.whatsapp_limits import MessageLimitError, check_message

log = structlog.get_logger(__name__)

TURNS_SUBSCRIBER: Final = "assistant-turns"
# The newest events of a conversation a turn reads: far more than its open requests and
# the history the assistant is shown.
EVENTS_READ: Final = 500


@dataclass(frozen=True, slots=True)
class ClaimedConversation:
    """A conversation a worker holds until its lease runs out."""

    conversation_stream: str
    business_id: str
    requested: int  # the turn requests recorded when it was claimed
    lease_token: str


class TurnBook(Protocol):
    async def claim(self, limit: int, lease_seconds: float) -> list[ClaimedConversation]:
        """Take conversations with open turn requests that no live lease holds."""
        ...

    async def record(
        self, claim: ClaimedConversation, outcome: NewEvent, effects: Sequence[NewEvent]
    ) -> bool:
        """In one transaction: append the outcome, then ``effects`` after it, and release the
        claim. False (and nothing appended) when the turn's outcome is already stored."""
        ...

    async def release(self, claim: ClaimedConversation) -> None:
        """Nothing was left to answer: the requests seen at the claim are handled."""
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
        super().__init__("assistant-turns", self._turn_settings.poll_seconds)

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
        """Let running turns finish within the grace period; a turn cut short is taken again
        when its lease ends."""
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
            except Exception as error:  # the lease runs out and the turn is taken again
                log.warning(
                    "assistant.turn_interrupted",
                    error=mask_phones_in(f"{type(error).__name__}: {error}"),
                )

    async def take_turn(self, claim: ClaimedConversation) -> None:
        recorded = await self._store.read_stream_backward(
            claim.conversation_stream, limit=EVENTS_READ
        )
        events = [r.event for r in reversed(recorded)]
        state = fold(events)
        customer = _customer_of(events)
        if not state.pending or customer is None:
            await self._book.release(claim)
            return
        settings = (await self._settings.current(claim.business_id)).settings
        turn = _Turn(claim, state, settings, customer, self._clock(), _correlation(recorded))
        reason = silence_reason(state, settings, turn.now)
        if reason is not None:
            skipped = AssistantTurnSkipped(
                business_id=claim.business_id,
                turn_id=turn.turn_id,
                wamids=state.pending,
                reason=reason,
                at=turn.now,
            )
            await self._record(turn, skipped, [])
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
            message_id=turn.message_id,
        )
        await self._record(turn, completed, effects)

    async def _failed(self, turn: _Turn, reason: str, latency_ms: float) -> None:
        escalate = escalates_after(turn.state, turn.settings)
        failures = turn.state.consecutive_failures + 1
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
        log.warning("assistant.turn_failed", reason=reason, escalated=escalate)
        await self._record(turn, failed, effects)

    async def _record(self, turn: _Turn, outcome: DomainEvent, effects: list[NewEvent]) -> None:
        new = NewEvent(outcome, turn_outcome_event_id(turn.turn_id), turn.metadata())
        stored = await self._book.record(turn.claim, new, effects)
        log.info(
            "assistant.turn",
            outcome=outcome.__struct_config__.tag,
            stored=stored,
            messages=len(turn.wamids),
        )

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
        settings: AssistantSettings,
        customer: _Customer,
        now: datetime,
        correlation: str | None,
    ) -> None:
        self.claim = claim
        self.state = state
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


def _customer_of(events: Sequence[DomainEvent]) -> _Customer | None:
    """Where a reply goes: the number and the customer of the newest message received."""
    for event in reversed(events):
        if isinstance(event, MessageReceived):
            identity = event.message.identity
            recipient = recipient_of(identity.phone, identity.user_id, event.message.customer_id)
            return _Customer(event.message.phone_number_id, recipient)
    return None


def _correlation(recorded: Sequence[RecordedEvent]) -> str | None:
    return recorded[0].metadata.correlation_id if recorded else None


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
