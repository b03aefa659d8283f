"""Reading and changing a business's order settings (a fold of their own stream).

A change is appended at the version it was decided on; on a concurrent change it is
decided again on the newer settings. Fields equal to the current value are dropped, so a
repeated change stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from application.event_log import ConcurrencyError, NewEvent
from application.ports import EventStore
from domain.order_settings import (
    OrderSettings,
    OrderSettingsChanged,
    OrderSettingsChanges,
    order_settings_event_id,
    order_settings_of,
    order_settings_stream,
    validated,
)

MAX_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class OrderSettingsState:
    settings: OrderSettings
    version: int = 0


class OrderSettingsContentionError(Exception):
    """The settings kept changing under a change; try again."""


class OrderSettingsService:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def current(self, business_id: str) -> OrderSettingsState:
        recorded = await self._store.read_stream(order_settings_stream(business_id))
        settings = order_settings_of([r.event for r in recorded])
        return OrderSettingsState(settings, recorded[-1].version if recorded else 0)

    async def change(
        self, business_id: str, changes: OrderSettingsChanges
    ) -> tuple[OrderSettingsState, tuple[str, ...]]:
        """Validate and record ``changes``: the new state and the fields really changed.
        OrderSettingsError names a wrong field."""
        wanted = validated(changes)
        for _ in range(MAX_ATTEMPTS):
            state = await self.current(business_id)
            effective = wanted.against(state.settings)
            if effective.empty:
                return state, ()
            event = OrderSettingsChanged(business_id=business_id, changes=effective)
            event_id = order_settings_event_id(business_id, state.version + 1, effective)
            try:
                await self._store.append(
                    order_settings_stream(business_id),
                    [NewEvent(event, event_id)],
                    expected_version=state.version,
                )
            except ConcurrencyError:
                continue
            return await self.current(business_id), tuple(effective.given())
        raise OrderSettingsContentionError(
            f"the order settings of {business_id!r} kept changing during this change; try again"
        )
