"""May the assistant reply in a conversation now? A fold of the conversation's events.

``ReplyState`` is built from the conversation's stream (oldest first) by ``evolve``; the
pure rules below read it. Which messages start a turn is decided here too: only customer
messages that say something (text, buttons and list replies, media, locations, contacts,
orders); never statuses, reactions, system notices, edits, deletions or our own messages,
so nothing the assistant sends can ever start another turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from domain.assistant import AssistantContext, CustomerInput, Language, Said
from domain.assistant_settings import AssistantSettings
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
    SilenceReason,
)
from domain.conversation import MessageEchoed, MessageReceived
from domain.events import DomainEvent
from domain.handoff import ConversationEscalated, ConversationResolved
from domain.inbound import (
    ChoiceContent,
    ContactsContent,
    Content,
    LocationContent,
    MediaContent,
    OrderContent,
    QuickReplyContent,
    TextContent,
)
from domain.language import detect_first
from domain.orders import is_order_message
from domain.outbound import (
    ListMessage,
    MediaMessage,
    OutboundMessage,
    ReplyButtonsMessage,
    TemplateMessage,
    TextMessage,
)
from domain.outbox import OutboundMessageQueued
from domain.service_window import SERVICE_WINDOW

HISTORY_LIMIT: Final = 20
_TURN_CONTENT: Final = (
    TextContent,
    ChoiceContent,
    QuickReplyContent,
    MediaContent,
    LocationContent,
    ContactsContent,
    OrderContent,
)


def starts_turn(event: DomainEvent) -> bool:
    """A customer message the assistant may answer (anything else never starts a turn)."""
    return (
        isinstance(event, MessageReceived)
        and isinstance(event.message.content, _TURN_CONTENT)
        and not is_order_message(event)  # the orders process manager answers those
    )


@dataclass(frozen=True, slots=True)
class ReplyState:
    """What the rules need of a conversation, as of its latest event."""

    escalated: bool = False
    throttled: bool = False
    group: bool = False
    last_customer_at: datetime | None = None  # Meta's time of the customer's newest message
    last_human_at: datetime | None = None  # a person's last message, since the last resolve
    consecutive_failures: int = 0
    pending: tuple[str, ...] = ()  # wamids whose turn is requested and not yet taken
    inputs: tuple[tuple[str, CustomerInput], ...] = ()  # turn-starting messages by wamid
    history: tuple[Said, ...] = ()  # the newest HISTORY_LIMIT messages, oldest first
    customer_name: str | None = None

    def input_of(self, wamid: str) -> CustomerInput | None:
        return next((given for known, given in self.inputs if known == wamid), None)


def fold(events: Iterable[DomainEvent], state: ReplyState | None = None) -> ReplyState:
    """``state`` (a fresh conversation's when None) after ``events``, oldest first."""
    state = state or ReplyState()
    for event in events:
        state = evolve(state, event)
    return state


# What the rules keep from any distance back: whether the conversation is escalated, when a
# person last wrote in it, and the failures in a row. The newest event of each of these kinds
# (an agent's message being an ``outbound.queued`` by an agent) decides them all, so a turn
# that reads only the newest events of a long conversation gets them from those few.
LASTING_KINDS: Final = (
    ConversationEscalated,
    ConversationResolved,
    MessageEchoed,
    OutboundMessageQueued,
    AssistantTurnCompleted,
    AssistantTurnFailed,
)


def lasting(earlier: Iterable[DomainEvent]) -> ReplyState:
    """The state events older than a turn's read leave to it: ``earlier`` holds, oldest
    first, at least the newest event of each of LASTING_KINDS among them."""
    state = fold(earlier)
    return ReplyState(
        escalated=state.escalated,
        last_human_at=state.last_human_at,
        consecutive_failures=state.consecutive_failures,
    )


def since_turn_read(state: ReplyState, newer: Iterable[DomainEvent]) -> ReplyState:
    """A turn's state with what was recorded after its read, to judge its outcome by before
    recording it. New customer messages are left out: they wait for the next turn and never
    silence this one (a throttled one included)."""
    return fold((e for e in newer if not isinstance(e, MessageReceived)), state)


def evolve(state: ReplyState, event: DomainEvent) -> ReplyState:
    match event:
        case MessageReceived():
            return _received(state, event)
        case MessageEchoed():
            said = _said("agent", echo_text(event), event.message.sent_at)
            return replace(
                state,
                last_human_at=_later(state.last_human_at, event.message.sent_at),
                history=_kept(state.history, said),
            )
        case OutboundMessageQueued():
            return _queued(state, event)
        case AssistantTurnRequested():
            return replace(state, pending=(*state.pending, event.wamid))
        case AssistantTurnCompleted():
            return replace(_taken(state, event.wamids), consecutive_failures=0)
        case AssistantTurnFailed():
            return replace(
                _taken(state, event.wamids), consecutive_failures=event.consecutive_failures
            )
        case AssistantTurnSkipped():
            return _taken(state, event.wamids)
        case ConversationEscalated():
            return replace(state, escalated=True)
        case ConversationResolved():
            return replace(state, escalated=False, last_human_at=None, consecutive_failures=0)
        case _:
            return state


def _received(state: ReplyState, event: MessageReceived) -> ReplyState:
    message = event.message
    last = _later(state.last_customer_at, message.sent_at)
    state = replace(
        state,
        throttled=event.throttled,
        group=message.group_id is not None,
        last_customer_at=last,
        customer_name=message.customer_name or state.customer_name,
    )
    given = customer_input(message.wamid, message.content, message.sent_at)
    if given is None:
        return state
    inputs = (*state.inputs, (message.wamid, given))[-2 * HISTORY_LIMIT :]
    said = _said("customer", given.text, message.sent_at)
    return replace(state, inputs=inputs, history=_kept(state.history, said))


def _queued(state: ReplyState, event: OutboundMessageQueued) -> ReplyState:
    speaker = "agent" if event.requested_by == "agent" else "assistant"
    said = _said(speaker, outbound_text(event.message), event.queued_at)
    state = replace(state, history=_kept(state.history, said))
    if event.requested_by != "agent":
        return state
    return replace(state, last_human_at=_later(state.last_human_at, event.queued_at))


def _taken(state: ReplyState, wamids: Sequence[str]) -> ReplyState:
    return replace(state, pending=tuple(w for w in state.pending if w not in wamids))


def _said(speaker: str, text: str, at: datetime) -> Said:
    return Said(speaker=speaker, text=text, at=at)  # type: ignore[arg-type]


def _kept(history: tuple[Said, ...], said: Said) -> tuple[Said, ...]:
    if not said.text:
        return history
    return (*history, said)[-HISTORY_LIMIT:]


def _later(known: datetime | None, at: datetime) -> datetime:
    return at if known is None or at > known else known


# --- the rules ---------------------------------------------------------------------------


def silence_reason(
    state: ReplyState, settings: AssistantSettings, now: datetime
) -> SilenceReason | None:
    """Why the assistant must stay silent now; None when it may reply."""
    if not settings.auto_reply:
        return "auto_reply_off"
    if state.escalated:
        return "escalated"
    if state.group:  # nothing can be sent to a group yet, whatever the settings say
        return "group"
    if state.throttled:
        return "throttled"
    if state.last_customer_at is None or now >= state.last_customer_at + SERVICE_WINDOW:
        return "window_closed"
    pause = timedelta(minutes=settings.pause_after_human_minutes)
    if state.last_human_at is not None and now < state.last_human_at + pause:
        return "human_replied"
    return None


def escalates_after(state: ReplyState, settings: AssistantSettings) -> bool:
    """Would one more failed turn reach the business's limit of consecutive failures?"""
    return state.consecutive_failures + 1 >= settings.max_consecutive_failures


# --- what the assistant reads --------------------------------------------------------------


def customer_input(wamid: str, content: Content, at: datetime) -> CustomerInput | None:
    """A turn-starting message as the assistant reads it; None for any other content."""
    match content:
        case TextContent():
            return CustomerInput(wamid=wamid, kind="text", text=content.body, at=at)
        case ChoiceContent():
            return CustomerInput(
                wamid=wamid,
                kind=content.choice,
                text=content.title,
                at=at,
                choice_id=content.reply_id,
            )
        case QuickReplyContent():
            return CustomerInput(
                wamid=wamid, kind="button", text=content.text, at=at, choice_id=content.payload
            )
        case MediaContent():
            return CustomerInput(
                wamid=wamid,
                kind=content.media_type,
                at=at,
                text=content.caption or content.filename or "",
                unseen_media=content.media_type,
            )
        case LocationContent():
            place = [p for p in (content.name, content.address) if p]
            text = ", ".join(place) or f"{content.latitude}, {content.longitude}"
            return CustomerInput(wamid=wamid, kind="location", text=text, at=at)
        case ContactsContent():
            return CustomerInput(wamid=wamid, kind="contacts", text=_contacts(content), at=at)
        case OrderContent():
            return CustomerInput(wamid=wamid, kind="order", text=_order(content), at=at)
        case _:
            return None


def _contacts(content: ContactsContent) -> str:
    shared = []
    for contact in content.contacts:
        phones = " ".join(p.phone for p in contact.phones if p.phone)
        shared.append(" ".join(part for part in (contact.formatted_name, phones) if part))
    return "; ".join(shared)


def _order(content: OrderContent) -> str:
    items = ", ".join(
        f"{item.quantity} x {item.product_retailer_id} ({item.item_price} {item.currency})"
        for item in content.items
    )
    return " ".join(part for part in (content.text, f"[order: {items}]") if part)


def echo_text(event: MessageEchoed) -> str:
    given = customer_input(event.message.wamid, event.message.content, event.message.sent_at)
    return given.text if given else ""


def outbound_text(message: OutboundMessage) -> str:
    match message:
        case TextMessage():
            return message.body
        case ReplyButtonsMessage() | ListMessage():
            return message.body
        case MediaMessage():
            return message.caption or f"[{message.media_type}]"
        case TemplateMessage():
            return f"[template {message.name}]"
        case _:
            return ""


# --- what a turn shows the assistant -------------------------------------------------------

DEFAULT_LANGUAGE: Final[Language] = "fr"


def turn_inputs(state: ReplyState, wamids: Sequence[str]) -> tuple[CustomerInput, ...]:
    """The messages a turn answers, oldest first (those the state still remembers)."""
    return tuple(given for w in wamids if (given := state.input_of(w)) is not None)


def reply_language(
    state: ReplyState, settings: AssistantSettings, inputs: Sequence[CustomerInput]
) -> Language:
    """The business's fixed language, else the customer's, newest message first."""
    newest_first = [given.text for given in reversed(inputs)]
    newest_first += [s.text for s in reversed(state.history) if s.speaker == "customer"]
    return settings.reply_language(detect_first(newest_first, DEFAULT_LANGUAGE))


def turn_context(
    state: ReplyState,
    settings: AssistantSettings,
    *,
    business_id: str,
    conversation_id: str,
    inputs: tuple[CustomerInput, ...],
    language: Language,
) -> AssistantContext:
    """What the assistant is shown for a turn answering ``inputs``."""
    history = tuple(
        s for s in state.history if not any(s.at == i.at and s.text == i.text for i in inputs)
    )
    return AssistantContext(
        business_id=business_id,
        conversation_id=conversation_id,
        language=language,
        instructions=settings.instructions,
        customer_name=state.customer_name,
        business_hours=settings.business_hours or None,
        history=history,
        new_messages=inputs,
    )
