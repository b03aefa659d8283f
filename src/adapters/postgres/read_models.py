"""The projections' tables on PostgreSQL, each batch written set-wise in the runner's transaction.

Every projection writes only its own tables, and only in the schema it was built
for: ``public`` for the live read models, a scratch schema while a rebuild replays
the log (the rebuild then moves the finished tables into ``public``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from adapters.postgres.catalog import product_cells
from adapters.postgres.connection import PgConnection
from adapters.postgres.templates import stored_template, template_cells
from application.catalog_projection import product_changes
from application.event_log import RecordedEvent
from application.media import ReceivedMediaRow, received_media_rows
from application.order_projection import order_changes
from application.projections import (
    ConversationKey,
    ErrorRow,
    MessageKey,
    MetricsChanges,
    OutboundAcceptedStep,
    OutboundFailedStep,
    OutboundProgress,
    OutboundRetryStep,
    OutboundStep,
    SettledStatus,
    StoredMessage,
    TimelineMessage,
    TimelineUpdate,
    acceptances,
    conversation_changes,
    error_resolutions,
    error_rows,
    finally_failed_messages,
    handoff_changes,
    metrics_changes,
    metrics_keys,
    outbound_error_rows,
    outbound_steps,
    reply_keys,
    reported_failures,
    timeline_changes,
    timeline_write,
)
from application.template_projection import TemplateKey, template_changes, template_keys
from domain.outbox import queued_event_id
from domain.public_ids import conversation_public_id

LIVE_SCHEMA: Final = "public"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresProjection:
    """A subscriber that keeps some read-model tables; SQL templates name them as {s}.table."""

    kind: ClassVar[str]  # the projection's name, as `wazybot projections` shows it
    tables: ClassVar[tuple[str, ...]]
    _templates: ClassVar[dict[str, str]]

    def __init__(self, schema: str = LIVE_SCHEMA) -> None:
        self.schema = schema
        # A rebuild replays into fresh scratch tables only it writes, once per event.
        self.replaying = schema != LIVE_SCHEMA
        # The subscriber (and its checkpoint) is the projection in one schema.
        self.name = self.kind if schema == LIVE_SCHEMA else f"{self.kind}@{schema}"
        quoted = quote_identifier(schema)
        self._sql = {key: sql.format(s=quoted) for key, sql in self._templates.items()}

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        raise NotImplementedError


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column, the shape ``unnest`` takes."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


class ConversationsProjection(PostgresProjection):
    kind = "conversations"
    tables = ("conversations",)
    _templates: ClassVar[dict[str, str]] = {
        "upsert": """
            insert into {s}.conversations as c (
                id, business_id, phone_number_id, customer_id, customer_name,
                last_message_preview, last_message_at, last_message_direction,
                last_customer_message_at, last_activity_at, unread_count,
                customer_phone, customer_user_id, customer_parent_user_id, customer_username,
                group_id, customer_identifiers, public_id)
            select u.id, u.business_id, u.phone_number_id, u.customer_id, u.customer_name,
                u.preview, u.message_at, u.direction, u.customer_message_at, u.activity_at,
                u.unread, u.phone, u.user_id, u.parent_user_id, u.username, u.group_id,
                array(select jsonb_array_elements_text(u.identifiers::jsonb)), u.public_id
            from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                        $6::text[], $7::timestamptz[], $8::text[],
                        $9::timestamptz[], $10::timestamptz[], $11::int[],
                        $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                        $17::text[], $18::text[])
                 as u(id, business_id, phone_number_id, customer_id, customer_name, preview,
                      message_at, direction, customer_message_at, activity_at, unread, phone,
                      user_id, parent_user_id, username, group_id, identifiers, public_id)
            on conflict (business_id, id) do update set
                customer_phone = coalesce(excluded.customer_phone, c.customer_phone),
                customer_user_id = coalesce(excluded.customer_user_id, c.customer_user_id),
                customer_parent_user_id =
                    coalesce(excluded.customer_parent_user_id, c.customer_parent_user_id),
                customer_username = coalesce(excluded.customer_username, c.customer_username),
                group_id = coalesce(excluded.group_id, c.group_id),
                customer_identifiers = array(
                    select distinct i
                    from unnest(c.customer_identifiers || excluded.customer_identifiers) as i
                    order by i),
                customer_name = case when c.last_customer_message_at is null
                    or excluded.last_customer_message_at >= c.last_customer_message_at
                    then coalesce(excluded.customer_name, c.customer_name)
                    else c.customer_name end,
                last_message_preview = case when c.last_message_at is null
                    or excluded.last_message_at >= c.last_message_at
                    then coalesce(excluded.last_message_preview, c.last_message_preview)
                    else c.last_message_preview end,
                last_message_direction = case when c.last_message_at is null
                    or excluded.last_message_at >= c.last_message_at
                    then coalesce(excluded.last_message_direction, c.last_message_direction)
                    else c.last_message_direction end,
                last_message_at = greatest(c.last_message_at, excluded.last_message_at),
                last_customer_message_at =
                    greatest(c.last_customer_message_at, excluded.last_customer_message_at),
                last_activity_at = greatest(c.last_activity_at, excluded.last_activity_at),
                unread_count = c.unread_count + excluded.unread_count
        """,
        # A throttled message without a new end keeps the stored one (batches split anywhere).
        "throttle": """
            update {s}.conversations c set throttled = u.throttled,
                throttled_until = case when u.throttled
                                       then coalesce(u.until, c.throttled_until) end
            from unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[])
                 as u(business_id, id, throttled, until)
            where c.business_id = u.business_id and c.id = u.id
        """,
        # After the upsert: a marked read sets the count to what arrived after it.
        "handoff": """
            update {s}.conversations c set
                status = case when u.known then u.status else c.status end,
                assignee = case when u.known then u.assignee else c.assignee end,
                escalated_at = case when u.known then u.escalated_at else c.escalated_at end,
                escalation_cause =
                    case when u.known then u.cause else c.escalation_cause end,
                escalation_reason =
                    case when u.known then u.reason else c.escalation_reason end,
                escalated_by = case when u.known then u.by else c.escalated_by end,
                unread_count = case when u.read then u.unread else c.unread_count end
            from unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],
                        $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::boolean[],
                        $11::int[])
                 as u(business_id, id, known, status, assignee, escalated_at, cause, reason,
                      by, read, unread)
            where c.business_id = u.business_id and c.id = u.id
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        await self._upsert(tx, events)
        handoffs = [
            (h.business_id, h.id, h.handoff_known, h.status, h.assignee, h.escalated_at,
             h.escalation_cause, h.escalation_reason, h.escalated_by, h.read,
             h.unread_after_read)
            for h in handoff_changes(events)
        ]  # fmt: skip
        if handoffs:
            await tx.execute(self._sql["handoff"], *_columns(handoffs, 11))

    async def _upsert(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        changes = conversation_changes(events)
        if not changes:
            return
        rows = [
            (
                c.id,
                c.business_id,
                c.phone_number_id,
                c.customer_id,
                c.customer_name,
                c.last_message_preview,
                c.last_message_at,
                c.last_message_direction,
                c.last_customer_message_at,
                c.last_activity_at,
                c.unread_increment,
                c.customer_phone,
                c.customer_user_id,
                c.customer_parent_user_id,
                c.customer_username,
                c.group_id,
                json.dumps(sorted(c.identifiers)),  # one list per row: JSON, then an array
                conversation_public_id(c.business_id, c.id),
            )
            for c in changes
        ]
        await tx.execute(self._sql["upsert"], *_columns(rows, 18))
        throttles = [(c.business_id, c.id, c.throttled, c.throttled_until)
                     for c in changes if c.throttle_known]  # fmt: skip
        if throttles:
            await tx.execute(self._sql["throttle"], *_columns(throttles, 4))


# A timeline row known only from the statuses of a message the business sent.
_PLACEHOLDER: Final = "excluded.type = 'unknown' and excluded.direction = 'outbound'"
_MESSAGE_COLUMNS: Final = TimelineMessage._fields
_MESSAGE_TYPES: Final = (
    "text", "text", "text", "text", "text", "text", "text", "timestamptz", "text",
    "timestamptz", "int", "text", "text", "text", "text", "int", "text",
)  # fmt: skip
_UNNEST_MESSAGES: Final = ", ".join(f"${n}::{t}[]" for n, t in enumerate(_MESSAGE_TYPES, 1))


class MessagesProjection(PostgresProjection):
    kind = "messages"
    tables = ("messages",)
    _templates: ClassVar[dict[str, str]] = {
        # One index probe per key: as a plain join the planner may hash the whole table.
        "stored": """
            select k.business_id, k.wamid, m.status, m.sent_at, m.type = 'unknown' as placeholder
            from unnest($1::text[], $2::text[]) as k(business_id, wamid)
            cross join lateral (
                select status, sent_at, type from {s}.messages
                where business_id = k.business_id and wamid = k.wamid limit 1
            ) as m
        """,
        # A row already there (a replayed event, a parked one replayed late) is updated: the
        # message's own facts win over a placeholder's, a status already stored stays.
        "insert": f"""
            insert into {{s}}.messages as m ({", ".join(_MESSAGE_COLUMNS)})
            select * from unnest({_UNNEST_MESSAGES})
            on conflict (business_id, wamid) do update set
                conversation_id = excluded.conversation_id,
                {
            ", ".join(
                f"{c} = case when {_PLACEHOLDER} then m.{c} else excluded.{c} end"
                for c in ("direction", "sender", "type", "summary", "reply_to_wamid")
            )
        },
                sent_at = case when {_PLACEHOLDER} then least(m.sent_at, excluded.sent_at)
                               else excluded.sent_at end,
                {
            ", ".join(
                f"{c} = coalesce(m.{c}, excluded.{c})"
                for c in ("status", "status_at", "error_code", "error_title", "error_details")
            )
        }
        """,
        # A message we queued: its row exists once, whatever replays.
        "queued": f"""
            insert into {{s}}.messages ({", ".join(_MESSAGE_COLUMNS)})
            select * from unnest({_UNNEST_MESSAGES})
            on conflict (business_id, public_id) do nothing
        """,
        "ours": """
            select business_id, status, status_at, error_code, error_title, error_details
            from {s}.messages where public_id = $1 limit 1
        """,
        # The row the message's statuses made before its acceptance was recorded.
        "fold_placeholder": """
            delete from {s}.messages
            where business_id = $1 and wamid = $2 and public_id <> $3 and type = 'unknown'
              and direction = 'outbound'
            returning status, status_at, error_code, error_title, error_details
        """,
        "accepted": """
            update {s}.messages set wamid = $3, status = $4, status_at = $5, error_code = $6,
                error_title = $7, error_details = $8, error_reason = null,
                attempts = greatest(attempts, $9)
            where business_id = $1 and public_id = $2
        """,
        # Only a message still waiting for Meta: an outcome never overrides Meta's statuses.
        "failed": """
            update {s}.messages set
                status = case when $6 then 'failed' else status end,
                status_at = case when $6 then $7 else status_at end,
                error_code = $3, error_title = $4, error_reason = $5, attempts = $2,
                error_details = $8
            where public_id = $1 and status = 'queued' and coalesce(attempts, 0) <= $2
              and wamid is null
        """,
        # A message Meta failed after accepting it leaves its wamid: the new sending gets its
        # own, and a late status of the old one never moves this row.
        "retry": """
            update {s}.messages set status = 'queued', status_at = $2, error_code = null,
                error_title = null, error_reason = null, error_details = null, wamid = null
            where public_id = $1 and status = 'failed'
        """,
        "update": """
            update {s}.messages m set sent_at = u.sent_at,
                status = coalesce(u.status, m.status),
                status_at = coalesce(u.at, m.status_at),
                error_code = coalesce(u.code, m.error_code),
                error_title = coalesce(u.title, m.error_title),
                error_details = coalesce(u.details, m.error_details)
            from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[],
                        $6::int[], $7::text[], $8::text[])
                 as u(business_id, wamid, sent_at, status, at, code, title, details)
            where m.business_id = u.business_id and m.wamid = u.wamid
        """,
        "describe": """
            update {s}.messages m set direction = u.direction, sender = u.sender,
                type = u.type, summary = u.summary, sent_at = u.sent_at
            from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                        $6::text[], $7::timestamptz[])
                 as u(business_id, wamid, direction, sender, type, summary, sent_at)
            where m.business_id = u.business_id and m.wamid = u.wamid
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        changes = timeline_changes(events)
        keys = changes.status_keys()
        stored: dict[MessageKey, StoredMessage] = {}
        if keys:
            rows = await tx.fetch(
                self._sql["stored"], [k.business_id for k in keys], [k.wamid for k in keys]
            )
            stored = {
                MessageKey(r["business_id"], r["wamid"]): StoredMessage(
                    r["status"], r["sent_at"], r["placeholder"]
                )
                for r in rows
            }
        write = timeline_write(changes, stored)
        if write.inserts and self.replaying:
            # Fresh tables that only the rebuild writes: COPY is the cheapest insert.
            await tx.copy_records_to_table(
                "messages", schema_name=self.schema, columns=_MESSAGE_COLUMNS,
                records=write.inserts,
            )  # fmt: skip
        elif write.inserts:
            # One row per key: an upsert may not touch a row twice (the message's own row first).
            rows = list({(r.business_id, r.wamid): r for r in reversed(write.inserts)}.values())
            await tx.execute(self._sql["insert"], *_columns(rows, len(_MESSAGE_COLUMNS)))
        if write.updates:
            rows = [_update_row(u) for u in write.updates]
            await tx.execute(self._sql["update"], *_columns(rows, 8))
        if write.described:  # after the updates: the echo's send time wins
            rows = [(m.business_id, m.wamid, m.direction, m.sender, m.type, m.summary, m.sent_at)
                    for m in write.described]  # fmt: skip
            await tx.execute(self._sql["describe"], *_columns(rows, 7))
        for step in outbound_steps(events):  # after the rest: statuses may have come first
            await self._apply_outbound(tx, step)

    async def _apply_outbound(self, tx: PgConnection, step: OutboundStep) -> None:
        match step:
            case TimelineMessage():
                await tx.execute(self._sql["queued"], *_columns([step], len(_MESSAGE_COLUMNS)))
            case OutboundAcceptedStep():
                await self._accepted(tx, step)
            case OutboundFailedStep():
                await tx.execute(self._sql["failed"], step.message_id, step.attempt, step.code,
                                 step.title, step.reason, step.final, step.at,
                                 step.details)  # fmt: skip
            case OutboundRetryStep():
                await tx.execute(self._sql["retry"], step.message_id, step.at)

    async def _accepted(self, tx: PgConnection, step: OutboundAcceptedStep) -> None:
        ours = await tx.fetchrow(self._sql["ours"], step.message_id)
        if ours is None:
            return
        business_id = ours["business_id"]
        folded = await tx.fetchrow(
            self._sql["fold_placeholder"], business_id, step.wamid, step.message_id
        )
        if folded is not None:
            status = (folded["status"], folded["status_at"], folded["error_code"],
                      folded["error_title"], folded["error_details"])  # fmt: skip
        elif ours["status"] in (None, "queued", "failed"):
            status = ("accepted", step.at, None, None, None)
        else:  # a replayed acceptance: Meta's statuses already moved it on
            status = (ours["status"], ours["status_at"], ours["error_code"], ours["error_title"],
                      ours["error_details"])  # fmt: skip
        await tx.execute(self._sql["accepted"], business_id, step.message_id, step.wamid,
                         *status, step.attempt)  # fmt: skip


def _update_row(update: TimelineUpdate) -> tuple[Any, ...]:
    key = update.key
    return (key.business_id, key.wamid, update.sent_at, *_status_cells(update.status))


def _status_cells(status: SettledStatus | None) -> tuple[Any, ...]:
    if status is None:
        return (None, None, None, None, None)
    return (status.status, status.at, status.error_code, status.error_title, status.error_details)


class ErrorsProjection(PostgresProjection):
    kind = "errors"
    tables = ("errors",)
    _templates: ClassVar[dict[str, str]] = {
        "insert": """
            insert into {s}.errors (event_id, ordinal, business_id, kind, code, title, detail,
                                    conversation_id, wamid, occurred_at, message_id,
                                    error_details)
            select * from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[],
                                 $6::text[], $7::text[], $8::text[], $9::text[],
                                 $10::timestamptz[], $11::uuid[], $12::text[])
            on conflict (event_id, ordinal) do nothing  -- the same event gives the same row
        """,
        "businesses": """
            select data->>'message_id' as message_id, data->>'business_id' as business_id
            from events where event_id = any($1::uuid[])
        """,
        # The message we queued that Meta accepted as these wamids (in their conversations).
        "accepted_as": """
            select data->>'wamid' as wamid, data->>'message_id' as message_id from events
            where stream_id = any($1::text[]) and type = 'outbound.accepted'
              and data->>'wamid' = any($2::text[])
        """,
        # A failure of a wamid recorded before its acceptance learns the message it failed.
        "name_message": """
            update {s}.errors e set message_id = u.message_id
            from unnest($1::uuid[], $2::text[]) as u(message_id, wamid)
            where e.wamid = u.wamid and e.kind = 'send_failed' and e.message_id is null
        """,
        # A message accepted after all: its failures of earlier attempts (or sendings) are over.
        "resolve_message": """
            update {s}.errors e set resolved_at = u.at
            from unnest($1::uuid[], $2::text[], $3::timestamptz[]) as u(message_id, wamid, at)
            where e.message_id = u.message_id and e.resolved_at is null
              and e.kind in ('send_failed', 'dead_letter') and e.wamid is distinct from u.wamid
              and e.occurred_at <= u.at
        """,
        "resolve": """
            update {s}.errors e set resolved_at = u.at
            from unnest($1::uuid[], $2::timestamptz[]) as u(event_id, at)
            where e.event_id = u.event_id and e.resolved_at is null
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        rows = error_rows(events, await self._messages_of(tx, reported_failures(events)))
        failed = finally_failed_messages(events)
        if failed:  # their business is in the event that queued them
            found = await tx.fetch(
                self._sql["businesses"], [queued_event_id(message_id) for message_id in failed]
            )
            business_of = {r["message_id"]: r["business_id"] for r in found}
            rows += outbound_error_rows(events, business_of)
        if rows:  # ErrorRow holds the table's columns in order
            await tx.execute(self._sql["insert"], *_columns(rows, len(ErrorRow._fields)))
        resolved = error_resolutions(events)
        if resolved:  # after the inserts: a change and its recovery may share a batch
            await tx.execute(self._sql["resolve"], *_columns(resolved, 2))
        accepted = [(uuid.UUID(a.message_id), a.wamid, a.at) for a in acceptances(events)]
        if accepted:  # after the inserts too: a failure and a later acceptance may share a batch
            await tx.execute(self._sql["name_message"], *_columns(accepted, 3)[:2])
            await tx.execute(self._sql["resolve_message"], *_columns(accepted, 3))

    async def _messages_of(
        self, tx: PgConnection, failures: list[tuple[str, str]]
    ) -> dict[str, str]:
        if not failures:
            return {}
        found = await tx.fetch(self._sql["accepted_as"], *_columns(failures, 2))
        return {r["wamid"]: r["message_id"] for r in found}


_HOUR_COLUMNS: Final = (
    "messages_received",
    "messages_sent",
    "messages_delivered",
    "messages_read",
    "messages_failed",
    "awaiting_response",
    "responded",
    "response_seconds",
    "webhook_problems",
    "ai_responses",
    "handoffs",
    "agent_responses",
    "ai_first_responses",
    "ai_first_response_seconds",
    "agent_first_responses",
    "agent_first_response_seconds",
)
_HOUR_TYPES: Final = tuple(
    "double precision" if column.endswith("seconds") else "int" for column in _HOUR_COLUMNS
)
_UNNEST_HOURS: Final = ", ".join(
    f"${n}::{t}[]" for n, t in enumerate(("text", "timestamptz", *_HOUR_TYPES), 1)
)


class MetricsProjection(PostgresProjection):
    kind = "metrics"
    # In the order a batch first touches them, which a rebuild's swap locks them in.
    tables = ("metrics_outbound", "metrics_waiting", "metrics_reply_waiting", "metrics_hourly",
              "metrics_responses", "metrics_replies")  # fmt: skip
    _templates: ClassVar[dict[str, str]] = {
        "outbound": """
            select k.business_id, k.wamid, o.sent_at, o.delivered, o.read, o.failed
            from unnest($1::text[], $2::text[]) as k(business_id, wamid)
            cross join lateral (
                select sent_at, delivered, read, failed from {s}.metrics_outbound
                where business_id = k.business_id and wamid = k.wamid limit 1
            ) as o
        """,
        "waiting": """
            select k.business_id, k.conversation_id, w.since
            from unnest($1::text[], $2::text[]) as k(business_id, conversation_id)
            cross join lateral (
                select since from {s}.metrics_waiting
                where business_id = k.business_id and conversation_id = k.conversation_id
            ) as w
        """,
        "hours": f"""
            insert into {{s}}.metrics_hourly as h (business_id, hour, {", ".join(_HOUR_COLUMNS)})
            select * from unnest({_UNNEST_HOURS})
            on conflict (business_id, hour) do update set
            {", ".join(f"{c} = h.{c} + excluded.{c}" for c in _HOUR_COLUMNS)}
        """,
        "insert_outbound": """
            insert into {s}.metrics_outbound as o (business_id, wamid, sent_at, delivered, read,
                                                   failed)
            select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[],
                                 $5::boolean[], $6::boolean[])
            on conflict (business_id, wamid) do update set
                sent_at = least(o.sent_at, excluded.sent_at),
                delivered = o.delivered or excluded.delivered,
                read = o.read or excluded.read,
                failed = o.failed or excluded.failed
        """,
        "update_outbound": """
            update {s}.metrics_outbound o
            set delivered = u.delivered, read = u.read, failed = u.failed
            from unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[], $5::boolean[])
                 as u(business_id, wamid, delivered, read, failed)
            where o.business_id = u.business_id and o.wamid = u.wamid
        """,
        "answered": """
            delete from {s}.metrics_waiting w
            using unnest($1::text[], $2::text[]) as k(business_id, conversation_id)
            where w.business_id = k.business_id and w.conversation_id = k.conversation_id
        """,
        "wait": """
            insert into {s}.metrics_waiting (business_id, conversation_id, since)
            select * from unnest($1::text[], $2::text[], $3::timestamptz[])
            on conflict (business_id, conversation_id) do update set since = excluded.since
        """,
        "responses": """
            insert into {s}.metrics_responses (event_id, business_id, conversation_id, asked_at,
                                               seconds)
            select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                 $5::double precision[])
            on conflict (event_id) do nothing  -- the same answering event gives the same row
        """,
        "reply_waiting": """
            select k.business_id, k.conversation_id, w.since
            from unnest($1::text[], $2::text[]) as k(business_id, conversation_id)
            cross join lateral (
                select since from {s}.metrics_reply_waiting
                where business_id = k.business_id and conversation_id = k.conversation_id
            ) as w
        """,
        "replied": """
            delete from {s}.metrics_reply_waiting w
            using unnest($1::text[], $2::text[]) as k(business_id, conversation_id)
            where w.business_id = k.business_id and w.conversation_id = k.conversation_id
        """,
        "reply_wait": """
            insert into {s}.metrics_reply_waiting (business_id, conversation_id, since)
            select * from unnest($1::text[], $2::text[], $3::timestamptz[])
            on conflict (business_id, conversation_id) do update set since = excluded.since
        """,
        "replies": """
            insert into {s}.metrics_replies (event_id, business_id, conversation_id, asked_at,
                                             replied_by, seconds)
            select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                 $5::text[], $6::double precision[])
            on conflict (event_id) do nothing  -- the same replying event gives the same row
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        wamids, conversations = metrics_keys(events)
        outbound = await self._outbound(tx, wamids)
        waiting = await self._waiting(tx, conversations)
        reply_waiting = await self._waiting(tx, reply_keys(events), "reply_waiting")
        changes = metrics_changes(events, outbound, waiting, reply_waiting)
        await self._save(tx, changes)
        await self._save_replies(tx, changes)

    async def _outbound(
        self, tx: PgConnection, keys: set[MessageKey]
    ) -> dict[MessageKey, OutboundProgress]:
        if not keys:
            return {}
        rows = await tx.fetch(
            self._sql["outbound"], [k.business_id for k in keys], [k.wamid for k in keys]
        )
        return {
            MessageKey(r["business_id"], r["wamid"]): OutboundProgress(
                r["sent_at"], r["delivered"], r["read"], r["failed"], stored=True
            )
            for r in rows
        }

    async def _waiting(
        self, tx: PgConnection, conversations: set[ConversationKey], table: str = "waiting"
    ) -> dict[ConversationKey, datetime]:
        if not conversations:
            return {}
        keys = list(conversations)
        rows = await tx.fetch(
            self._sql[table], [k.business_id for k in keys], [k.conversation_id for k in keys]
        )
        return {ConversationKey(r["business_id"], r["conversation_id"]): r["since"] for r in rows}

    async def _save_outbound(self, tx: PgConnection, changes: MetricsChanges) -> None:
        new = [(k.business_id, k.wamid, p.sent_at, p.delivered, p.read, p.failed)
               for k, p in changes.outbound.items() if not p.stored]  # fmt: skip
        if new and self.replaying:  # fresh tables only the rebuild writes: COPY is cheapest
            await tx.copy_records_to_table(
                "metrics_outbound", schema_name=self.schema, records=new,
                columns=("business_id", "wamid", "sent_at", "delivered", "read", "failed"),
            )  # fmt: skip
        elif new:
            await tx.execute(self._sql["insert_outbound"], *_columns(new, 6))
        changed = [(k.business_id, k.wamid, p.delivered, p.read, p.failed)
                   for k, p in changes.outbound.items() if p.stored]  # fmt: skip
        if changed:
            await tx.execute(self._sql["update_outbound"], *_columns(changed, 5))

    async def _save(self, tx: PgConnection, changes: MetricsChanges) -> None:
        if changes.hours:
            rows = [
                (business_id, hour, *(getattr(counts, c) for c in _HOUR_COLUMNS))
                for (business_id, hour), counts in changes.hours.items()
            ]
            await tx.execute(self._sql["hours"], *_columns(rows, 2 + len(_HOUR_COLUMNS)))
        await self._save_outbound(tx, changes)
        answered = [key for key, since in changes.waiting.items() if since is None]
        if answered:
            await tx.execute(self._sql["answered"], *_columns(answered, 2))
        waits = [(*key, since) for key, since in changes.waiting.items() if since is not None]
        if waits:
            await tx.execute(self._sql["wait"], *_columns(waits, 3))
        if changes.responses:
            await tx.execute(self._sql["responses"], *_columns(changes.responses, 5))

    async def _save_replies(self, tx: PgConnection, changes: MetricsChanges) -> None:
        replied = [key for key, since in changes.reply_waiting.items() if since is None]
        if replied:
            await tx.execute(self._sql["replied"], *_columns(replied, 2))
        waits = [(*key, since) for key, since in changes.reply_waiting.items() if since is not None]
        if waits:
            await tx.execute(self._sql["reply_wait"], *_columns(waits, 3))
        if changes.replies:
            await tx.execute(self._sql["replies"], *_columns(changes.replies, 6))


class TemplatesProjection(PostgresProjection):
    kind = "templates"
    tables = ("templates",)
    _templates: ClassVar[dict[str, str]] = {
        "stored": """
            select t.* from unnest($1::text[], $2::text[], $3::text[]) as k(b, n, l)
            join {s}.templates t on t.business_id = k.b and t.name = k.n and t.language = k.l
        """,
        "upsert": """
            insert into {s}.templates as t (business_id, name, language, status, category,
                                            quality, components, template_id, updated_at,
                                            last_event_id)
            select u.b, u.n, u.l, u.status, u.category, u.quality, u.components::jsonb,
                   u.template_id, u.updated_at, u.last_event_id
            from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                        $7::text[], $8::text[], $9::timestamptz[], $10::text[])
                 as u(b, n, l, status, category, quality, components, template_id, updated_at,
                      last_event_id)
            on conflict (business_id, name, language) do update set
                status = excluded.status, category = excluded.category,
                quality = excluded.quality, components = excluded.components,
                template_id = excluded.template_id, updated_at = excluded.updated_at,
                last_event_id = excluded.last_event_id
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        keys = list(template_keys(events))
        if not keys:
            return
        rows = await tx.fetch(self._sql["stored"], *_columns(keys, 3))
        stored = {TemplateKey(r["business_id"], r["name"], r["language"]): stored_template(r)
                  for r in rows}  # fmt: skip
        changed = template_changes(events, stored)
        if changed:
            cells = [template_cells(t) for t in changed.values()]
            await tx.execute(self._sql["upsert"], *_columns(cells, 10))


class ReceivedMediaProjection(PostgresProjection):
    """Which media ids each business received, for the media download's access check."""

    kind = "media"
    tables = ("received_media",)
    _templates: ClassVar[dict[str, str]] = {
        "insert": """
            insert into {s}.received_media (business_id, media_id, phone_number_id,
                                            conversation_id, media_type, mime_type, received_at)
            select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::timestamptz[])
            on conflict (business_id, media_id) do nothing  -- a replayed event, a forward
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        rows = received_media_rows(events)
        if rows:
            await tx.execute(self._sql["insert"], *_columns(rows, len(ReceivedMediaRow._fields)))


class OrdersProjection(PostgresProjection):
    """The orders read model and the recommendation lists sent (for the order metrics)."""

    kind = "orders"
    tables = ("orders", "order_recommendations")
    _templates: ClassVar[dict[str, str]] = {
        "placed": """
            insert into {s}.orders (business_id, order_id, conversation_id, status, items, total,
                                    currency, source, created_at, confirmed_at, updated_at)
            select u.b, u.o, u.c, u.status, u.items::jsonb, u.total, u.currency, u.source,
                   u.created_at, u.confirmed_at, u.updated_at
            from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                        $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                        $11::timestamptz[])
                 as u(b, o, c, status, items, total, currency, source, created_at, confirmed_at,
                      updated_at)
            on conflict (business_id, order_id) do nothing
        """,
        "moved": """
            update {s}.orders o
            set status = m.status, confirmed_at = coalesce(m.confirmed_at, o.confirmed_at),
                updated_at = m.updated_at
            from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 as m(b, o, status, confirmed_at, updated_at)
            where o.business_id = m.b and o.order_id = m.o
        """,
        "recommended": """
            insert into {s}.order_recommendations (message_id, business_id, conversation_id,
                                                   queued_at)
            select u.m::uuid, u.b, u.c, u.at
            from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) as u(m, b, c, at)
            on conflict (message_id) do nothing
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        changes = order_changes(events)
        if changes.placed:
            await tx.execute(self._sql["placed"], *_columns(changes.placed, 11))
        if changes.moved:
            await tx.execute(self._sql["moved"], *_columns(changes.moved, 5))
        if changes.recommendations:
            await tx.execute(self._sql["recommended"], *_columns(changes.recommendations, 4))


