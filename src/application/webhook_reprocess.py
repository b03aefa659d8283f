"""Reading stored unreadable webhook changes again with the current parser.

A change the parser could not read was stored whole (``WebhookChangeUnreadable``).
Once a newer parser reads it, its updates are ingested exactly as if they had
arrived that way (same fingerprints, same deterministic event ids) and a
``WebhookChangeRecovered`` marks it done. Running it again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.event_log import NewEvent, RecordedEvent
from application.inbound_updates import InboundUpdate
from application.ports import EventStore
from application.webhook_ingest import WebhookIngestor
from domain.account import (
    WebhookChangeRecovered,
    WebhookChangeUnreadable,
    recovered_event_id,
)
from domain.inbound import UnreadableChange

WHATSAPP_OBJECT = "whatsapp_business_account"
Parser = Callable[[bytes, datetime], list[InboundUpdate]]
Progress = Callable[[int, int], None]


class StoredChanges(Protocol):
    async def unreadable(self, business_id: str | None) -> list[RecordedEvent]:
        """Every stored WebhookChangeUnreadable (of one business, or all and the unrouted)."""
        ...

    async def recovered(self, business_id: str | None) -> set[str]:
        """The event ids of the unreadable changes already recovered."""
        ...


@dataclass(slots=True)
class ReprocessReport:
    examined: int = 0
    recovered: int = 0  # read now and recorded (or, in a dry run, readable now)
    still_unreadable: int = 0
    already_recovered: int = 0
    updates: int = 0  # updates the recovered changes held
    appended: int = 0  # events those updates added (0 when they were stored before)


def delivery_of(change: UnreadableChange) -> bytes:
    """The smallest delivery that holds the change exactly as Meta sent it."""
    raw = change.raw_json.encode()
    if change.scope == "entry":
        return b'{"object":"%s","entry":[%s]}' % (WHATSAPP_OBJECT.encode(), raw)
    entry = b'"id":' + json.dumps(change.account_id or "").encode()
    if change.entry_time is not None:
        entry += b',"time":%d' % change.entry_time
    return b'{"object":"%s","entry":[{%s,"changes":[%s]}]}' % (
        WHATSAPP_OBJECT.encode(),
        entry,
        raw,
    )


class WebhookReprocessor:
    def __init__(
        self,
        store: EventStore,
        changes: StoredChanges,
        ingestor: WebhookIngestor,
        parse: Parser,
    ) -> None:
        self._store = store
        self._changes = changes
        self._ingestor = ingestor
        self._parse = parse

    async def reprocess(
        self,
        business_id: str | None = None,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ReprocessReport:
        stored = await self._changes.unreadable(business_id)
        done = await self._changes.recovered(business_id)
        report = ReprocessReport()
        for index, recorded in enumerate(stored, start=1):
            await self._one(recorded, done, report, dry_run=dry_run)
            if progress is not None:
                progress(index, len(stored))
        return report

    async def _one(
        self, recorded: RecordedEvent, done: set[str], report: ReprocessReport, *, dry_run: bool
    ) -> None:
        event = recorded.event
        assert isinstance(event, WebhookChangeUnreadable)
        report.examined += 1
        event_id = str(recorded.event_id)
        if event_id in done:
            report.already_recovered += 1
            return
        updates = self._parse(delivery_of(event.change), event.change.at)
        if not updates or any(isinstance(u.payload, UnreadableChange) for u in updates):
            report.still_unreadable += 1
            return
        report.recovered += 1
        report.updates += len(updates)
        if dry_run:
            return
        outcome = await self._ingestor.ingest(updates, f"reprocess:{event_id}")
        marker = WebhookChangeRecovered(
            business_id=event.business_id, unreadable_event_id=event_id, updates=len(updates)
        )
        await self._store.append(
            recorded.stream_id, [NewEvent(marker, recovered_event_id(event_id))]
        )
        report.appended += outcome.appended
