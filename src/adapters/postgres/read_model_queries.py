"""Reading the read models for the API, always within one business."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from adapters.postgres.orders import with_order_figures
from application.read_models import (
    HOUR,
    MAX_BIGINT,
    MAX_INT,
    SEARCH_WINDOW,
    Bucket,
    ConversationFilter,
    ConversationPage,
    ConversationView,
    ErrorPage,
    ErrorView,
    MessagePage,
    MessageView,
    MetricsComparison,
    MetricsFigures,
    OutboxItemView,
    OutboxPage,
    TimeRange,
    Timeseries,
    TimeseriesPoint,
    cursor_number,
    cursor_time,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
    has_trigram,
    previous_range,
)
from domain.conversation import CONVERSATION_STREAM_PREFIX
from domain.privacy import mask_phones_in
from domain.public_ids import conversation_public_id, is_public_id, message_public_id
from domain.timeline import FAILED, service_window_closes
from domain.whatsapp_errors import reported_failure_reason

# The list, filtered by status, searched, and paged in activity order (migration 0021,
# ADR 0034). Without a search the activity (or status) index gives the page. A search first
# walks the newest conversations in that index, which carries search_text (no table rows
# read), and stops at the page's end: common words fill the page there. When the walk's
# window ends first, a search with a trigram reads what the trigram index finds (a rare
# word, since the window held few); a search without one (too short for trigrams) ends its
# page where the window ended.
_CONVERSATIONS_SQL = """
select * from conversations
where business_id = $1{status} and $3::text is null{after}
order by last_activity_at desc, public_id desc
limit $6
"""
_FOUND_SQL = """
with found as materialized (
    select * from conversations
    where business_id = $1{status}{after}
      and search_text like conversation_search_pattern($3)
)
select * from found order by last_activity_at desc, public_id desc limit $6
"""
_STATUS = " and status = $2"
_AFTER = " and (last_activity_at, public_id) < ($4, $5)"
_WINDOW_SQL = """
select c.* from (
    select public_id, last_activity_at from (
        select public_id, last_activity_at, search_text from conversations
        where business_id = $1{status}{after}
        order by last_activity_at desc, public_id desc
        limit $7
    ) w
    where search_text like conversation_search_pattern($3)
    order by last_activity_at desc, public_id desc
    limit $6
) h
join conversations c on c.business_id = $1 and c.public_id = h.public_id
order by h.last_activity_at desc, h.public_id desc
"""
# The last conversation of a search's window: the next page continues after it.
_WINDOW_END_SQL = """
select last_activity_at, public_id from conversations
where business_id = $1{status}{after} and $3::text is not null
order by last_activity_at desc, public_id desc
offset $6 - 1 limit 1
"""
_SEPARATOR: Final = "\x1f"  # sets the fields of search_text apart; never in a match
_CONVERSATION_SQL = "select * from conversations where business_id = $1 and public_id = $2"
_MESSAGES_SQL = """
select m.*, q.public_id as reply_to_id from messages m
left join lateral (
    select public_id from messages
    where business_id = m.business_id and wamid = m.reply_to_wamid limit 1
) q on m.reply_to_wamid is not null
where m.business_id = $1 and m.conversation_id = $2
  and ($3::timestamptz is null or (m.sent_at, m.public_id) < ($3, $4))
order by m.sent_at desc, m.public_id desc
limit $5
"""
_OUTBOX_SQL = """
select o.*, o.payload->'message'->>'kind' as kind from outbox o
where o.business_id = $1 and o.status = any($2::text[])
  and ($3::timestamptz is null or (o.queued_at, o.message_id) < ($3, $4::uuid))
