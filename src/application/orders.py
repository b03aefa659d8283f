"""Orders: placed from a catalog cart, a product's "order" button or an assistant turn's
decision, moved by the customer's buttons and by the business. The orders process manager
also answers taps on recommended products: the product with its buttons, or the list again.

Every command reads what it needs in one transaction (the catalog and the order from their
streams, the conversation for where and in which language the customer is reached, the
business's order settings and templates), decides, then appends the order's event and the
message for the customer together, so one never exists without the other. Ids come from
the cause (the customer's message, the assistant's turn, or the order and the status the
business asked for): a cause handled twice places one order and queues one message. An
order's change is appended at the version it was decided on; when something else moved
the order meanwhile the command decides again on the order as it now stands, so two taps
confirm once.

Nothing here calls WhatsApp: messages go to the outbox, and leave from there. Free text
goes out only inside the 24-hour window; outside it a confirmation or status notice uses
the business's order template (``domain/order_settings.py``) and the other answers (a
summary, a refusal, "that button changes nothing") are not sent: they only make sense as
an immediate reply.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, Protocol, TypeAlias

import structlog

from application.event_log import (
    AppendRequest,
    AppendResult,
    ConcurrencyError,
    NewEvent,
    RecordedEvent,
)
from application.idempotency import KEY_REUSED, KeyToRemember, RememberedKey, same_request
from application.templates import TemplateBook, TemplateError, prepare_template
from domain.assistant import Language, PlaceOrder
from domain.assistant_settings import AssistantSettings, settings_stream
from domain.assistant_settings import evolve as evolve_assistant_settings
from domain.assistant_turns import AssistantTurnCompleted
from domain.catalog import Product, catalog_of, catalog_stream
from domain.commerce_messages import (
    OrderMove,
    chosen_product,
    no_products_text,
    not_pending_text,
    order_move_text,
    order_refused_text,
    order_summary,
    order_template_parameters,
    product_answer,
    product_gone,
    recommendation_list,
    unknown_order_text,
)
from domain.conversation import MessageReceived
from domain.events import DomainEvent, EventMetadata, deterministic_event_id
from domain.handoff import ConversationEscalated
from domain.inbound import OrderContent
from domain.language import detect_first
from domain.order_settings import order_settings_of, order_settings_stream
from domain.orders import (
    BusinessStatus,
    NotPending,
    Order,
    OrderButton,
    OrderCancelled,
    OrderChangeRequested,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderRefused,
    OrderShipped,
    OrderSource,
    ProductTap,
    Requested,
    StatusRefused,
    button_of,
    cart_requests,
    decide_business_status,
    decide_customer_action,
    is_order_message,
    order_event_id,
    order_id_for,
    order_message_id,
    order_of,
    order_stream,
    price_order,
    product_tap_of,
)
from domain.outbound import (
    ListMessage,
    OutboundMessage,
    Recipient,
    TemplateMessage,
    TextMessage,
    recipient_of,
)
from domain.outbox import OutboundMessageQueued, queued_event_id
from domain.reply_policy import DEFAULT_LANGUAGE, ReplyState, fold
from domain.service_window import may_send
from domain.whatsapp_limits import LIST_ROWS_MAX

log = structlog.get_logger(__name__)

ORDERS_SUBSCRIBER: Final = "order-process"
# The newest events of a conversation read to find the customer, their language and window.
CONVERSATION_EVENTS_READ: Final = 500
MAX_ATTEMPTS: Final = 5


class OrderUnit(Protocol):
    """One transaction. A command reads, then writes; on ConcurrencyError it may read again
    in the same unit (the refused append left it usable)."""

    @property
    def templates(self) -> TemplateBook: ...

    async def read(self, stream_id: str) -> list[RecordedEvent]: ...

    async def read_newest(self, stream_id: str, limit: int) -> list[RecordedEvent]:
        """The stream's newest ``limit`` events, newest first."""
        ...

    async def append(self, requests: Sequence[AppendRequest]) -> list[AppendResult]: ...

    async def remembered(self, business_id: str, key: str) -> RememberedKey | None: ...

    async def remember(self, key: KeyToRemember) -> RememberedKey | None:
        """Store the key; or, when another request stored it first, return what it stored."""
        ...


class OrderUnits(Protocol):
    def begin(self) -> AbstractAsyncContextManager[OrderUnit]: ...


# --- the customer, as the conversation shows them ----------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    stream_id: str
    phone_number_id: str
    recipient: Recipient
    last_message_at: datetime | None
    language: Language
    escalated: bool


