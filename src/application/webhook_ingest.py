"""Recording one webhook delivery: route every update, decide, append all of it at once.

The caller acknowledges the delivery only after ``ingest`` returns, which is
after every event of it is durable. Redeliveries produce the same event ids
and are stored once. Every customer is routed to one conversation whatever
identifier Meta names them by (see ``customer_identity``); the links of newly
seen identifiers are appended with the delivery. Conversation streams are
written with an expected version, so the flood decision is always taken on the
stream's latest state, even when several processes ingest at once; a conflict
reloads and retries.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog

from application.businesses import BusinessRoute
from application.customer_identity import CustomerDirectory, IdentityPlan
from application.event_log import (
    ANY,
    AppendRequest,
    AppendResult,
    ConcurrencyError,
    ExpectedVersion,
    NewEvent,
)
from application.inbound_updates import (
    AccountUpdate,
    InboundUpdate,
    NumberPayload,
    NumberUpdate,
)
from application.ports import BusinessDirectory, EventStore
from domain.account import (
    UNROUTED_STREAM,
    AccountNoticeReceived,
    TemplateCategoryChangeAnnounced,
    TemplateCategoryUpdated,
    TemplateQualityUpdated,
    TemplateStatusUpdated,
    UnrecognizedUpdateReceived,
    UnroutedUpdateReceived,
    WebhookChangeUnreadable,
    business_stream,
    fingerprint_event_id,
    template_category_coming_event_id,
    template_category_event_id,
    template_quality_event_id,
    template_status_event_id,
    unreadable_event_id,
)
from domain.conversation import (
    FLOOD_WINDOW,
    CustomerThrottled,
    CustomerThrottleLifted,
    FloodState,
    MarketingPreferenceChanged,
    MessageEchoed,
    MessageReceived,
    MessageStatusUpdated,
    WebhookProblemReported,
    assess_message,
    conversation_stream,
    echo_event_id,
    flood_state_from_history,
    message_event_id,
    preference_event_id,
    status_event_id,
    throttle_event_id,
)
from domain.customer import group_key
from domain.events import EventMetadata
from domain.inbound import (
    AccountNotice,
    DeliveryStatus,
    EchoedMessage,
    InboundMessage,
    MarketingPreference,
    SystemContent,
    TemplateCategory,
    TemplateCategoryChangeComing,
    TemplateQuality,
    TemplateStatus,
    UnreadableChange,
    UnrecognizedUpdate,
    WebhookProblem,
)
from domain.privacy import mask_customer_id

log = structlog.get_logger(__name__)

MAX_ATTEMPTS: Final = 8
HISTORY_PAGE: Final = 64


class IngestConflictError(Exception):
    """Other writers kept moving a conversation; the delivery was not stored (retry later)."""


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    appended: int = 0
    duplicates: int = 0
    unrouted: int = 0
    throttled: int = 0


@dataclass(slots=True)
class _Conversation:
    """What one delivery brings to one conversation stream, in the order Meta sent it."""

    stream_id: str
    route: BusinessRoute
    customer: str  # the customer's (or group's) key
    updates: list[NumberUpdate] = field(default_factory=list)

    @property
    def has_messages(self) -> bool:
        return any(isinstance(u.payload, InboundMessage) for u in self.updates)


@dataclass(frozen=True, slots=True)
class _Known:
    """The last state this process saw of a conversation stream."""

    version: int
    flood: FloodState


@dataclass(slots=True)
class _Routed:
    conversations: dict[str, _Conversation]
    others: list[AppendRequest]
    identities: IdentityPlan
    unrouted: int


@dataclass(slots=True)
class _Plan:
    requests: list[AppendRequest] = field(default_factory=list)
    decided: dict[str, tuple[int, FloodState]] = field(default_factory=dict)
    throttled: int = 0


class WebhookIngestor:
    def __init__(
        self,
        store: EventStore,
        directory: BusinessDirectory,
        *,
        known_conversations: int = 10_000,
        customers: CustomerDirectory | None = None,
    ) -> None:
        self._store = store
        self._directory = directory
        self._customers = customers or CustomerDirectory(store)
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._known_limit = known_conversations
        self._locks = _StreamLocks()

    async def ingest(self, updates: Sequence[InboundUpdate], delivery_id: str) -> IngestOutcome:
        """Record every update; returns once all of them are durable (or raises)."""
        for _attempt in range(MAX_ATTEMPTS):
            routed = await self._route(updates)
            async with self._locks.hold(sorted(routed.conversations)):
                plan = await self._plan(list(routed.conversations.values()), delivery_id)
                links = routed.identities.requests()
                try:
                    results = await self._store.append_atomic(
                        [*links, *plan.requests, *routed.others]
                    )
                except ConcurrencyError as conflict:
                    self._forget(conflict.stream_id)
                    self._customers.forget(conflict.stream_id)
                    continue
                routed.identities.settle(results)
                self._remember(plan, results)
            # The identifier links are bookkeeping: the outcome counts what Meta sent.
            return _outcome(results[len(links) :], routed.unrouted, plan.throttled)
        raise IngestConflictError(f"conversations kept changing after {MAX_ATTEMPTS} attempts")

    # --- routing ---------------------------------------------------------------------

    async def _route(self, updates: Sequence[InboundUpdate]) -> _Routed:
        conversations: dict[str, _Conversation] = {}
        streams: dict[str, list[NewEvent]] = {}
        unrouted: set[str] = set()
        identities = IdentityPlan(self._customers)
        for update in updates:
            route = await self._owner(update)
            if route is None:
                if update.fingerprint not in unrouted:
                    unrouted.add(update.fingerprint)
                    streams.setdefault(UNROUTED_STREAM, []).append(_unrouted_event(update))
                continue
            customer = await _customer_of(identities, route.business_id, update)
            if isinstance(update, NumberUpdate) and customer is not None:
                stream = conversation_stream(update.phone_number_id, customer)
                conversation = conversations.setdefault(
                    stream, _Conversation(stream, route, customer)
                )
                conversation.updates.append(update)
            else:
                streams.setdefault(business_stream(route.business_id), []).append(
                    _business_event(route.business_id, update)
                )
        others = [AppendRequest(stream, events) for stream, events in streams.items()]
        return _Routed(conversations, others, identities, len(unrouted))

    async def _owner(self, update: InboundUpdate) -> BusinessRoute | None:
        if isinstance(update, NumberUpdate):
            route = await self._directory.by_phone_number(update.phone_number_id)
        else:
            route = await self._directory.by_account(update.account_id)
        if route is None:
            log.warning(
                "webhook.unrouted", field=update.field, account_id=update.account_id,
                phone_number_id=getattr(update, "phone_number_id", None),
            )  # fmt: skip
        return route

    # --- deciding --------------------------------------------------------------------

    async def _plan(self, conversations: list[_Conversation], delivery_id: str) -> _Plan:
        plan = _Plan()
        for conversation in conversations:
            expected: ExpectedVersion = ANY
            flood = FloodState()
            if conversation.has_messages or conversation.stream_id in self._known:
                known = await self._state_of(conversation)
                expected, flood = known.version, known.flood
            events: list[NewEvent] = []
            for update in conversation.updates:
                flood, throttled = self._decide(conversation, update, flood, events, delivery_id)
                plan.throttled += throttled
            plan.requests.append(AppendRequest(conversation.stream_id, events, expected))
            if isinstance(expected, int):
                plan.decided[conversation.stream_id] = (expected, flood)
        return plan

    def _decide(
        self,
        conversation: _Conversation,
        update: NumberUpdate,
        flood: FloodState,
        events: list[NewEvent],
        delivery_id: str,
    ) -> tuple[FloodState, int]:
        business_id = conversation.route.business_id
        payload = update.payload
        if not isinstance(payload, InboundMessage):
            events.append(
                _conversation_event(business_id, conversation.customer, payload, delivery_id)
            )
            return flood, 0
        decision = assess_message(
            flood, payload.wamid, payload.sent_at, conversation.route.flood_limit
        )
        metadata = EventMetadata(correlation_id=payload.wamid, causation_id=delivery_id)
        received = MessageReceived(
            business_id=business_id, message=payload, throttled=decision.throttled,
            customer=conversation.customer,
        )  # fmt: skip
        events.append(NewEvent(received, message_event_id(payload.wamid), metadata))
        if decision.started and decision.until is not None:
            events.append(_throttled(business_id, payload, decision.until,
                                     conversation.route.flood_limit, metadata))  # fmt: skip
            log.warning(
                "conversation.throttled", business_id=business_id,
                customer=mask_customer_id(payload.customer_id), until=decision.until.isoformat(),
            )  # fmt: skip
        if decision.lifted:
            events.append(_lifted(business_id, payload, metadata))
            log.info("conversation.throttle_lifted", business_id=business_id,
                     customer=mask_customer_id(payload.customer_id))  # fmt: skip
        return decision.state, int(decision.throttled)

    async def _state_of(self, conversation: _Conversation) -> _Known:
        known = self._known.get(conversation.stream_id)
        if known is not None:
            self._known.move_to_end(conversation.stream_id)
            return known
        return await self._load(conversation.stream_id, conversation.route.flood_limit)

    async def _load(self, stream_id: str, limit: int) -> _Known:
        """Read the stream backwards until the flood rule has all it needs."""
        messages: list[MessageReceived] = []
        version = 0
        before: int | None = None
        while True:
            page = await self._store.read_stream_backward(stream_id, before, HISTORY_PAGE)
            if not page:
                break
            version = version or page[0].version
            messages.extend(e.event for e in page if isinstance(e.event, MessageReceived))
            before = page[-1].version
            if len(page) < HISTORY_PAGE or _enough(messages, limit):
                break
        return _Known(version, flood_state_from_history(messages, limit))

    # --- the per-process cache of conversation states ---------------------------------

    def _remember(self, plan: _Plan, results: list[AppendResult]) -> None:
        by_stream = {r.stream_id: r for r in results}
        for stream_id, (expected, flood) in plan.decided.items():
            result = by_stream[stream_id]
            if result.duplicates or result.stream_version != expected + result.appended:
                self._forget(stream_id)  # someone else wrote part of it: reload next time
                continue
            self._known[stream_id] = _Known(result.stream_version, flood)
            self._known.move_to_end(stream_id)
        while len(self._known) > self._known_limit:
            self._known.popitem(last=False)

    def _forget(self, stream_id: str) -> None:
        self._known.pop(stream_id, None)


def _enough(newest_first: list[MessageReceived], limit: int) -> bool:
    if len(newest_first) >= limit:
        return True
    if not newest_first:
        return False
    newest = max(e.message.sent_at for e in newest_first)
    return min(e.message.sent_at for e in newest_first) <= newest - FLOOD_WINDOW


def _outcome(results: list[AppendResult], unrouted: int, throttled: int) -> IngestOutcome:
    return IngestOutcome(
        appended=sum(r.appended for r in results),
        duplicates=sum(r.duplicates for r in results),
        unrouted=unrouted,
        throttled=throttled,
    )


async def _customer_of(
    identities: IdentityPlan, business_id: str, update: InboundUpdate
) -> str | None:
    """The key of the conversation an update belongs to, or None for a business-level one."""
    if not isinstance(update, NumberUpdate):
        return None
    payload = update.payload
    number = update.phone_number_id
    if isinstance(payload, InboundMessage):
        if payload.group_id:
            return group_key(payload.group_id)
        content = payload.content
        if isinstance(content, SystemContent) and content.changes_identity:
            # Known by the identifiers it had; from now on also by the new ones.
            before = content.previous_identity.merged(payload.identity)
            key = await identities.customer_of(business_id, number, before)
            await identities.move(business_id, number, content.new_identity, key, payload.wamid)
            return key
        return await identities.customer_of(business_id, number, payload.identity)
    if isinstance(payload, DeliveryStatus):
        if payload.in_group:
            return group_key(payload.recipient_id)
        return await identities.customer_of(business_id, number, payload.identity)
    if isinstance(payload, EchoedMessage):
        return await identities.customer_of(business_id, number, payload.customer)
    if isinstance(payload, MarketingPreference):
        return await identities.customer_of(business_id, number, payload.identity)
    return None


def _conversation_event(
    business_id: str,
    customer: str,
    payload: NumberPayload | UnrecognizedUpdate | UnreadableChange,
    delivery_id: str,
) -> NewEvent:
    if isinstance(payload, DeliveryStatus):
        metadata = EventMetadata(correlation_id=payload.wamid, causation_id=delivery_id)
        event = MessageStatusUpdated(business_id=business_id, status=payload, customer=customer)
        return NewEvent(event, status_event_id(payload), metadata)
    if isinstance(payload, MarketingPreference):
        preference = MarketingPreferenceChanged(
            business_id=business_id, preference=payload, customer=customer
        )
        return NewEvent(
            preference, preference_event_id(payload), EventMetadata(causation_id=delivery_id)
        )
    if isinstance(payload, EchoedMessage):
        metadata = EventMetadata(correlation_id=payload.wamid, causation_id=delivery_id)
        echoed = MessageEchoed(business_id=business_id, message=payload, customer=customer)
        return NewEvent(echoed, echo_event_id(payload.wamid), metadata)
    raise TypeError(f"{type(payload).__name__} does not belong to a conversation")


def _business_event(business_id: str, update: InboundUpdate) -> NewEvent:
    payload = update.payload
    timed = isinstance(update, AccountUpdate) and update.timed
    # An unreadable entry has no field of its own.
    fingerprint_id = fingerprint_event_id(update.field or "entry", update.fingerprint)
    if isinstance(payload, TemplateStatus):
        event_id = template_status_event_id(payload) if timed else fingerprint_id
        return NewEvent(TemplateStatusUpdated(business_id=business_id, template=payload), event_id)
    if isinstance(payload, TemplateQuality):
        event_id = template_quality_event_id(payload) if timed else fingerprint_id
        return NewEvent(TemplateQualityUpdated(business_id=business_id, template=payload), event_id)
    if isinstance(payload, TemplateCategory):
        event_id = template_category_event_id(payload) if timed else fingerprint_id
        return NewEvent(
            TemplateCategoryUpdated(business_id=business_id, template=payload), event_id
        )
    if isinstance(payload, TemplateCategoryChangeComing):
        event_id = template_category_coming_event_id(payload) if timed else fingerprint_id
        return NewEvent(
            TemplateCategoryChangeAnnounced(business_id=business_id, template=payload), event_id
        )
    if isinstance(payload, AccountNotice):
        return NewEvent(AccountNoticeReceived(business_id=business_id, notice=payload),
                        fingerprint_id)  # fmt: skip
    if isinstance(payload, UnreadableChange):
        return _unreadable_event(business_id, payload)
    if isinstance(payload, WebhookProblem):
        return NewEvent(WebhookProblemReported(business_id=business_id, problem=payload),
                        fingerprint_id)  # fmt: skip
    if isinstance(payload, UnrecognizedUpdate):
        log.info("webhook.unknown_field", field=update.field, business_id=business_id)
        return NewEvent(
            UnrecognizedUpdateReceived(business_id=business_id, update=payload), fingerprint_id
        )
    raise TypeError(f"{type(payload).__name__} is not an account-level update")


def _unreadable_event(business_id: str | None, change: UnreadableChange) -> NewEvent:
    log.warning(
        "webhook.change_unreadable", business_id=business_id, field=change.field,
        path=change.path, error=change.error,
    )  # fmt: skip
    event = WebhookChangeUnreadable(business_id=business_id, change=change)
    return NewEvent(event, unreadable_event_id(change))


def _unrouted_event(update: InboundUpdate) -> NewEvent:
    if isinstance(update.payload, UnreadableChange):
        # Kept whole even without an owner: nobody can tell whose it is until it is read.
        return _unreadable_event(None, update.payload)
    event = UnroutedUpdateReceived(
        phone_number_id=update.phone_number_id if isinstance(update, NumberUpdate) else None,
        account_id=update.account_id,
        field=update.field,
        fingerprint=update.fingerprint,
    )
    return NewEvent(event, fingerprint_event_id("unrouted", update.fingerprint))


def _throttled(
    business_id: str,
    message: InboundMessage,
    until: datetime,
    limit: int,
    metadata: EventMetadata,
) -> NewEvent:
    event = CustomerThrottled(
        business_id=business_id, phone_number_id=message.phone_number_id,
        customer_id=message.customer_id, wamid=message.wamid, since=message.sent_at,
        until=until, limit_per_minute=limit,
    )  # fmt: skip
    return NewEvent(event, throttle_event_id(message.wamid, "throttled"), metadata)


def _lifted(business_id: str, message: InboundMessage, metadata: EventMetadata) -> NewEvent:
    event = CustomerThrottleLifted(
        business_id=business_id, phone_number_id=message.phone_number_id,
        customer_id=message.customer_id, wamid=message.wamid, at=message.sent_at,
    )  # fmt: skip
    return NewEvent(event, throttle_event_id(message.wamid, "throttle_lifted"), metadata)


class _StreamLocks:
    """Per-stream locks within this process, so one process never races itself."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, stream_ids: list[str]) -> _Held:
        return _Held(self, stream_ids)

    def reference(self, stream_id: str) -> asyncio.Lock:
        lock, refs = self._locks.get(stream_id) or (asyncio.Lock(), 0)
        self._locks[stream_id] = (lock, refs + 1)
        return lock

    def dereference(self, stream_id: str) -> None:
        lock, refs = self._locks[stream_id]
        if refs == 1:
            del self._locks[stream_id]
        else:
            self._locks[stream_id] = (lock, refs - 1)


class _Held:
    """Holds the locks of several streams, taken in the caller's (sorted) order."""

    __slots__ = ("_held", "_locks", "_stream_ids")

    def __init__(self, locks: _StreamLocks, stream_ids: list[str]) -> None:
        self._locks = locks
        self._stream_ids = stream_ids
        self._held: list[asyncio.Lock] = []

    async def __aenter__(self) -> None:
        try:
            for stream_id in self._stream_ids:
                lock = self._locks.reference(stream_id)
                try:
                    await lock.acquire()
                except BaseException:
                    self._locks.dereference(stream_id)
                    raise
                self._held.append(lock)
        except BaseException:
            self._release()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        for stream_id, lock in zip(self._stream_ids, self._held, strict=False):
            lock.release()
            self._locks.dereference(stream_id)
        self._held.clear()
