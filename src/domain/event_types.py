"""The registry of every event type the product stores; the codec is built from it."""

from __future__ import annotations

from typing import Final

from domain.account import (
    AccountNoticeReceived,
    TemplateCategoryChangeAnnounced,
    TemplateCategoryUpdated,
    TemplateQualityUpdated,
    TemplateStatusUpdated,
    UnrecognizedUpdateReceived,
    UnroutedUpdateReceived,
    WebhookChangeRecovered,
    WebhookChangeUnreadable,
)
from domain.assistant_settings import AssistantSettingsChanged
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
)
from domain.catalog import ProductListed, ProductRemoved
from domain.conversation import (
    CustomerThrottled,
    CustomerThrottleLifted,
    MarketingPreferenceChanged,
    MessageEchoed,
    MessageReceived,
    MessageStatusUpdated,
    WebhookProblemReported,
)
from domain.customer import CustomerIdentifierLinked
from domain.events import DomainEvent
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.operations import EventParked
from domain.order_settings import OrderSettingsChanged
from domain.orders import (
    OrderCancelled,
    OrderChangeRequested,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
)
from domain.outbox import (
    OutboundMessageAccepted,
    OutboundMessageDeadLettered,
    OutboundMessageQueued,
    OutboundRetryRequested,
    OutboundSendFailed,
)
from domain.templates import TemplateRemoved, TemplateSynced

EVENT_TYPES: Final[tuple[type[DomainEvent], ...]] = (
    MessageReceived,
    MessageStatusUpdated,
    CustomerThrottled,
    CustomerThrottleLifted,
    MarketingPreferenceChanged,
    WebhookProblemReported,
    TemplateStatusUpdated,
    TemplateQualityUpdated,
    TemplateCategoryUpdated,
    AccountNoticeReceived,
    UnrecognizedUpdateReceived,
    UnroutedUpdateReceived,
    MessageEchoed,
    CustomerIdentifierLinked,
    TemplateCategoryChangeAnnounced,
    WebhookChangeUnreadable,
    WebhookChangeRecovered,
    EventParked,
    OutboundMessageQueued,
    OutboundMessageAccepted,
    OutboundSendFailed,
    OutboundMessageDeadLettered,
    OutboundRetryRequested,
    TemplateSynced,
    TemplateRemoved,
    AssistantSettingsChanged,
    ConversationEscalated,
    ConversationResolved,
    ConversationMarkedRead,
    AssistantTurnRequested,
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnSkipped,
    ProductListed,
    ProductRemoved,
    OrderPlaced,
    OrderConfirmed,
    OrderChangeRequested,
    OrderCancelled,
    OrderShipped,
    OrderDelivered,
    OrderSettingsChanged,
)
