"""Team notices for critical send errors and dead letters: one per incident, not per message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application.event_log import FeedPosition, RecordedEvent
from application.notices import Incident, plan_notices
from domain.events import DomainEvent, EventMetadata
from domain.outbox import OutboundMessageAccepted, OutboundMessageDeadLettered, OutboundSendFailed
from domain.whatsapp_errors import ErrorClass, classify

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)


def recorded(event: DomainEvent, at: datetime = NOW) -> RecordedEvent:
    return RecordedEvent(stream_id="conversation-1065550001-15550001", version=1,
                         position=FeedPosition(1, 1), event_id=uuid.uuid4(), type="t",
                         event=event, metadata=EventMetadata(), recorded_at=at)  # fmt: skip


def failed(code: int | None, business: str | None = "acme", reason: str | None = None,
           at: datetime = NOW) -> RecordedEvent:  # fmt: skip
    if code is None:
        error_class, text = ErrorClass.CRITICAL, "the business has no usable access token"
    else:
        classification = classify(code, 400)
        error_class, text = classification.error_class, classification.reason
    event = OutboundSendFailed(
        message_id=str(uuid.uuid4()), attempt=1, code=code, title=f"(#{code}) Title",
        reason=reason or text, error_class=error_class, retryable=False,
        next_attempt_at=None, at=at, business_id=business,
    )  # fmt: skip
    return recorded(event, at)


def accepted(business: str = "acme", at: datetime = NOW) -> RecordedEvent:
    event = OutboundMessageAccepted(message_id=str(uuid.uuid4()), wamid="wamid.X", attempt=1,
                                    at=at, business_id=business)  # fmt: skip
    return recorded(event, at)


def dead(business: str = "acme", at: datetime = NOW) -> RecordedEvent:
    event = OutboundMessageDeadLettered(message_id=str(uuid.uuid4()), attempts=8,
                                        reason="Meta could not be reached", at=at,
                                        business_id=business)  # fmt: skip
    return recorded(event, at)


def plan(*events: RecordedEvent, open_: dict[Incident, datetime] | None = None) -> list[str]:
    notices, _ = plan_notices(events, open_ or {}, oldest=LONG_AGO)
    return [n.notice.event + ":" + str(n.notice.details.get("code")) for n in notices]


@pytest.mark.parametrize("code", [190, 131031, 368, 131042, 131005, None])
def test_each_critical_error_is_one_notice_however_many_messages_fail(code: int | None) -> None:
    notices, changes = plan_notices([failed(code) for _ in range(50)], {}, oldest=LONG_AGO)

    (notice,) = notices
    assert notice.notice.event == "send.critical_error"
    assert notice.notice.business_id == "acme"
    assert notice.notice.conversation_id
    assert notice.notice.text.startswith("WhatsApp sending is failing for business acme")
    assert "\n" not in notice.notice.text
    cause = f"send_critical:{code if code is not None else 'no_access_token'}"
    assert changes.opened == {Incident("acme", cause): NOW}


def test_permanent_and_retryable_failures_give_no_notice() -> None:
    assert plan(failed(131047), failed(131026), failed(131000), failed(130429)) == []


def test_each_cause_and_each_business_is_its_own_incident() -> None:
    events = [failed(190), failed(131042), failed(190, "globex"), failed(190), failed(131042)]

    assert plan(*events) == ["send.critical_error:190", "send.critical_error:131042",
                             "send.critical_error:190"]  # fmt: skip


def test_an_accepted_send_of_the_business_ends_its_incidents() -> None:
    events = [failed(190), accepted("globex"), failed(190), accepted("acme"), failed(190),
              failed(190)]  # fmt: skip
    notices, changes = plan_notices(events, {}, oldest=LONG_AGO)

    assert len(notices) == 2
    assert changes.ended == {"globex", "acme"}
    assert changes.opened == {Incident("acme", "send_critical:190"): NOW}


def test_an_incident_open_from_an_earlier_batch_stays_quiet_until_it_is_renewed() -> None:
    incident = Incident("acme", "send_critical:190")

    assert plan(failed(190), open_={incident: NOW - timedelta(hours=23)}) == []
    assert plan(failed(190), open_={incident: NOW - timedelta(hours=25)}) == [
        "send.critical_error:190"
    ]


def test_an_ended_incident_from_an_earlier_batch_is_told_again() -> None:
    incident = Incident("acme", "send_critical:190")
    notices, changes = plan_notices([accepted(), failed(190)], {incident: NOW}, oldest=LONG_AGO)

    assert len(notices) == 1
    assert changes.ended == {"acme"}
    assert changes.opened == {incident: NOW}


def test_dead_letters_are_told_one_by_one_unless_sending_is_down() -> None:
    isolated = [dead(), accepted(), dead(), accepted(), dead()]
    outage = [dead() for _ in range(20)]

    assert plan(*isolated) == ["send.dead_letter:None"] * 3
    assert plan(*outage) == ["send.dead_letter:None"]


def test_notices_mask_phone_numbers_and_hold_no_secret() -> None:
    event = failed(190, reason="token EAAG-secret rejected for +15551234567")
    (notice,), _ = plan_notices([event], {}, oldest=LONG_AGO)

    assert "15551234567" not in notice.notice.text
    assert "***4567" in notice.notice.text
    assert "15551234567" not in str(notice.notice.details)


def test_old_events_give_no_notice_but_still_end_incidents() -> None:
    notices, changes = plan_notices([failed(190, at=LONG_AGO), accepted(at=LONG_AGO)], {},
                                    oldest=NOW - timedelta(days=1))  # fmt: skip

    assert notices == []
    assert changes.ended == {"acme"}
    assert changes.opened == {}


def test_a_replayed_batch_keys_its_notice_the_same() -> None:
    events = [failed(190), failed(190)]

    first, _ = plan_notices(events, {}, oldest=LONG_AGO)
    again, _ = plan_notices(events, {}, oldest=LONG_AGO)

    assert [n.key for n in first] == [n.key for n in again]