async def customer_of(unit: OrderUnit, business_id: str, stream_id: str) -> Customer | None:
    """Where and in which language to reach the conversation's customer; None when the
    conversation has no customer message (nothing to answer)."""
    newest = await unit.read_newest(stream_id, CONVERSATION_EVENTS_READ)
    events = [r.event for r in reversed(newest)]
    received = next((e for e in reversed(events) if isinstance(e, MessageReceived)), None)
    if received is None:
        return None
    state = fold(events)
    settings = AssistantSettings()
    for recorded in await unit.read(settings_stream(business_id)):
        settings = evolve_assistant_settings(settings, recorded.event)
    identity = received.message.identity
    return Customer(
        stream_id=stream_id,
        phone_number_id=received.message.phone_number_id,
        recipient=recipient_of(identity.phone, identity.user_id, received.message.customer_id),
        last_message_at=state.last_customer_at,
        language=_language(state, settings),
        escalated=state.escalated,
    )


def _language(state: ReplyState, settings: AssistantSettings) -> Language:
    """The business's fixed language, else the customer's from their own words, newest
    first: a cart's summary ("[order: 2 x SKU-1 ...]") says nothing of their language."""
    said = [given.text for _, given in reversed(state.inputs) if given.kind != "order"]
    return settings.reply_language(detect_first(said, DEFAULT_LANGUAGE))


# --- outcomes ------------------------------------------------------------------------------


class CustomerNotice(enum.Enum):
    QUEUED = "queued"  # a text in the window, the order template outside it
    NOT_SENT = "not_sent"  # the window is closed and no usable order template is set
    UNCHANGED = "unchanged"  # the order had that status already: nothing new to tell


@dataclass(frozen=True, slots=True)
class StatusChanged:
    order: Order
    notice: CustomerNotice
    replayed: bool = False


class OrderRefusal(enum.Enum):
    NOT_FOUND = "not_found"
    MOVE_NOT_ALLOWED = "order_status_conflict"
    KEY_REUSED = "idempotency_key_reused"


