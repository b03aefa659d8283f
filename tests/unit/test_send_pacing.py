"""The pacing rules of a phone number, with a fake clock: slots, slow-down, recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.outbox import RetryAt, RetryPolicy, decide_retry
from domain.send_pacing import (
    Pace,
    PacingPolicy,
    current_factor,
    reserve,
    slow_down,
    validate_send_rate,
)
from domain.whatsapp_errors import classify

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = PacingPolicy(headroom=0.97, slowdown_interval=timedelta(seconds=1),
                      quiet_period=timedelta(seconds=10), recovery_per_second=0.05)  # fmt: skip


def most_in_one_second(times: list[datetime]) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while (at - ordered[start]).total_seconds() >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_slots_are_spaced_a_little_wider_than_the_rate() -> None:
    reservation, after = reserve(Pace(next_slot=T0), 5, 20, T0, POLICY)

    assert reservation.first_slot == T0
    assert reservation.spacing == timedelta(seconds=1 / (20 * 0.97))
    assert after.next_slot == T0 + reservation.spacing * 5


def test_reservations_follow_each_other_and_never_exceed_the_rate_in_any_second() -> None:
    pace, slots, now = Pace(next_slot=T0), [], T0
    for count in (7, 1, 13, 30, 2, 40):  # claims of any size, from any sender
        reservation, pace = reserve(pace, count, 20, now, POLICY)
        slots += reservation.slots()
        now += timedelta(milliseconds=30)

    assert len(set(slots)) == len(slots) == 93
    assert most_in_one_second(slots) == 20
    span = (max(slots) - min(slots)).total_seconds()
    assert 92 / span == pytest.approx(20 * 0.97, rel=1e-4)


def test_an_idle_number_starts_from_now_and_does_not_burst_to_catch_up() -> None:
    idle = Pace(next_slot=T0 - timedelta(minutes=5))

    reservation, _ = reserve(idle, 3, 20, T0, POLICY)

    assert reservation.first_slot == T0


def test_a_throughput_error_halves_the_rate_and_its_burst_counts_once() -> None:
    slowed = slow_down(Pace(next_slot=T0), T0, POLICY)
    same_burst = slow_down(slowed, T0 + timedelta(milliseconds=900), POLICY)
    next_burst = slow_down(same_burst, T0 + timedelta(seconds=2), POLICY)

    assert (slowed.factor, slowed.slowed_at) == (0.5, T0)
    assert same_burst == slowed
    assert next_burst.factor == 0.25
    reservation, _ = reserve(slowed, 2, 20, T0, POLICY)
    assert reservation.spacing == timedelta(seconds=1 / (20 * 0.97 * 0.5))


def test_slowing_down_never_goes_below_the_floor() -> None:
    pace, now = Pace(next_slot=T0), T0
    for _ in range(10):
        pace = slow_down(pace, now, POLICY)
        now += timedelta(seconds=1)

    assert pace.factor == POLICY.min_factor


def test_the_rate_recovers_gradually_after_a_quiet_period() -> None:
    slowed = slow_down(Pace(next_slot=T0), T0, POLICY)

    def factor_after(seconds: float) -> float:
        return current_factor(slowed, T0 + timedelta(seconds=seconds), POLICY)

    assert factor_after(9.9) == 0.5  # still quiet: no recovery yet
    assert factor_after(15) == pytest.approx(0.75)
    assert factor_after(20) == 1.0
    assert factor_after(600) == 1.0


def test_a_slow_down_during_recovery_halves_what_was_recovered() -> None:
    slowed = slow_down(Pace(next_slot=T0), T0, POLICY)

    again = slow_down(slowed, T0 + timedelta(seconds=15), POLICY)

    assert again.factor == pytest.approx(0.375)


@pytest.mark.parametrize("rate", [0, -5, 1001])
def test_a_send_rate_must_be_sane(rate: int) -> None:
    with pytest.raises(ValueError, match="from 1 to 1000"):
        validate_send_rate(rate)


def test_a_pair_rate_error_delays_that_customer_by_the_pair_rate() -> None:
    decision = decide_retry(classify(131056, 400), 1, queued_at=T0, now=T0,
                            policy=RetryPolicy(), rand=lambda: 0.0)  # fmt: skip

    assert decision == RetryAt(T0 + timedelta(seconds=6))
