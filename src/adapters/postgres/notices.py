"""Pending team notices in PostgreSQL: queued in a subscriber's transaction, claimed by
delivery workers of any process with FOR UPDATE SKIP LOCKED and a lease."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from adapters.postgres.connection import PgConnection
from application.notices import Incident, IncidentChanges, KeyedNotice, Notice
from application.ports import NoticeDelivery

_ENQUEUE_SQL: Final = """
insert into team_notices (dedup_key, channel, notice, business_id, event)
select n.dedup_key, c.channel, n.notice, n.business_id, n.event
from unnest($1::text[], $2::jsonb[], $3::text[], $4::text[]) as n(dedup_key, notice, business_id,
                                                                 event)
cross join unnest($5::text[]) as c(channel)
on conflict on constraint team_notices_cause_key do nothing
"""

# The claim moves the next attempt past the lease: a worker that dies mid-send leaves the
# row due again once the lease is over, so a notice is never lost (at least once).
_CLAIM_SQL: Final = """
with due as (
    select id from team_notices
    where delivered_at is null and next_attempt_at <= now() and channel = any($1::text[])
    order by next_attempt_at, id
    limit $2
    for update skip locked
)
update team_notices t
set attempts = t.attempts + 1, next_attempt_at = now() + make_interval(secs => $3)
from due where t.id = due.id
returning t.id, t.channel, t.notice, t.attempts
"""

_OPEN_INCIDENTS_SQL: Final = """
select business_id, cause, opened_at from notice_incidents where business_id = any($1::text[])
"""
_END_INCIDENTS_SQL: Final = "delete from notice_incidents where business_id = any($1::text[])"
_OPEN_INCIDENT_SQL: Final = """
insert into notice_incidents (business_id, cause, opened_at)
select * from unnest($1::text[], $2::text[], $3::timestamptz[])
on conflict (business_id, cause) do update set opened_at = excluded.opened_at
"""

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Notice)


class PostgresNoticeQueue:
    """Queues each notice once per channel; the channels are those configured at start."""

    def __init__(self, channels: Sequence[str]) -> None:
        self._channels = list(channels)

    async def enqueue(self, tx: PgConnection, notices: Sequence[KeyedNotice]) -> int:
        rows = list({n.key: n for n in notices}.values())  # one per cause within the batch
        status = await tx.execute(
            _ENQUEUE_SQL,
            [n.key for n in rows],
            [_ENCODER.encode(n.notice) for n in rows],
            [n.notice.business_id for n in rows],
            [n.notice.event for n in rows],
            self._channels,
        )
        return int(status.split()[-1])

    async def open_incidents(
        self, tx: PgConnection, business_ids: Collection[str]
    ) -> dict[Incident, datetime]:
        rows = await tx.fetch(_OPEN_INCIDENTS_SQL, list(business_ids))
        return {Incident(r["business_id"], r["cause"]): r["opened_at"] for r in rows}

    async def save_incidents(self, tx: PgConnection, changes: IncidentChanges) -> None:
        if changes.ended:
            await tx.execute(_END_INCIDENTS_SQL, list(changes.ended))
        if changes.opened:
            opened = list(changes.opened.items())
            await tx.execute(_OPEN_INCIDENT_SQL, [i.business_id for i, _ in opened],
                             [i.cause for i, _ in opened], [at for _, at in opened])  # fmt: skip


class PostgresNoticeDeliveries:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def claim_due(
        self, channels: Sequence[str], limit: int, lease_seconds: float
    ) -> list[NoticeDelivery]:
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_CLAIM_SQL, list(channels), limit, lease_seconds)
        return [
            NoticeDelivery(r["id"], r["channel"], _DECODER.decode(r["notice"]), r["attempts"])
            for r in rows
        ]

    async def delivered(self, delivery_id: int) -> None:
        async with self._pool.acquire() as connection:
            await connection.execute(
                "update team_notices set delivered_at = now(), last_error = null where id = $1",
                delivery_id,
            )

    async def retry_at(self, delivery_id: int, error: str, when: datetime) -> None:
        async with self._pool.acquire() as connection:
            await connection.execute(
                "update team_notices set next_attempt_at = $2, last_error = $3 where id = $1",
                delivery_id, when, error[:1000],
            )  # fmt: skip
