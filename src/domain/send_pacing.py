"""Pacing one phone number's sends: slots at the number's rate, shared by every sender.

Meta limits how many messages a second one business number may send (its throughput)
and how often one customer may be written to (the pair rate, about one message every
6 seconds). A number's pace is the next free send slot and a slow-down factor: senders
reserve consecutive slots ``1 / (rate * headroom * factor)`` apart and send each message
no earlier than its slot. A throughput error (4, 80007, 130429) halves the factor; after a
quiet period without one it grows back little by little. Pure: the adapter keeps the pace
in one place every worker process reserves from, and passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

DEFAULT_SEND_RATE: Final = 80
# Meta's highest throughput tier is 1,000 messages a second per number.
MAX_SEND_RATE: Final = 1000
# Meta's pair rate allows about one message every 6 s to one customer.
PAIR_RATE_DELAY: Final = timedelta(seconds=6)


def validate_send_rate(rate: int) -> None:
    """Raise ValueError unless ``rate`` is a usable number of messages a second."""
    if not 1 <= rate <= MAX_SEND_RATE:
        raise ValueError(f"the send rate must be from 1 to {MAX_SEND_RATE} messages a second")


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    # Slots a little closer than the rate would allow make a window of one second hold one
    # send more whenever a request leaves a few milliseconds late: keep a margin.
    headroom: float = 0.96
    # Throughput errors of one burst (every request in flight gets one) count once.
    slowdown_interval: timedelta = timedelta(seconds=1)
    min_factor: float = 1 / 16
    quiet_period: timedelta = timedelta(seconds=10)
    recovery_per_second: float = 0.05  # of the full rate, once the quiet period is over


@dataclass(frozen=True, slots=True)
class Pace:
    """A number's pace: its next free slot, and the slow-down in force since ``slowed_at``."""

    next_slot: datetime
    factor: float = 1.0
    slowed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """``count`` consecutive slots from ``first_slot``, ``spacing`` apart."""

    first_slot: datetime
    spacing: timedelta
    count: int

    def slots(self) -> list[datetime]:
        return [self.first_slot + self.spacing * i for i in range(self.count)]


def current_factor(pace: Pace, now: datetime, policy: PacingPolicy) -> float:
    """The share of the rate in force at ``now``: the slow-down, less what it recovered."""
    if pace.slowed_at is None:
        return pace.factor
    recovering = (now - pace.slowed_at - policy.quiet_period).total_seconds()
    return min(1.0, pace.factor + policy.recovery_per_second * max(0.0, recovering))


def reserve(
    pace: Pace, count: int, rate: int, now: datetime, policy: PacingPolicy
) -> tuple[Reservation, Pace]:
    """Reserve ``count`` slots for sends at ``rate`` a second; the slots and the new pace.

    Slots never start in the past: a number idle for a while does not catch up in a burst.
    """
    spacing = timedelta(seconds=1 / (rate * policy.headroom * current_factor(pace, now, policy)))
    first = max(pace.next_slot, now)
    return Reservation(first, spacing, count), replace(pace, next_slot=first + spacing * count)


def slow_down(pace: Pace, now: datetime, policy: PacingPolicy) -> Pace:
    """The pace after Meta said the number sends too fast: half the rate in force.

    Errors within ``slowdown_interval`` of the last slow-down answer requests that left
    before it took effect: they change nothing.
    """
    if pace.slowed_at is not None and now - pace.slowed_at < policy.slowdown_interval:
        return pace
    factor = max(policy.min_factor, current_factor(pace, now, policy) / 2)
    return Pace(next_slot=max(pace.next_slot, now), factor=factor, slowed_at=now)
