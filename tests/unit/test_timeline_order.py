"""Within one second, a customer's message follows the order it arrived in: WhatsApp stamps
it in whole seconds, while what WazyBot sends carries its own clock's fraction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from application.projections import within_its_second

SECOND = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)


def test_a_tap_recorded_late_in_its_second_sorts_after_a_message_sent_earlier_in_it() -> None:
    list_sent = SECOND + timedelta(milliseconds=400)  # our list, by our clock
    tap = within_its_second(SECOND, SECOND + timedelta(milliseconds=900))
    assert tap > list_sent
    assert tap.replace(microsecond=0) == SECOND  # the second shown is WhatsApp's


def test_a_delivery_seconds_late_stays_in_the_customer_s_second() -> None:
    shown = within_its_second(SECOND, SECOND + timedelta(seconds=5))
    assert shown == SECOND + timedelta(microseconds=999_999)


def test_a_time_with_its_own_fraction_or_recorded_before_it_is_kept() -> None:
    precise = SECOND + timedelta(milliseconds=250)
    assert within_its_second(precise, precise + timedelta(seconds=1)) == precise
    assert within_its_second(SECOND, SECOND - timedelta(seconds=2)) == SECOND
