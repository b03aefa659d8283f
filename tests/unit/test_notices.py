"""Which events deserve a team notice, and how a failing channel backs off."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.event_log import FeedPosition, RecordedEvent
from application.notices import notice_for
from application.notifications import DeliverySettings, retry_delay
from domain.account import AccountNoticeReceived
from domain.events import DomainEvent, EventMetadata
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.inbound import AccountNotice
from domain.operations import EventParked
from domain.public_ids import conversation_public_id

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def recorded(event: DomainEvent, at: datetime = NOW) -> RecordedEvent:
    return RecordedEvent(stream_id="s", version=1, position=FeedPosition(1, 1),
                         event_id=uuid.uuid4(), type="t", event=event,
                         metadata=EventMetadata(), recorded_at=at)  # fmt: skip


def account(field: str, event: str, details: dict[str, Any] | None = None) -> AccountNoticeReceived:
    notice = AccountNotice(account_id="900", field=field, event=event, at=NOW,
                           details=details or {})  # fmt: skip
    return AccountNoticeReceived(business_id="acme", notice=notice)


@pytest.mark.parametrize(
    ("field", "event"),
    [("account_update", "ACCOUNT_RESTRICTION"), ("account_update", "DISABLED_UPDATE"),
     ("account_update", "ACCOUNT_VIOLATION"), ("phone_number_quality_update", "FLAGGED")],
)  # fmt: skip
def test_bans_restrictions_and_flagged_numbers_deserve_a_notice(field: str, event: str) -> None:
    keyed = notice_for(recorded(account(field, event)))
    assert keyed is not None
    assert keyed.notice.business_id == "acme"
    assert "900" in keyed.notice.text


@pytest.mark.parametrize(
    "details",
    [{"ban_info": None}, {"ban_info": "DISABLE"}, {"ban_info": {"waba_ban_state": 7}},
     {"account_id": "someone else's", "field": "x", "at": "never"}],
)  # fmt: skip
def test_an_alert_is_told_whatever_shape_metas_details_take(details: dict[str, Any]) -> None:
    keyed = notice_for(recorded(account("account_update", "DISABLED_UPDATE", details)))

    assert keyed is not None
    assert keyed.notice.details["account_id"] == "900"
    assert keyed.notice.details["field"] == "account_update"
    assert keyed.notice.details["meta"] == details


def test_the_ban_state_is_told_when_meta_gives_it() -> None:
    details = {"ban_info": {"waba_ban_state": "DISABLE"}}
    keyed = notice_for(recorded(account("account_update", "DISABLED_UPDATE", details)))

    assert keyed is not None
    assert "(ban state DISABLE)" in keyed.notice.text


@pytest.mark.parametrize("event", ["PARTNER_ADDED", "AD_ACCOUNT_LINKED", "ACCOUNT_RECONNECTED"])
def test_routine_account_updates_give_no_notice(event: str) -> None:
    assert notice_for(recorded(account("account_update", event))) is None


def parked(event_id: uuid.UUID, error: str = "ValueError: bad row 7") -> EventParked:
    return EventParked(subscriber="conversations", parked_event_id=event_id,
                       parked_type="message.received", stream_id="s", position=3, error=error,
                       attempts=5, business_id="acme")  # fmt: skip


def test_parked_events_of_one_cause_share_one_key_for_a_day() -> None:
    first = notice_for(recorded(parked(uuid.uuid4())))
    second = notice_for(recorded(parked(uuid.uuid4(), "ValueError: bad row 8")))
    other_error = notice_for(recorded(parked(uuid.uuid4(), "KeyError: 'x'")))
    next_day = notice_for(recorded(parked(uuid.uuid4()), NOW + timedelta(days=1)))

    assert first is not None
    assert second is not None
    assert first.key == second.key
    assert other_error is not None
    assert other_error.key != first.key
    assert next_day is not None
    assert next_day.key != first.key
    assert first.notice.text.startswith("conversations set aside a message.received event")


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    settings = DeliverySettings(first_retry_seconds=5, max_retry_seconds=60)
    highest = [retry_delay(attempt, settings, lambda: 1.0) for attempt in range(1, 7)]
    lowest = retry_delay(3, settings, lambda: 0.0)

    assert highest == [5, 10, 20, 40, 60, 60]
    assert lowest == 0.5  # full jitter, but never a busy loop


@pytest.mark.parametrize(
    ("customer", "shown"),
    [("15550001234", "customer ***1234"), ("US.13491208655302741918", "customer US.***1918"),
     ("#" + "0" * 64, "a customer")],
)  # fmt: skip
def test_each_escalation_is_one_notice_with_the_customer_masked(customer: str, shown: str) -> None:
    escalated = ConversationEscalated(
        business_id="acme", cause="repeated_failures", by="system", at=NOW,
        reason="The assistant failed twice\nin a row for +15550009876",
    )  # fmt: skip
    event = recorded(escalated)
    event = replace(event, stream_id=f"conversation-1122334455667-{customer}")
    keyed = notice_for(event)

    assert keyed is not None
    assert keyed.key == f"escalated:{event.event_id}"  # a replayed batch sends it once
    conversation = conversation_public_id("acme", event.stream_id)
    assert keyed.notice.conversation_id == conversation
    assert keyed.notice.text == (
        f"Conversation {conversation} with {shown} (business acme) needs a person (the "
        "assistant failed repeatedly): The assistant failed twice in a row for ***9876"
    )
    assert customer not in str(keyed.notice) or customer.startswith("#")


def test_resolving_and_reading_a_conversation_tell_nobody() -> None:
    assert notice_for(recorded(ConversationResolved(business_id="acme", at=NOW))) is None
    assert notice_for(recorded(ConversationMarkedRead(business_id="acme", at=NOW))) is None
