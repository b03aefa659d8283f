"""The retry rule of the outbox: backoff with full jitter, bounded attempts and age."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.outbound import Recipient, TextMessage
from domain.outbox import GiveUp, OutboundMessageQueued, RetryAt, RetryPolicy, decide_retry
from domain.whatsapp_errors import classify

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=60),
                     max_attempts=5, max_age=timedelta(hours=1))  # fmt: skip
TRANSIENT = classify(131000, 500)


def decide(attempt: int, rand: float, queued_at: datetime = NOW) -> RetryAt | GiveUp:
    return decide_retry(TRANSIENT, attempt, queued_at=queued_at, now=NOW, policy=POLICY,
                        rand=lambda: rand)  # fmt: skip


def test_the_ceiling_doubles_with_each_attempt_up_to_the_cap() -> None:
    ceilings = [decide(attempt, 1.0) for attempt in (1, 2, 3, 4)]
    assert ceilings == [RetryAt(NOW + timedelta(seconds=s)) for s in (2, 4, 8, 16)]
    policy = RetryPolicy(max_delay=timedelta(seconds=5), max_attempts=9)
    capped = decide_retry(TRANSIENT, 4, queued_at=NOW, now=NOW, rand=lambda: 1.0, policy=policy)
    assert capped == RetryAt(NOW + timedelta(seconds=5))


def test_full_jitter_draws_below_the_ceiling_but_never_zero() -> None:
    assert decide(3, 0.5) == RetryAt(NOW + timedelta(seconds=4))
    assert decide(3, 0.0) == RetryAt(NOW + timedelta(seconds=0.2))


def test_attempts_are_bounded() -> None:
    assert isinstance(decide(4, 1.0), RetryAt)
    assert decide(5, 1.0) == GiveUp(exhausted=True)


def test_a_message_too_old_is_given_up() -> None:
    assert decide(1, 1.0, queued_at=NOW - timedelta(minutes=59, seconds=59)) == GiveUp(
        exhausted=True
    )
    assert isinstance(decide(1, 1.0, queued_at=NOW - timedelta(minutes=59)), RetryAt)


def test_permanent_and_critical_errors_are_final_at_once() -> None:
    for classification in (classify(131047, 400), classify(190, 401)):
        assert decide_retry(classification, 1, queued_at=NOW, now=NOW, policy=POLICY,
                            rand=lambda: 1.0) == GiveUp(exhausted=False)  # fmt: skip


def test_throughput_and_pair_rate_errors_are_retried() -> None:
    for classification in (classify(130429, 400), classify(131056, 400)):
        assert isinstance(decide_retry(classification, 1, queued_at=NOW, now=NOW,
                                       policy=POLICY, rand=lambda: 1.0), RetryAt)  # fmt: skip


def test_a_queued_message_needs_a_canonical_uuid() -> None:
    fields: dict[str, Any] = {
        "business_id": "acme",
        "conversation_stream": "conversation-1-2",
        "phone_number_id": "1",
        "recipient": Recipient(phone_number="33600000001"),
        "message": TextMessage(body="hi"),
        "requested_by": "ai",
        "queued_at": NOW,
    }
    message_id = str(uuid.uuid4())
    assert OutboundMessageQueued(message_id=message_id, **fields).message_id == message_id
    for wrong in ("not-a-uuid", message_id.upper(), ""):
        with pytest.raises(ValueError, match="message_id must be"):
            OutboundMessageQueued(message_id=wrong, **fields)
