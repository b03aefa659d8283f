"""Team notices: what the team receives, and which events deserve one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from application.event_log import RecordedEvent
from domain.account import AccountNoticeReceived
from domain.conversation import CONVERSATION_STREAM_PREFIX
from domain.handoff import ConversationEscalated
from domain.operations import EventParked
from domain.outbox import OutboundMessageAccepted, OutboundMessageDeadLettered, OutboundSendFailed
from domain.privacy import mask_customer_id, mask_phones_in
from domain.public_ids import conversation_public_id
from domain.whatsapp_errors import ErrorClass


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """What the team receives: one readable line and the facts behind it."""

    text: str
    event: str
    business_id: str | None = None
    conversation_id: str | None = None
    details: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Incident:
    """A cause that lasts: a business's sends failing for one reason (see ``plan_notices``)."""

    business_id: str
    cause: str


@dataclass(frozen=True, slots=True)
class KeyedNotice:
    """A notice and the key of its cause: a second notice with the same key is dropped.

    A notice with an ``incident`` is only sent when that incident is not open already.
    """

    key: str
    notice: Notice
    incident: Incident | None = None


class NotificationError(Exception):
    """A channel did not take the notice; the message never holds a secret."""


# --- which events deserve a notice ---------------------------------------------------------

# account_update events that stop or limit sending: bans, restrictions, disabled accounts.
_ACCOUNT_ALERTS: Final = {
    "ACCOUNT_RESTRICTION": "is restricted",
    "ACCOUNT_VIOLATION": "has a policy violation",
    "DISABLED_UPDATE": "was disabled, or its ban changed",
    "ACCOUNT_DELETED": "was deleted",
    "ACCOUNT_OFFBOARDED": "was offboarded",
}
# phone_number_quality_update events where a number is flagged or loses messaging limit.
_NUMBER_ALERTS: Final = {"FLAGGED": "is flagged for low quality", "DOWNGRADE": "was downgraded"}


def notice_for(event: RecordedEvent) -> KeyedNotice | None:
    """The notice an event deserves, keyed by its cause; None for most events."""
    payload = event.event
    if isinstance(payload, AccountNoticeReceived):
        return _account_notice(event, payload)
    if isinstance(payload, EventParked):
        return _parked_notice(payload, event.recorded_at)
    if isinstance(payload, OutboundSendFailed) and payload.error_class is ErrorClass.CRITICAL:
        return _critical_send_notice(event, payload)
    if isinstance(payload, OutboundMessageDeadLettered):
        return _dead_letter_notice(event, payload)
    if isinstance(payload, ConversationEscalated):
        return _escalation_notice(event, payload)
    return None


_CAUSES: Final = {
    "customer_asked": "the customer asked for a person",
    "assistant_decided": "the assistant decided",
    "keyword": "an escalation keyword",
    "repeated_failures": "the assistant failed repeatedly",
    "agent_took_over": "an agent took over",
}


def _escalation_notice(event: RecordedEvent, escalated: ConversationEscalated) -> KeyedNotice:
    """One notice per escalation: a person has to answer this customer."""
    conversation = conversation_public_id(escalated.business_id, event.stream_id)
    customer = _masked_customer(event.stream_id)
    assignee = f", assigned to {escalated.assignee}" if escalated.assignee else ""
    reason = mask_phones_in(" ".join(escalated.reason.split()))
    cause = _CAUSES.get(escalated.cause, escalated.cause)
    text = (f"Conversation {conversation} with {customer} (business {escalated.business_id}) "
            f"needs a person ({cause}{assignee}): {reason}")  # fmt: skip
    return KeyedNotice(
        key=f"escalated:{event.event_id}",
        notice=Notice(
            text=text, event="conversation.escalated", business_id=escalated.business_id,
            conversation_id=conversation,
            details={"cause": escalated.cause, "reason": reason, "by": escalated.by,
                     "assignee": escalated.assignee, "customer": customer,
                     "at": escalated.at.isoformat()},
        ),
    )  # fmt: skip


def _masked_customer(stream_id: str) -> str:
    """The customer (or group) of a conversation stream ``conversation-<number>-<key>``."""
    _, _, key = stream_id.removeprefix(CONVERSATION_STREAM_PREFIX).partition("-")
    if not key or key.startswith("#"):  # a key too long for the name is hashed
        return "a customer"
    return f"customer {mask_customer_id(key)}"


def _account_notice(event: RecordedEvent, received: AccountNoticeReceived) -> KeyedNotice | None:
    notice = received.notice
    alerts = {"account_update": _ACCOUNT_ALERTS, "phone_number_quality_update": _NUMBER_ALERTS}
    what = alerts.get(notice.field, {}).get(notice.event.upper())
    if what is None:
        return None
    ban_info = notice.details.get("ban_info")  # Meta's JSON: any shape may arrive
    ban_state = ban_info.get("waba_ban_state") if isinstance(ban_info, dict) else None
    state = f" (ban state {ban_state})" if isinstance(ban_state, str) else ""
    text = (f"WhatsApp account {notice.account_id} of business {received.business_id} "
            f"{what}{state}: {notice.event}")  # fmt: skip
    return KeyedNotice(
        key=f"account:{event.event_id}",
        notice=Notice(
            text=text, event=f"account.{notice.event.lower()}", business_id=received.business_id,
            details={"account_id": notice.account_id, "field": notice.field,
                     "at": notice.at.isoformat(), "meta": notice.details},
        ),
    )  # fmt: skip


