"""The flood rule: more than N messages in any one-minute window pauses automatic replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.conversation import FloodState, assess_message

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def send(state: FloodState, n: int, seconds: float, limit: int = 3):
    return assess_message(state, f"wamid.{n}", T0 + timedelta(seconds=seconds), limit)


def test_messages_up_to_the_limit_are_not_throttled() -> None:
    state = FloodState()
    for n in range(3):
        decision = send(state, n, n)
        assert not decision.throttled
        assert not decision.started
        state = decision.state


def test_the_message_over_the_limit_starts_the_throttle_with_its_end_time() -> None:
    state = FloodState()
    for n in range(3):
        state = send(state, n, n * 10).state

    decision = send(state, 3, 30)

    assert decision.throttled
    assert decision.started
    assert decision.until == T0 + timedelta(seconds=60)  # when the first message ages out


def test_throttle_holds_while_the_rate_stays_high_and_lifts_when_it_falls() -> None:
    state = FloodState()
    for n in range(4):
        state = send(state, n, n).state
    assert state.throttled

    still = send(state, 4, 5)
    assert still.throttled
    assert not still.started
    assert not still.lifted

    calm = send(still.state, 5, 200)
    assert not calm.throttled
    assert calm.lifted


def test_a_redelivered_message_changes_nothing() -> None:
    state = send(FloodState(), 1, 0).state

    again = send(state, 1, 0)

    assert again.state == state
    assert not again.started


def test_a_late_message_takes_the_current_flag_and_never_lifts_it() -> None:
    state = FloodState()
    for n in range(4):
        state = send(state, n, 100 + n).state
    assert state.throttled

    late = send(state, 99, 0)  # sent long before, delivered now

    assert late.throttled
    assert not late.lifted
    assert late.state.throttled


def test_only_messages_inside_the_window_count() -> None:
    state = FloodState()
    for n, seconds in enumerate([0, 61, 122, 183]):
        decision = send(state, n, seconds, limit=1)
        assert not decision.throttled
        state = decision.state


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        send(FloodState(), 1, 0, limit=0)