order by o.queued_at desc, o.message_id desc
limit $5
"""
_UNFINISHED_OR_FAILED: Final = ["queued", "in_flight", "retrying", "failed"]
# Parked events join the errors, numbered below zero so their keys never meet an error's.
_ERRORS_SQL = """
select * from (
    select occurred_at, event_id, ordinal::bigint as ordinal, kind, code, title, detail,
           conversation_id, wamid, resolved_at, message_id, error_details
    from errors where business_id = $1
    union all
    select parked_at, event_id, -id, 'projection_parked', null::integer,
           'The ' || subscriber || ' projection set this event aside', error,
           case when starts_with(stream_id, $6) then stream_id end, null::text,
           null::timestamptz, null::uuid, null::text
    from parked_events where business_id = $1
) e
where ($2::timestamptz is null or (occurred_at, event_id, ordinal) < ($2, $3::uuid, $4))
order by occurred_at desc, event_id desc, ordinal desc
limit $5
"""
_SUMS = """
    coalesce(sum(messages_received), 0)::bigint as messages_received,
    coalesce(sum(messages_sent), 0)::bigint as messages_sent,
    coalesce(sum(messages_delivered), 0)::bigint as messages_delivered,
    coalesce(sum(messages_read), 0)::bigint as messages_read,
    coalesce(sum(messages_failed), 0)::bigint as messages_failed,
    coalesce(sum(ai_responses), 0)::bigint as ai_responses,
    coalesce(sum(handoffs), 0)::bigint as handoffs,
    coalesce(sum(awaiting_response), 0)::bigint as awaiting_response,
    coalesce(sum(responded), 0)::bigint as responded,
    coalesce(sum(response_seconds), 0)::double precision as response_seconds,
    coalesce(sum(webhook_problems), 0)::bigint as webhook_problems,
    coalesce(sum(agent_responses), 0)::bigint as agent_responses,
    coalesce(sum(ai_first_responses), 0)::bigint as ai_first_responses,
    coalesce(sum(ai_first_response_seconds), 0)::double precision as ai_first_response_seconds,
    coalesce(sum(agent_first_responses), 0)::bigint as agent_first_responses,
    coalesce(sum(agent_first_response_seconds), 0)::double precision
        as agent_first_response_seconds
"""
_REPLY_P90 = """
    (select percentile_cont(0.9) within group (order by r.seconds) from metrics_replies r
     where r.business_id = $1 and r.asked_at >= $2 and r.asked_at < $3
       and r.replied_by = '{by}') as {by}_p90"""
_METRICS_SQL = f"""
select {_SUMS},
    (select percentile_cont(0.9) within group (order by r.seconds) from metrics_responses r
     where r.business_id = $1 and r.asked_at >= $2 and r.asked_at < $3) as p90,
    {_REPLY_P90.format(by="ai")}, {_REPLY_P90.format(by="agent")}
from metrics_hourly where business_id = $1 and hour >= $2 and hour < $3
"""
# Buckets are fixed lengths of time from the range's start (never calendar days, which
# depend on the session's time zone); the last one stops at the range's end.
_TIMESERIES_SQL = f"""
select b.start, {_SUMS}
from generate_series($2::timestamptz, $3::timestamptz - interval '1 microsecond',
                     make_interval(secs => $4)) as b(start)
left join metrics_hourly h
  on h.business_id = $1 and h.hour >= b.start
 and h.hour < least(b.start + make_interval(secs => $4), $3::timestamptz)