def _parked_notice(parked: EventParked, recorded_at: datetime) -> KeyedNotice:
    """One notice per subscriber, event type and error kind a day: a bug that parks a
    thousand events is one cause."""
    error_kind = parked.error.split(":", 1)[0]
    day = recorded_at.astimezone(UTC).date().isoformat()
    text = (
        f"{parked.subscriber} set aside a {parked.parked_type} event after "
        f"{parked.attempts} failed attempts ({error_kind}); it stays parked until replayed"
        " (`wazybot projections retry-parked NAME` for a projection)"
    )
    return KeyedNotice(
        key=f"parked:{parked.subscriber}:{parked.parked_type}:{error_kind}:{day}",
        notice=Notice(
            text=text, event="subscriber.event_parked", business_id=parked.business_id,
            details={"subscriber": parked.subscriber, "event_id": str(parked.parked_event_id),
                     "type": parked.parked_type, "position": parked.position,
                     "error": parked.error[:500]},
        ),
    )  # fmt: skip


# --- sending incidents ------------------------------------------------------------------------

# An incident still open after this long is told again: the team may have missed it.
INCIDENT_RENEWAL: Final = timedelta(hours=24)
NO_USABLE_CREDENTIAL: Final = "no_access_token"
_UNKNOWN_BUSINESS: Final = "unknown"


def _critical_send_notice(event: RecordedEvent, failed: OutboundSendFailed) -> KeyedNotice:
    """One notice per business and error code while the incident lasts (``plan_notices``)."""
    cause = f"send_critical:{failed.code if failed.code is not None else NO_USABLE_CREDENTIAL}"
    business = failed.business_id or _UNKNOWN_BUSINESS
    code = f" (Meta error {failed.code})" if failed.code is not None else ""
    text = (f"WhatsApp sending is failing for business {business}{code}: "
            f"{mask_phones_in(failed.reason)}. Messages fail until it is fixed; no further "
            "notice for this cause until a send of this business is accepted.")  # fmt: skip
    details = {"message_id": failed.message_id, "code": failed.code,
               "title": mask_phones_in(failed.title) if failed.title else None,
               "reason": mask_phones_in(failed.reason), "attempt": failed.attempt}  # fmt: skip
    return _incident_notice(event, failed.business_id, cause, "send.critical_error", text, details)


def _dead_letter_notice(event: RecordedEvent, dead: OutboundMessageDeadLettered) -> KeyedNotice:
    """Isolated dead letters are told one by one; during an outage (no send of the business
    accepted in between) only the first is."""
    business = dead.business_id or _UNKNOWN_BUSINESS
    text = (f"A message of business {business} will not be sent: it failed {dead.attempts} "
            f"times ({mask_phones_in(dead.reason)}).")  # fmt: skip
    details = {"message_id": dead.message_id, "attempts": dead.attempts,
               "reason": mask_phones_in(dead.reason)}  # fmt: skip
    return _incident_notice(event, dead.business_id, "dead_letter", "send.dead_letter", text,
                            details)  # fmt: skip


def _incident_notice(event: RecordedEvent, business_id: str | None, cause: str, kind: str,
                     text: str, details: dict[str, Any]) -> KeyedNotice:  # fmt: skip
    incident = Incident(business_id or _UNKNOWN_BUSINESS, cause)
    conversation = conversation_public_id(business_id, event.stream_id) if business_id else None
    return KeyedNotice(
        # The opening event names the incident: a replayed batch finds the same key.
        key=f"incident:{incident.business_id}:{cause}:{event.event_id}",
        notice=Notice(text=text, event=kind, business_id=business_id,
                      conversation_id=conversation,
                      details={**details, "at": event.recorded_at.isoformat()}),
        incident=incident,
    )  # fmt: skip


def incident_ended_for(event: RecordedEvent) -> str | None:
    """The business whose sending incidents an event ends: one of its sends was accepted."""
    payload = event.event
    if isinstance(payload, OutboundMessageAccepted) and payload.business_id is not None:
        return payload.business_id
    return None


@dataclass(slots=True)
class IncidentChanges:
    """What a batch did to the open incidents: ended (per business), then opened."""

    ended: set[str] = field(default_factory=set)
    opened: dict[Incident, datetime] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.ended and not self.opened


def businesses_in(events: Sequence[RecordedEvent]) -> set[str]:
    """The businesses whose open incidents a batch needs to know."""
    found = set()
    for event in events:
        payload = event.event
        if isinstance(payload, OutboundSendFailed | OutboundMessageDeadLettered):
            found.add(payload.business_id or _UNKNOWN_BUSINESS)
    return found


def plan_notices(
    events: Sequence[RecordedEvent],
    open_incidents: Mapping[Incident, datetime],
    *,
    oldest: datetime,
    renewal: timedelta = INCIDENT_RENEWAL,
) -> tuple[list[KeyedNotice], IncidentChanges]:
    """The notices a batch deserves, and how it changes the open incidents.

    An incident (a business and a cause: an error code, its dead letters) opens with its
    first notice and stays open until a send of that business is accepted, or for
    ``renewal`` after it opened, whichever comes first; while it is open, its other
    notices are dropped. Events older than ``oldest`` give no notice (they are history)
    but still end incidents.
    """
    state = dict(open_incidents)
    changes = IncidentChanges()
    notices: list[KeyedNotice] = []
    for event in events:
        ended = incident_ended_for(event)
        if ended is not None:
            changes.ended.add(ended)
            for finished in [i for i in state if i.business_id == ended]:
                del state[finished]
                changes.opened.pop(finished, None)
        if event.recorded_at < oldest or (keyed := notice_for(event)) is None:
            continue
        incident = keyed.incident
        if incident is not None:
            opened_at = state.get(incident)
            if opened_at is not None and event.recorded_at - opened_at < renewal:
                continue
            state[incident] = changes.opened[incident] = event.recorded_at
        notices.append(keyed)
    return notices, changes
