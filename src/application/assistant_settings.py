"""Reading and changing a business's assistant settings (a fold of its settings stream).

Reading is cheap enough for every assistant turn: the folded value of each business is
kept in memory with the stream version it reflects, and a read only asks the store for
events after that version (one indexed query that usually returns nothing). Nothing is
kept that a replay could not rebuild, so there is no read model to migrate or rebuild.

A change is applied to the value it was decided on: the append expects the stream's
version at that read, and on a concurrent change the command reads again and re-applies
its own fields, so neither change is lost. Fields equal to the current value are dropped
before the append, so a retried command stores nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from application.event_log import ConcurrencyError, FeedPosition, NewEvent
from application.ports import EventStore
from domain.assistant_settings import (
    AssistantSettings,
    AssistantSettingsChanged,
    SettingsChanges,
    evolve,
    settings_changed_event_id,
    settings_stream,
    validated,
)

MAX_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class SettingsState:
    """The settings of one business as of ``version`` of its settings stream (0: defaults)."""

    settings: AssistantSettings
    version: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SettingsUpdate:
    """What a change did: the new state and the fields it really changed (maybe none)."""

    state: SettingsState
    changed: tuple[str, ...]
    last_position: FeedPosition | None = None


class SettingsContentionError(Exception):
    """The settings kept changing under a change, attempt after attempt; try again later."""


class AssistantSettingsService:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._folded: dict[str, SettingsState] = {}

    async def current(self, business_id: str) -> SettingsState:
        """The business's settings now (the defaults when it never changed any)."""
        known = self._folded.get(business_id) or SettingsState(AssistantSettings())
        newer = await self._store.read_stream(settings_stream(business_id), known.version + 1)
        if not newer:
            return known
        settings = known.settings
        for recorded in newer:
            settings = evolve(settings, recorded.event)
        state = SettingsState(settings, newer[-1].version, newer[-1].recorded_at)
        cached = self._folded.get(business_id)
        if cached is None or cached.version < state.version:  # a slower reader never rolls back
            self._folded[business_id] = state
        return state

    async def change(self, business_id: str, changes: SettingsChanges) -> SettingsUpdate:
        """Validate and record ``changes``; AssistantSettingsError names a wrong field."""
        wanted = validated(changes)
        for _ in range(MAX_ATTEMPTS):
            state = await self.current(business_id)
            effective = wanted.against(state.settings)
            if effective.empty:
                return SettingsUpdate(state, ())
            try:
                position = await self._append(business_id, state.version, effective)
            except ConcurrencyError:
                continue  # someone else changed them since our read: apply ours to theirs
            fresh = await self.current(business_id)
            return SettingsUpdate(fresh, tuple(effective.given()), position)
        raise SettingsContentionError(
            f"the assistant settings of {business_id!r} kept changing during this change; try again"
        )

    async def _append(
        self, business_id: str, version: int, changes: SettingsChanges
    ) -> FeedPosition | None:
        event = AssistantSettingsChanged(business_id=business_id, changes=changes)
        event_id = settings_changed_event_id(business_id, version + 1, changes)
        result = await self._store.append(
            settings_stream(business_id), [NewEvent(event, event_id)], expected_version=version
        )
        return result.last_position
