"""Who answers a conversation: the assistant, or a person after a handoff.

These events live in the conversation's stream. A conversation is ``escalated`` from its
latest ``conversation.escalated`` until a later ``conversation.resolved`` gives it back
to the assistant; while escalated, the assistant stays silent there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

from domain.assistant import EscalationCause
from domain.events import DomainEvent

EscalatedBy: TypeAlias = Literal["ai", "agent", "system"]


class ConversationEscalated(DomainEvent, frozen=True, tag="conversation.escalated"):
    """The conversation goes to a person. ``wamid``: the customer message that caused it,
    when one did (its id then makes a redelivered cause store nothing new)."""

    business_id: str
    cause: EscalationCause
    reason: str
    by: EscalatedBy
    at: datetime
    assignee: str | None = None
    wamid: str | None = None


class ConversationResolved(DomainEvent, frozen=True, tag="conversation.resolved"):
    """A person gives the conversation back to the assistant."""

    business_id: str
    at: datetime
    by: str | None = None  # the agent (API token name), when known


class ConversationMarkedRead(DomainEvent, frozen=True, tag="conversation.marked_read"):
    """An agent read the conversation: its unread count goes to zero."""

    business_id: str
    at: datetime
    by: str | None = None