group by b.start
order by b.start
"""
_BUCKET_SECONDS: Final = {"hour": HOUR.total_seconds(), "day": 86_400.0}


def _list_parts(*, status: bool, after: bool) -> dict[str, str]:
    """The filters of a list query; a parameter left out is still typed, and null."""
    return {
        "status": _STATUS if status else " and $2::text is null",
        "after": _AFTER if after else " and $4::timestamptz is null and $5::text is null",
    }


class PostgresReadModelQueries:
    def __init__(self, pool: asyncpg.Pool[Any], clock: Callable[[], datetime] | None = None):
        self._pool = pool
        self._clock = clock or (lambda: datetime.now(UTC))

    async def conversations(
        self, business_id: str, filter_: ConversationFilter, limit: int, cursor: str | None
    ) -> ConversationPage:
        after_at, after_id = _time_and_text(cursor)
        search = filter_.search
        if search is not None and _SEPARATOR in search:
            return ConversationPage(items=[], next_cursor=None)
        parts = _list_parts(status=filter_.status is not None, after=after_at is not None)
        arguments = (business_id, filter_.status, search, after_at, after_id, limit + 1)
        window_end = None
        async with self._pool.acquire() as connection, connection.transaction():
            # Each statement is planned for its own search (a plan made once for any search
            # cannot tell a rare word from a common one).
            await connection.execute("set local plan_cache_mode = force_custom_plan")
            if search is None:
                rows = await connection.fetch(_CONVERSATIONS_SQL.format(**parts), *arguments)
            else:
                trigram = has_trigram(search)
                rows = await connection.fetch(
                    _WINDOW_SQL.format(**parts), *arguments, SEARCH_WINDOW
                )
                if len(rows) <= limit:  # the window ended before the page
                    window_end = await connection.fetchrow(
                        _WINDOW_END_SQL.format(**parts),
                        business_id, filter_.status, search, after_at, after_id, SEARCH_WINDOW,
                    )  # fmt: skip
                    if window_end is not None and trigram:
                        rows = await connection.fetch(_FOUND_SQL.format(**parts), *arguments)
                        window_end = None
        now = self._clock()
        items, more = _split(rows, limit)
        last = items[-1] if more else window_end
        return ConversationPage(
            items=[_conversation(r, now) for r in items],
            next_cursor=encode_cursor(last["last_activity_at"].isoformat(), last["public_id"])
            if last is not None
            else None,
        )

    async def conversation(self, business_id: str, conversation_id: str) -> ConversationView | None:
        rows = await self._conversation_rows(business_id, conversation_id)
        return _conversation(rows[0], self._clock()) if rows else None

    async def _conversation_rows(
        self, business_id: str, conversation_id: str
    ) -> list[asyncpg.Record]:
        if not is_public_id(conversation_id):
            return []  # no conversation has such an id (and text PostgreSQL refuses is one)
        return await self._fetch(_CONVERSATION_SQL, business_id, conversation_id)

    async def messages(
        self, business_id: str, conversation_id: str, limit: int, cursor: str | None
    ) -> MessagePage | None:
        after_at, after_wamid = _time_and_text(cursor)
        conversations = await self._conversation_rows(business_id, conversation_id)
        if not conversations:
            return None
        stream_id = conversations[0]["id"]
        rows = await self._fetch(
            _MESSAGES_SQL, business_id, stream_id, after_at, after_wamid, limit + 1
        )
        items, more = _split(rows, limit)
        return MessagePage(
            items=[_message(r) for r in items],
            next_cursor=encode_cursor(items[-1]["sent_at"].isoformat(), items[-1]["public_id"])
            if more
            else None,
        )

    async def errors(self, business_id: str, limit: int, cursor: str | None) -> ErrorPage:
        after_at = after_event = after_ordinal = None
        if cursor:
            at, event_id, ordinal = decode_cursor(cursor, (str, str, int))
            after_at = cursor_time(str(at))
            after_event = cursor_uuid(event_id)
            after_ordinal = cursor_number(ordinal, MAX_INT, lowest=-MAX_BIGINT)
        rows = await self._fetch(
            _ERRORS_SQL, business_id, after_at, after_event, after_ordinal, limit + 1,
            CONVERSATION_STREAM_PREFIX,
        )  # fmt: skip
        items, more = _split(rows, limit)
        last = items[-1] if more else None
        return ErrorPage(
            items=[_error(r, business_id) for r in items],
            next_cursor=encode_cursor(
                last["occurred_at"].isoformat(), str(last["event_id"]), last["ordinal"]
            )
            if last is not None
            else None,
        )

    async def outbox(
        self, business_id: str, statuses: tuple[str, ...] | None, limit: int, cursor: str | None
    ) -> OutboxPage:
        after_at, after_id = _time_and_text(cursor)
        if after_id is not None:
            after_id = cursor_uuid(after_id)
        wanted = list(statuses) if statuses is not None else _UNFINISHED_OR_FAILED
        rows = await self._fetch(_OUTBOX_SQL, business_id, wanted, after_at, after_id, limit + 1)
        items, more = _split(rows, limit)
        return OutboxPage(
            items=[_outbox_item(r) for r in items],
            next_cursor=encode_cursor(items[-1]["queued_at"].isoformat(),
                                      str(items[-1]["message_id"]))
            if more
            else None,
        )  # fmt: skip

    async def metrics(self, business_id: str, window: TimeRange) -> MetricsComparison:
        before = previous_range(window)
        current = await self._fetch(_METRICS_SQL, business_id, window.start, window.end)
        previous = await self._fetch(_METRICS_SQL, business_id, before.start, before.end)
        async with self._pool.acquire() as connection:
            current_figures = await with_order_figures(
                connection, business_id, window.start, window.end, _figures(current[0])
            )
            previous_figures = await with_order_figures(
                connection, business_id, before.start, before.end, _figures(previous[0])
            )
        return MetricsComparison(
            range=window,
            previous_range=before,
            current=current_figures,
            previous=previous_figures,
        )

    async def timeseries(self, business_id: str, window: TimeRange, bucket: Bucket) -> Timeseries:
        seconds = _BUCKET_SECONDS[bucket]
        rows = await self._fetch(_TIMESERIES_SQL, business_id, window.start, window.end, seconds)
        return Timeseries(range=window, bucket=bucket, points=[_point(r) for r in rows])

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._pool.acquire() as connection:
            return list(await connection.fetch(sql, *args))


def _split(rows: list[asyncpg.Record], limit: int) -> tuple[list[asyncpg.Record], bool]:
    """The page's rows, and whether more follow (one row beyond the page was fetched)."""
    return rows[:limit], len(rows) > limit


