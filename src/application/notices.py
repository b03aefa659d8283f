"""Team notices: what the team receives, and which events deserve one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from application.event_log import RecordedEvent
from domain.account import AccountNoticeReceived
from domain.operations import EventParked


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """What the team receives: one readable line and the facts behind it."""

    text: str
    event: str
    business_id: str | None = None
    conversation_id: str | None = None
    details: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class KeyedNotice:
    """A notice and the key of its cause: a second notice with the same key is dropped."""

    key: str
    notice: Notice


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
    return None


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
