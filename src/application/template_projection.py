"""What template events change in the stored templates, decided without I/O.

One row per business, name and language. A sync or a create writes the whole row;
Meta's template webhooks change its status, quality or category. Facts are applied
newest first by their own time (a sync's time, or the time Meta gave the webhook):
an older fact arriving later never undoes a newer one, whatever order the log holds
them in; equal times keep log order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from application.event_log import RecordedEvent
from application.templates import StoredTemplate
from domain.account import TemplateCategoryUpdated, TemplateQualityUpdated, TemplateStatusUpdated
from domain.templates import DELETED, TemplateRemoved, TemplateSynced


class TemplateKey(NamedTuple):
    business_id: str
    name: str
    language: str


TemplateEvent = (
    TemplateSynced | TemplateRemoved | TemplateStatusUpdated | TemplateQualityUpdated
    | TemplateCategoryUpdated
)  # fmt: skip
TEMPLATE_EVENTS = (TemplateSynced, TemplateRemoved, TemplateStatusUpdated,
                   TemplateQualityUpdated, TemplateCategoryUpdated)  # fmt: skip


def template_key(event: TemplateEvent) -> TemplateKey:
    if isinstance(event, TemplateSynced | TemplateRemoved):
        return TemplateKey(event.business_id, event.name, event.language)
    return TemplateKey(event.business_id, event.template.name, event.template.language)


def template_keys(events: Iterable[RecordedEvent]) -> set[TemplateKey]:
    return {template_key(r.event) for r in events if isinstance(r.event, TEMPLATE_EVENTS)}


def template_changes(
    events: Iterable[RecordedEvent], stored: Mapping[TemplateKey, StoredTemplate]
) -> dict[TemplateKey, StoredTemplate]:
    """The rows the batch changes, as they are after it."""
    rows = dict(stored)
    changed: dict[TemplateKey, StoredTemplate] = {}
    for recorded in events:
        event = recorded.event
        if not isinstance(event, TEMPLATE_EVENTS):
            continue
        key = template_key(event)
        row = apply_template_event(rows.get(key), event, str(recorded.event_id))
        if row is not None and row != rows.get(key):
            rows[key] = changed[key] = row
    return changed


def apply_template_event(
    row: StoredTemplate | None, event: TemplateEvent, event_id: str
) -> StoredTemplate | None:
    """The row after ``event``; None when there is no row and the event makes none."""
    at = _time_of(event)
    if row is not None and at < row.updated_at:
        return row  # an older fact than the one stored
    key = template_key(event)
    if isinstance(event, TemplateSynced):
        quality = event.quality if event.quality is not None else (row.quality if row else None)
        return StoredTemplate(
            key.business_id, key.name, key.language, event.status, event.category, quality,
            list(event.components), event.template_id, at, event_id,
        )  # fmt: skip
    if isinstance(event, TemplateRemoved):
        if row is None:
            return None
        return replace(row, status=DELETED, updated_at=at, last_event_id=event_id)
    base = row or StoredTemplate(key.business_id, key.name, key.language, "UNKNOWN", None, None,
                                 None, event.template.template_id, at, event_id)  # fmt: skip
    base = replace(base, template_id=event.template.template_id or base.template_id,
                   updated_at=at, last_event_id=event_id)  # fmt: skip
    if isinstance(event, TemplateStatusUpdated):
        return replace(base, status=event.template.status.upper(),
                       category=(event.template.category or base.category))  # fmt: skip
    if isinstance(event, TemplateQualityUpdated):
        return replace(base, quality=event.template.new_score.upper())
    return replace(base, category=event.template.new_category.upper())


def _time_of(event: TemplateEvent) -> datetime:
    if isinstance(event, TemplateSynced | TemplateRemoved):
        return event.at
    return event.template.at