def _time_and_text(cursor: str | None) -> tuple[datetime | None, str | None]:
    if cursor is None:
        return None, None
    at, text = decode_cursor(cursor, (str, str))
    return cursor_time(str(at)), str(text)


def _conversation(row: asyncpg.Record, now: datetime) -> ConversationView:
    last_customer = row["last_customer_message_at"]
    closes = service_window_closes(last_customer) if last_customer is not None else None
    until = row["throttled_until"]
    throttled = bool(row["throttled"]) and (until is None or until > now)
    return ConversationView(
        id=row["public_id"], customer_id=row["customer_id"], customer_name=row["customer_name"],
        customer_phone=row["customer_phone"], customer_user_id=row["customer_user_id"],
        customer_parent_user_id=row["customer_parent_user_id"],
        customer_username=row["customer_username"], is_group=row["group_id"] is not None,
        group_id=row["group_id"],
        phone_number_id=row["phone_number_id"], status=row["status"],
        last_message_preview=row["last_message_preview"], last_message_at=row["last_message_at"],
        last_message_direction=row["last_message_direction"],
        last_activity_at=row["last_activity_at"], unread_count=row["unread_count"],
        service_window_open=closes is not None and closes > now,
        service_window_closes_at=closes, throttled=throttled,
        throttled_until=until if throttled else None, assignee=row["assignee"],
        escalated_at=row["escalated_at"], escalation_cause=row["escalation_cause"],
        escalation_reason=row["escalation_reason"], escalated_by=row["escalated_by"],
    )  # fmt: skip


def _message(row: asyncpg.Record) -> MessageView:
    quoted = row["reply_to_wamid"]
    reply_to = row["reply_to_id"] or (
        message_public_id(row["business_id"], quoted) if quoted is not None else None
    )
    return MessageView(
        id=row["public_id"], wamid=row["wamid"],
        direction=row["direction"], sender=row["sender"],
        type=row["type"], summary=row["summary"], sent_at=row["sent_at"], status=row["status"],
        status_at=row["status_at"], error_code=row["error_code"], error_title=row["error_title"],
        error_reason=_failure_reason(row), attempts=row["attempts"], reply_to=reply_to,
        error_details=row["error_details"],
    )  # fmt: skip