class ProductsProjection(PostgresProjection):
    """Each business's catalog, searchable (the search columns are generated by the table)."""

    kind = "products"
    tables = ("products",)
    _templates: ClassVar[dict[str, str]] = {
        "upsert": """
            insert into {s}.products as p (business_id, product_id, name, description, price,
                                           currency, stock, image_url, retailer_id, category,
                                           updated_at)
            select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                 $6::text[], $7::int[], $8::text[], $9::text[], $10::text[],
                                 $11::timestamptz[])
            on conflict (business_id, product_id) do update set
                name = excluded.name, description = excluded.description,
                price = excluded.price, currency = excluded.currency, stock = excluded.stock,
                image_url = excluded.image_url, retailer_id = excluded.retailer_id,
                category = excluded.category, updated_at = excluded.updated_at
        """,
        "delete": """
            delete from {s}.products p using unnest($1::text[], $2::text[]) as k(b, id)
            where p.business_id = k.b and p.product_id = k.id
        """,
    }

    async def handle(self, tx: PgConnection, events: Sequence[RecordedEvent]) -> None:
        changes = product_changes(events)
        removed = [key for key, product in changes.items() if product is None]
        listed = [product_cells(p) for p in changes.values() if p is not None]
        if removed:
            await tx.execute(self._sql["delete"], *_columns(removed, 2))
        if listed:
            await tx.execute(self._sql["upsert"], *_columns(listed, 11))


PROJECTIONS: Final[tuple[type[PostgresProjection], ...]] = (
    ConversationsProjection,
    MessagesProjection,
    ErrorsProjection,
    MetricsProjection,
    TemplatesProjection,
    ReceivedMediaProjection,
    OrdersProjection,
    ProductsProjection,
)


def projection_named(name: str, schema: str = LIVE_SCHEMA) -> PostgresProjection:
    for projection in PROJECTIONS:
        if projection.kind == name:
            return projection(schema)
    known = ", ".join(p.kind for p in PROJECTIONS)
    raise KeyError(f"no projection named {name!r} (known: {known})")