class OrderRefusedError(Exception):
    """Nothing changed; ``message`` says why, for the caller."""

    def __init__(self, refusal: OrderRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


class _KeyRacedError(Exception):
    """Another request stored the same idempotency key first: this one writes nothing."""


class ContentionError(Exception):
    """The order kept changing under a command, attempt after attempt; try again later."""


@dataclass(frozen=True, slots=True)
class StatusCommand:
    business_id: str
    order_id: str
    status: BusinessStatus
    cause: str  # the API request or command, kept in the events' metadata
    idempotency_key: str | None = None
    request_fingerprint: str = ""


Tap: TypeAlias = Literal[
    "placed", "refused", "changed", "not_pending", "unknown", "answered", "ignored"
]


def assistant_order(event: DomainEvent) -> PlaceOrder | None:
    """The order an assistant turn decided to place; None for any other event."""
    if isinstance(event, AssistantTurnCompleted) and isinstance(event.decision, PlaceOrder):
        return event.decision
    return None


def takes(event: DomainEvent) -> bool:
    """Whether the orders process manager answers this event: a customer's cart or tap on
    an order or a recommended product, or an order an assistant turn decided."""
    return is_order_message(event) or assistant_order(event) is not None


# --- the commands ---------------------------------------------------------------------------


class OrderDesk:
    """Places orders and moves them; ``units`` for the commands that open their own
    transaction (the business's status change), the process manager passes its own."""

    def __init__(
        self,
        units: OrderUnits,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._units = units
        self._clock = clock

    # -- a customer message (the process manager) ------------------------------------------

    async def take_message(self, unit: OrderUnit, recorded: RecordedEvent) -> Tap:
        """Answer a cart, an order button, a tap on a recommended product or its buttons, or
        place the order an assistant turn decided; anything else is left alone
        ("ignored")."""
        event = recorded.event
        decided = assistant_order(event)
        if isinstance(event, AssistantTurnCompleted) and decided is not None:
            return await self._place_decided(unit, recorded, event, decided)
        if not isinstance(event, MessageReceived):
            return "ignored"
        content = event.message.content
        button = button_of(content)
        product_tap = product_tap_of(content)
        for _ in range(MAX_ATTEMPTS):
            try:
                if isinstance(content, OrderContent):
                    return await self._place_cart(unit, recorded, event, content)
                if button is not None:
                    return await self._tap(unit, recorded, event, button)
                if product_tap is not None:
                    return await self._product_tap(unit, recorded, event, product_tap)
                return "ignored"
            except ConcurrencyError:
                continue  # the order moved since it was read: decide again on it as it is
        raise ContentionError(f"order kept changing while answering {event.message.wamid}")

    async def _place_cart(
        self, unit: OrderUnit, recorded: RecordedEvent, event: MessageReceived, cart: OrderContent
    ) -> Tap:
        catalog = catalog_of(r.event for r in await unit.read(catalog_stream(event.business_id)))
        return await self.place(
            unit,
            business_id=event.business_id,
            conversation_stream=recorded.stream_id,
            requested=cart_requests(cart, catalog),
            cause=event.message.wamid,
            source="catalog_order",
            correlation=recorded.metadata.correlation_id,
            catalog=catalog,
        )

    async def _place_decided(
        self,
        unit: OrderUnit,
        recorded: RecordedEvent,
        turn: AssistantTurnCompleted,
        decided: PlaceOrder,
    ) -> Tap:
        """The order an assistant turn decided: placed once per turn, its summary (or why
        it cannot be placed) queued for the customer."""
        return await self.place(
            unit,
            business_id=turn.business_id,
            conversation_stream=recorded.stream_id,
            requested=[Requested(line.product_id, line.quantity) for line in decided.items],
            cause=f"assistant:{turn.turn_id}",
            source="assistant",
            correlation=recorded.metadata.correlation_id,
        )

    async def _product_tap(
        self, unit: OrderUnit, recorded: RecordedEvent, event: MessageReceived, tap: ProductTap
    ) -> Tap:
        """A recommended product tapped (its details and buttons), its "order" button (one
        of it), or "other products" (the last list again, as the catalog now stands)."""
        business_id, cause = event.business_id, event.message.wamid
        if tap.action == "order" and tap.product_id is not None:
            # Named by the conversation and the product message the button belongs to:
            # tapped twice, it shows the same order again instead of placing a second one.
            context = event.message.context
            product_message = context.reply_to_wamid if context is not None else None
            button = f"order-button:{recorded.stream_id}:{product_message}"
            return await self.place(
                unit, business_id=business_id, conversation_stream=recorded.stream_id,
                requested=[Requested(tap.product_id, 1)], source="button",
                cause=button if product_message else cause,
                answer_cause=cause,
                correlation=recorded.metadata.correlation_id,
            )  # fmt: skip
        customer = await customer_of(unit, business_id, recorded.stream_id)
        if customer is None:
            return "ignored"
        now = self._clock()
        if not _window_open(customer, now):
            return "ignored"
        catalog = catalog_of(r.event for r in await unit.read(catalog_stream(business_id)))
        if tap.action == "show":
            product = catalog.get(tap.product_id or "")
            shown: OutboundMessage = (
                product_answer(product, customer.language)
                if product is not None and product.in_stock
                else product_gone(customer.language)
            )
        else:
            shown = await self._product_list(unit, customer, catalog)
        metadata = EventMetadata(
            correlation_id=recorded.metadata.correlation_id or cause, causation_id=cause
        )
        queued = _queued(business_id, customer, shown, cause, "product", now, metadata)
        await unit.append([AppendRequest(customer.stream_id, [queued])])
        log.info("orders.product_tap", action=tap.action)
        return "answered"

    async def _product_list(
        self, unit: OrderUnit, customer: Customer, catalog: Mapping[str, Product]
    ) -> OutboundMessage:
        """The products of the last list the conversation was sent that are still in stock;
        when none is, the catalog's products in stock, by name."""
        listed = await _last_listed(unit, customer.stream_id)
        products = [catalog[p] for p in listed if p in catalog and catalog[p].in_stock]
        if not products:
            in_stock = (p for p in catalog.values() if p.in_stock)
            products = sorted(in_stock, key=lambda p: (p.name.casefold(), p.product_id))
        found = recommendation_list(products[:LIST_ROWS_MAX], customer.language)
        return found or TextMessage(body=no_products_text(customer.language))

    async def place(
        self,
        unit: OrderUnit,
        *,
        business_id: str,
        conversation_stream: str,
        requested: Sequence[Requested],
        cause: str,
        source: OrderSource,
        correlation: str | None = None,
        catalog: Mapping[str, Product] | None = None,
        answer_cause: str | None = None,
    ) -> Literal["placed", "refused", "ignored"]:
        """Place an order priced from the catalog now, with its summary queued for the
        customer; or queue the reason it cannot be placed. The same ``cause`` places once;
        what the customer is sent is named by ``answer_cause`` (a tap) when given, so asked
        again under another one (a second tap), the order placed then is shown again."""
        customer = await customer_of(unit, business_id, conversation_stream)
        if customer is None:
            return "ignored"
        now = self._clock()
        if not _window_open(customer, now):
            log.info("orders.not_placed", reason="service window closed", cause=cause)
            return "ignored"  # a cart or request this old is no longer an immediate wish
        order_id = order_id_for(business_id, cause)
        if answer_cause is not None and answer_cause != cause:
            placed_before = order_of(
                r.event for r in await unit.read(order_stream(business_id, order_id))
            )
            if placed_before is not None:
                await self._show_again(
                    unit, customer, placed_before, answer_cause, now, correlation
                )
                return "placed"
        if catalog is None:
            catalog = catalog_of(r.event for r in await unit.read(catalog_stream(business_id)))
        priced = price_order(requested, catalog)
        metadata = EventMetadata(correlation_id=correlation or cause, causation_id=cause)
        if isinstance(priced, OrderRefused):
            text = TextMessage(body=order_refused_text(priced, customer.language))
            queued = _queued(business_id, customer, text, answer_cause or cause, "refused", now,
                             metadata)  # fmt: skip
            await unit.append([AppendRequest(customer.stream_id, [queued])])
            log.info("orders.refused", reason=priced.reason)
            return "refused"
        placed = OrderPlaced(
            business_id=business_id, order_id=order_id, conversation_stream=customer.stream_id,
            items=priced.items, currency=priced.currency, total=priced.total, source=source,
            at=now,
        )  # fmt: skip
        summary = order_summary(Order(placed), customer.language)
        queued = _queued(business_id, customer, summary, answer_cause or cause, "summary", now,
                         metadata)  # fmt: skip
        await unit.append([
            AppendRequest(order_stream(business_id, order_id),
                          [NewEvent(placed, order_event_id(order_id, "placed"), metadata)]),
            AppendRequest(customer.stream_id, [queued]),
        ])  # fmt: skip
        log.info("orders.placed", order_id=order_id, items=len(priced.items))
        return "placed"

    async def _show_again(
        self,
        unit: OrderUnit,
        customer: Customer,
        order: Order,
        cause: str,
        now: datetime,
        correlation: str | None,
    ) -> None:
        """The order's summary again (or, once it has moved on, where it stands)."""
        metadata = EventMetadata(correlation_id=correlation or cause, causation_id=cause)
        shown: OutboundMessage = (
            order_summary(order, customer.language)
            if order.status == "pending"
            else TextMessage(body=not_pending_text(NotPending(order.status), customer.language))
        )
        queued = _queued(order.business_id, customer, shown, cause, "summary", now, metadata)
        await unit.append([AppendRequest(customer.stream_id, [queued])])
        log.info("orders.shown_again", order_id=order.order_id)

    async def _tap(
        self, unit: OrderUnit, recorded: RecordedEvent, event: MessageReceived, button: OrderButton
    ) -> Tap:
        business_id, cause = event.business_id, event.message.wamid
        customer = await customer_of(unit, business_id, recorded.stream_id)
        if customer is None:
            return "ignored"
        now = self._clock()
        metadata = EventMetadata(
            correlation_id=recorded.metadata.correlation_id or cause, causation_id=cause
        )
        stream = order_stream(business_id, button.order_id)
        recorded_order = await unit.read(stream)
        order = order_of(r.event for r in recorded_order)
        if order is None or order.placed.conversation_stream != customer.stream_id:
            # Another business's order, or another customer's, is no order of theirs.
            text = TextMessage(body=unknown_order_text(customer.language))
            await self._answer(unit, business_id, customer, text, cause, "unknown", now, metadata)
            return "unknown"
        decided = decide_customer_action(order, button.action, now)
        if isinstance(decided, NotPending):
            text = TextMessage(body=not_pending_text(decided, customer.language))
            await self._answer(unit, business_id, customer, text, cause, "late", now, metadata)
            return "not_pending"
        change = NewEvent(decided, _change_event_id(decided, cause), metadata)
        effects = await self._customer_effects(
            unit, business_id, customer, order, decided, cause, now, metadata
        )
        requests = [AppendRequest(stream, [change], expected_version=len(recorded_order))]
        if effects:  # none when the window is closed and no order template is set
            requests.append(AppendRequest(customer.stream_id, effects))
        await unit.append(requests)
        log.info("orders.changed", order_id=order.order_id, by="customer",
                 change=decided.__struct_config__.tag)  # fmt: skip
        return "changed"

    async def _customer_effects(
        self,
        unit: OrderUnit,
        business_id: str,
        customer: Customer,
        order: Order,
        decided: OrderConfirmed | OrderChangeRequested | OrderCancelled,
        cause: str,
        now: datetime,
        metadata: EventMetadata,
    ) -> list[NewEvent]:
        move: OrderMove = (
            "confirmed" if isinstance(decided, OrderConfirmed)
            else "change_requested" if isinstance(decided, OrderChangeRequested)
            else "cancelled_by_customer"
        )  # fmt: skip
        effects: list[NewEvent] = []
        if isinstance(decided, OrderChangeRequested) and not customer.escalated:
            escalated = ConversationEscalated(
                business_id=business_id, cause="customer_asked",
                reason=f"the customer asked to change order {order.order_id}", by="system",
                at=now, wamid=cause,
            )  # fmt: skip
            escalation_id = deterministic_event_id("order.escalated", order.order_id, cause)
            effects.append(NewEvent(escalated, escalation_id, metadata))
        message = await self._notice(unit, business_id, customer, order, move, now)
        if message is not None:
            effects.append(_queued(business_id, customer, message, cause, move, now, metadata))
        return effects

    async def _answer(
        self,
        unit: OrderUnit,
        business_id: str,
        customer: Customer,
        text: TextMessage,
        cause: str,
        purpose: str,
        now: datetime,
        metadata: EventMetadata,
    ) -> None:
        """A polite answer that changes nothing; sent only inside the window."""
        if not _window_open(customer, now):
            return
        queued = _queued(business_id, customer, text, cause, purpose, now, metadata)
        await unit.append([AppendRequest(customer.stream_id, [queued])])

    async def _notice(
        self,
        unit: OrderUnit,
        business_id: str,
        customer: Customer,
        order: Order,
        move: OrderMove,
        now: datetime,
    ) -> OutboundMessage | None:
        """The text inside the window; outside it the business's order template, or None
        when it has none usable (the order changes all the same)."""
        language = customer.language
        if _window_open(customer, now):
            return TextMessage(body=order_move_text(order, move, language))
        settings = order_settings_of(
            [r.event for r in await unit.read(order_settings_stream(business_id))]
        )
        name = settings.template("confirmation" if move == "confirmed" else "status")
        if name is None:
            log.warning("orders.customer_not_told", order_id=order.order_id, move=move,
                        reason="service window closed and no order template set")  # fmt: skip
            return None
        requested = TemplateMessage(
            name=name, language=settings.template_language(language),
            body_parameters=order_template_parameters(order, move, language),
        )  # fmt: skip
        try:
            return await prepare_template(unit.templates, business_id, requested)
        except TemplateError as error:
            log.warning("orders.customer_not_told", order_id=order.order_id, move=move,
                        reason=error.message)  # fmt: skip
            return None

    # -- the business (API, CLI) ------------------------------------------------------------

    async def change_status(self, command: StatusCommand) -> StatusChanged:
        """Move the order to ``status`` and tell the customer. OrderRefusedError: unknown
        order (or another business's), a move its status does not allow, a reused key."""
        for _ in range(MAX_ATTEMPTS):
            async with self._units.begin() as unit:
                try:
                    return await self._change_status_on(unit, command)
                except (ConcurrencyError, _KeyRacedError):
                    continue
        raise ContentionError(f"order {command.order_id} kept changing; try again")

    async def _change_status_on(self, unit: OrderUnit, command: StatusCommand) -> StatusChanged:
        key = command.idempotency_key
        if key is not None:
            known = await unit.remembered(command.business_id, key)
            if known is not None:
                return await self._replayed(unit, command, known)
        stream = order_stream(command.business_id, command.order_id)
        recorded_order = await unit.read(stream)
        order = order_of(r.event for r in recorded_order)
        if order is None or order.business_id != command.business_id:
            raise OrderRefusedError(
                OrderRefusal.NOT_FOUND, "This business has no order with that id."
            )
        now = self._clock()
        decided = decide_business_status(order, command.status, now)
        if isinstance(decided, StatusRefused):
            raise OrderRefusedError(OrderRefusal.MOVE_NOT_ALLOWED, _refused_move(decided))
        notice = CustomerNotice.UNCHANGED
        moved = order
        if decided is not None:
            notice = await self._record_status(unit, command, order, decided,
                                               len(recorded_order), now)  # fmt: skip
            moved = order_of([*(r.event for r in recorded_order), decided]) or order
        if key is not None:
            asked = KeyToRemember(command.business_id, key, command.request_fingerprint,
                                  notice.value)  # fmt: skip
            raced = await unit.remember(asked)
            if raced is not None:
                raise _KeyRacedError  # the retry replays what the other request stored
        return StatusChanged(moved, notice)

    async def _record_status(
        self,
        unit: OrderUnit,
        command: StatusCommand,
        order: Order,
        decided: OrderShipped | OrderDelivered | OrderCancelled,
        version: int,
        now: datetime,
    ) -> CustomerNotice:
        metadata = EventMetadata(correlation_id=command.cause, causation_id=command.cause)
        change = NewEvent(decided, _change_event_id(decided, command.cause), metadata)
        stream = order_stream(command.business_id, command.order_id)
        requests = [AppendRequest(stream, [change], expected_version=version)]
        customer = await customer_of(unit, command.business_id, order.placed.conversation_stream)
        notice = CustomerNotice.NOT_SENT
        if customer is not None:
            move: OrderMove = command.status
            message = await self._notice(unit, command.business_id, customer, order, move, now)
            if message is not None:
                cause = f"{order.order_id}:{command.status}"  # one notice per status reached
                queued = _queued(command.business_id, customer, message, cause, move, now,
                                 metadata)  # fmt: skip
                requests.append(AppendRequest(customer.stream_id, [queued]))
                notice = CustomerNotice.QUEUED
        await unit.append(requests)
        log.info("orders.changed", order_id=order.order_id, by="business",
                 change=decided.__struct_config__.tag, notice=notice.value)  # fmt: skip
        return notice

    async def _replayed(
        self, unit: OrderUnit, command: StatusCommand, known: RememberedKey
    ) -> StatusChanged:
        if not same_request(known, command.request_fingerprint):
            raise OrderRefusedError(OrderRefusal.KEY_REUSED, KEY_REUSED)
        order = order_of(r.event for r in await unit.read(
            order_stream(command.business_id, command.order_id)))  # fmt: skip
        if order is None:
            raise OrderRefusedError(
                OrderRefusal.NOT_FOUND, "This business has no order with that id."
            )
        notice = CustomerNotice(known.answer)
        return StatusChanged(order, notice, replayed=True)


async def _last_listed(unit: OrderUnit, stream_id: str) -> list[str]:
    """The product ids of the newest product list queued on the conversation, in order."""
    for recorded in await unit.read_newest(stream_id, CONVERSATION_EVENTS_READ):
        event = recorded.event
        if isinstance(event, OutboundMessageQueued) and isinstance(event.message, ListMessage):
            ids = [chosen_product(row.id) for s in event.message.sections for row in s.rows]
            listed = [p for p in ids if p is not None]
            if listed:
                return listed
    return []


def _window_open(customer: Customer, now: datetime) -> bool:
    return may_send(TextMessage(body="-"), customer.last_message_at, now)


def _queued(
    business_id: str,
    customer: Customer,
    message: OutboundMessage,
    cause: str,
    purpose: str,
    now: datetime,
    metadata: EventMetadata,
) -> NewEvent:
    message_id = order_message_id(business_id, cause, purpose)
    event = OutboundMessageQueued(
        message_id=message_id, business_id=business_id, conversation_stream=customer.stream_id,
        phone_number_id=customer.phone_number_id, recipient=customer.recipient, message=message,
        requested_by="system", queued_at=now,
    )  # fmt: skip
    return NewEvent(event, queued_event_id(message_id), metadata)


def _change_event_id(change: DomainEvent, cause: str) -> uuid.UUID:
    """Named by its cause: the same cause handled again stores nothing new, while two causes
    (two taps) both append at the version they read, so the second is decided again."""
    return order_event_id(getattr(change, "order_id", ""), str(change.__struct_config__.tag),
                          cause)  # fmt: skip


def _refused_move(refused: StatusRefused) -> str:
    allowed = {"shipped": "a confirmed", "delivered": "a shipped",
               "cancelled": "a pending or confirmed"}[refused.wanted]  # fmt: skip
    return (f"This order is {refused.status}: only {allowed} order can be marked "
            f"{refused.wanted}.")  # fmt: skip
