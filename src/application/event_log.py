"""Envelope types of the event log and the append rules shared by every store.

``plan_appends`` is the single place that decides what an append does
(duplicates, expected versions, version numbers); the in-memory fake and the
PostgreSQL adapter both call it, so they cannot drift apart.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, NamedTuple

from domain.events import DomainEvent, EventMetadata

MAX_STREAM_ID_LENGTH: Final = 200


class AnyVersion(enum.Enum):
    """Expected version that accepts whatever the stream holds."""

    ANY = "any"


ANY: Final = AnyVersion.ANY
NO_STREAM: Final = 0
ExpectedVersion = int | AnyVersion


class FeedPosition(NamedTuple):
    """A place in the global feed: (transaction id, global position), compared as a pair."""

    tx: int
    position: int


FEED_START: Final = FeedPosition(0, 0)


@dataclass(frozen=True, slots=True)
class NewEvent:
    event: DomainEvent
    event_id: uuid.UUID
    metadata: EventMetadata = field(default_factory=EventMetadata)


@dataclass(frozen=True, slots=True)
class AppendRequest:
    stream_id: str
    events: Sequence[NewEvent]
    expected_version: ExpectedVersion = ANY


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    stream_version: int
    appended: int
    duplicates: int
    last_position: FeedPosition | None = None

    @property
    def is_duplicate(self) -> bool:
        """True when every offered event was already stored (an idempotent no-op)."""
        return self.appended == 0 and self.duplicates > 0


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    stream_id: str
    version: int
    position: FeedPosition
    event_id: uuid.UUID
    type: str
    event: DomainEvent
    metadata: EventMetadata
    recorded_at: datetime


class EventStoreError(Exception):
    """Base of the errors the event store reports to callers."""


class ConcurrencyError(EventStoreError):
    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, but the append expected {expected}"
        )


class CheckpointConflictError(EventStoreError):
    """A subscriber's checkpoint moved under it: another runner is (or was) active."""

    def __init__(self, subscriber: str, expected: FeedPosition) -> None:
        super().__init__(f"checkpoint of {subscriber!r} is no longer at {tuple(expected)}")


class InvalidAppendError(EventStoreError, ValueError):
    """The append request itself is malformed; nothing was written."""


class UnstorableEventError(InvalidAppendError):
    """The store cannot hold what the append carries (e.g. U+0000 in text); nothing was written.

    Only the unit that carries it fails: appends committed in the same batch are stored.
    """


def validate_request(request: AppendRequest) -> None:
    if not request.stream_id or len(request.stream_id) > MAX_STREAM_ID_LENGTH:
        raise InvalidAppendError(
            f"stream id must be 1 to {MAX_STREAM_ID_LENGTH} characters, got {request.stream_id!r}"
        )
    if "\x00" in request.stream_id:
        raise UnstorableEventError(f"stream id {request.stream_id!r} holds U+0000")
    if not request.events:
        raise InvalidAppendError(f"append to {request.stream_id!r} carries no events")
    expected = request.expected_version
    if isinstance(expected, int) and expected < 0:
        raise InvalidAppendError(f"expected version must be >= 0, got {expected}")


@dataclass(frozen=True, slots=True)
class PlannedRow:
    stream_id: str
    version: int
    new_event: NewEvent


@dataclass(slots=True)
class UnitPlan:
    """What one atomic unit (one caller's requests) will write, or why it cannot."""

    rows: list[PlannedRow]
    results: list[AppendResult]
    error: ConcurrencyError | None = None


def plan_appends(
    units: Sequence[Sequence[AppendRequest]],
    stream_versions: Mapping[str, int],
    stored_event_ids: set[uuid.UUID] | frozenset[uuid.UUID],
) -> list[UnitPlan]:
    """Decide, unit by unit in order, which events each unit appends and at which versions.

    A unit is atomic: if one of its requests fails its expected version, the
    whole unit writes nothing. Events already stored, or offered earlier in the
    same batch, are duplicates and are skipped; a request made only of
    duplicates is an idempotent no-op whatever version it expected.
    """
    versions = dict(stream_versions)
    taken_ids = set(stored_event_ids)
    return [_plan_unit(unit, versions, taken_ids) for unit in units]


def _plan_unit(
    unit: Sequence[AppendRequest], versions: dict[str, int], taken_ids: set[uuid.UUID]
) -> UnitPlan:
    unit_versions: dict[str, int] = {}
    unit_ids: set[uuid.UUID] = set()
    plan = UnitPlan(rows=[], results=[])
    for request in unit:
        current = unit_versions.get(request.stream_id, versions.get(request.stream_id, 0))
        fresh = []
        for new_event in request.events:
            if new_event.event_id in taken_ids or new_event.event_id in unit_ids:
                continue
            unit_ids.add(new_event.event_id)
            fresh.append(new_event)
        duplicates = len(request.events) - len(fresh)
        if fresh and not _version_matches(request.expected_version, current):
            error = ConcurrencyError(request.stream_id, request.expected_version, current)
            return UnitPlan(rows=[], results=[], error=error)
        for offset, new_event in enumerate(fresh, start=1):
            plan.rows.append(PlannedRow(request.stream_id, current + offset, new_event))
        unit_versions[request.stream_id] = current + len(fresh)
        plan.results.append(
            AppendResult(
                stream_id=request.stream_id,
                stream_version=current + len(fresh),
                appended=len(fresh),
                duplicates=duplicates,
            )
        )
    versions.update(unit_versions)
    taken_ids.update(unit_ids)
    return plan


def _version_matches(expected: ExpectedVersion, current: int) -> bool:
    return expected is ANY or expected == current
