"""Each phone number's pace in PostgreSQL, shared by the senders of every process.

A reservation locks the number's ``send_pacing`` row, moves its next slot forward by the
slots taken and commits: two senders can never hold the same slot, whatever process they
run in. Times are the database's, so the processes need no common clock; a sender gets
each slot back as a delay from now: the database's time is read once the row is locked,
and what the commit and the way back took since is taken off every delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, NamedTuple

import asyncpg

from domain.send_pacing import (
    DEFAULT_SEND_RATE,
    Pace,
    PacingPolicy,
    reserve,
    slow_down,
)

# Creates the number's row on its first send and locks it until the transaction ends.
_LOCK_SQL: Final = """
insert into send_pacing as p (phone_number_id) values ($1)
on conflict (phone_number_id) do update set phone_number_id = p.phone_number_id
returning p.next_slot, p.rate_factor, p.slowed_at, clock_timestamp() as now,
          statement_timestamp() as asked_at,
          (select b.send_rate from businesses b where b.id = $2) as send_rate
"""
_UPDATE_SQL: Final = """
update send_pacing set next_slot = $2, rate_factor = $3, slowed_at = $4
where phone_number_id = $1
"""


class _Locked(NamedTuple):
    pace: Pace
    now: datetime  # the database's time once the row was locked
    rate: int | None  # the business's own send rate, if it has one
    lock_wait: float  # seconds from the statement's arrival to ``now``


class PostgresSendPacing:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        default_rate: int = DEFAULT_SEND_RATE,
        policy: PacingPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._default_rate = default_rate
        self._policy = policy or PacingPolicy()
        self._monotonic = monotonic

    async def reserve(self, phone_number_id: str, business_id: str, count: int) -> list[float]:
        """Reserve ``count`` slots of the number; the seconds from now to each of them."""
        async with self._pool.acquire() as connection, connection.transaction():
            asked = self._monotonic()
            locked = await self._locked(connection, phone_number_id, business_id)
            reservation, after = reserve(locked.pace, count, locked.rate or self._default_rate,
                                         locked.now, self._policy)  # fmt: skip
            await self._store(connection, phone_number_id, after)
        # The commit (an fsync) and the answer's way back took a varying time since the
        # database read ``now``: counted from the answer, each reservation's slots would be
        # late by that much, and a late reservation's last slots would bunch with the next
        # one's first.
        since_now = max(0.0, self._monotonic() - asked - locked.lock_wait)
        return [(slot - locked.now).total_seconds() - since_now for slot in reservation.slots()]

    async def slow_down(self, phone_number_id: str) -> float:
        """Meta said the number sends too fast: slow it down; the share of its rate left."""
        async with self._pool.acquire() as connection, connection.transaction():
            locked = await self._locked(connection, phone_number_id, "")
            slower = slow_down(locked.pace, locked.now, self._policy)
            await self._store(connection, phone_number_id, slower)
        return slower.factor

    async def _locked(self, connection: Any, phone_number_id: str, business_id: str) -> _Locked:
        row = await connection.fetchrow(_LOCK_SQL, phone_number_id, business_id)
        pace = Pace(next_slot=row["next_slot"], factor=row["rate_factor"],
                    slowed_at=row["slowed_at"])  # fmt: skip
        lock_wait = (row["now"] - row["asked_at"]).total_seconds()
        return _Locked(pace, row["now"], row["send_rate"], lock_wait)

    async def _store(self, connection: Any, phone_number_id: str, pace: Pace) -> None:
        await connection.execute(_UPDATE_SQL, phone_number_id, pace.next_slot, pace.factor,
                                 pace.slowed_at)  # fmt: skip