def _failure_reason(row: asyncpg.Record) -> str | None:
    """The stored reason; for a failure Meta reported by webhook, the one its code gives."""
    reason: str | None = row["error_reason"]
    if reason is None and row["status"] == FAILED and row["error_code"] is not None:
        reason = mask_phones_in(reported_failure_reason(row["error_code"], row["error_title"]))
    return reason


def _outbox_item(row: asyncpg.Record) -> OutboxItemView:
    return OutboxItemView(
        message_id=str(row["message_id"]),
        conversation_id=conversation_public_id(row["business_id"], row["conversation_stream"]),
        type=row["kind"] or "unknown", status=row["status"], attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], last_error=row["last_error"],
        dead_lettered=row["dead_lettered"], possibly_sent=row["possibly_sent"],
        wamid=row["wamid"], queued_at=row["queued_at"], updated_at=row["updated_at"],
        error_details=row["error_details"],
    )  # fmt: skip


def _error(row: asyncpg.Record, business_id: str) -> ErrorView:
    stream_id = row["conversation_id"]
    return ErrorView(
        kind=row["kind"], code=row["code"], title=row["title"], detail=row["detail"],
        conversation_id=(
            conversation_public_id(business_id, stream_id) if stream_id is not None else None
        ),
        wamid=row["wamid"],
        message_id=str(row["message_id"]) if row["message_id"] is not None else None,
        occurred_at=row["occurred_at"],
        resolved_at=row["resolved_at"],
        error_details=row["error_details"],
    )  # fmt: skip


def _ratio(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(row: asyncpg.Record) -> MetricsFigures:
    sent, responded = row["messages_sent"], row["responded"]
    p90 = row["p90"]
    return MetricsFigures(
        messages_received=row["messages_received"], messages_sent=sent,
        ai_responses=row["ai_responses"], human_handoffs=row["handoffs"],
        conversations_awaiting_response=row["awaiting_response"], responded=responded,
        response_rate=_ratio(responded, row["awaiting_response"]),
        first_response_seconds_avg=(
            round(row["response_seconds"] / responded, 1) if responded else None
        ),
        first_response_seconds_p90=round(p90, 1) if p90 is not None else None,
        delivery_rate=_ratio(row["messages_delivered"], sent),
        read_rate=_ratio(row["messages_read"], sent),
        error_rate=_ratio(row["messages_failed"], sent),
        failed_sends=row["messages_failed"], webhook_problems=row["webhook_problems"],
        agent_responses=row["agent_responses"],
        ai_first_responses=row["ai_first_responses"],
        ai_first_response_seconds_avg=_average(row, "ai_first_response"),
        ai_first_response_seconds_p90=_rounded(row["ai_p90"]),
        agent_first_responses=row["agent_first_responses"],
        agent_first_response_seconds_avg=_average(row, "agent_first_response"),
        agent_first_response_seconds_p90=_rounded(row["agent_p90"]),
    )  # fmt: skip


def _average(row: asyncpg.Record, figure: str) -> float | None:
    count = row[f"{figure}s"]
    return round(row[f"{figure}_seconds"] / count, 1) if count else None


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 1) if seconds is not None else None


def _point(row: asyncpg.Record) -> TimeseriesPoint:
    sent = row["messages_sent"]
    return TimeseriesPoint(
        start=row["start"], messages_received=row["messages_received"], messages_sent=sent,
        ai_responses=row["ai_responses"], human_handoffs=row["handoffs"],
        responded=row["responded"], failed_sends=row["messages_failed"],
        delivery_rate=_ratio(row["messages_delivered"], sent),
        read_rate=_ratio(row["messages_read"], sent), agent_responses=row["agent_responses"],
    )  # fmt: skip
