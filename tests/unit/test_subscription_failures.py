"""Which failures a subscriber parks an event for, and how a failure is described."""

from __future__ import annotations

import asyncpg
import pytest

from adapters.postgres.subscriptions import event_may_be_at_fault
from application.event_log import ConcurrencyError, EventStoreError, UnstorableEventError
from application.subscriptions import describe_failure, may_be_the_events


@pytest.mark.parametrize(
    ("error", "parkable"),
    [
        (UnstorableEventError("PostgreSQL refused the append"), True),  # the same again
        (ValueError("a bug on one event"), True),
        (ConcurrencyError("conversation-1", 3, 4), False),
        (EventStoreError("the store is closing"), False),
        (OSError("connection reset"), False),
        (TimeoutError(), False),
    ],
)
def test_a_subscriber_parks_only_for_what_its_events_can_cause(
    error: Exception, parkable: bool
) -> None:
    assert may_be_the_events(error) is parkable
    assert event_may_be_at_fault(error) is parkable


def test_postgresql_errors_are_the_events_fault_only_for_data_and_integrity() -> None:
    assert event_may_be_at_fault(asyncpg.UniqueViolationError("duplicate key"))
    assert event_may_be_at_fault(asyncpg.DataError("invalid input"))
    assert not event_may_be_at_fault(asyncpg.AdminShutdownError("terminating connection"))
    assert not event_may_be_at_fault(asyncpg.InterfaceError("pool is closing"))


def test_a_stored_failure_masks_the_numbers_and_bsuids_it_quotes() -> None:
    described = describe_failure(ValueError("no route for 15551234567 nor US.13491208655302741918"))

    assert described == "ValueError: no route for ***4567 nor US.***1918"
