"""Reading and changing assistant settings over the in-memory event store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from adapters.memory.event_store import InMemoryEventStore
from application.assistant_settings import AssistantSettingsService, SettingsContentionError
from application.codec import EventCodec
from application.event_log import ANY, AppendResult, ExpectedVersion, NewEvent
from domain.assistant_settings import (
    AssistantSettings,
    AssistantSettingsChanged,
    AssistantSettingsError,
    SettingsChanges,
    settings_stream,
)
from domain.event_types import EVENT_TYPES

CODEC = EventCodec(EVENT_TYPES)


async def test_a_business_that_never_changed_anything_reads_the_defaults() -> None:
    service = AssistantSettingsService(InMemoryEventStore(CODEC))
    state = await service.current("acme")
    assert state.settings == AssistantSettings()
    assert (state.version, state.updated_at) == (0, None)


async def test_a_change_is_recorded_once_and_read_back() -> None:
    store = InMemoryEventStore(CODEC)
    service = AssistantSettingsService(store)
    update = await service.change("acme", SettingsChanges(auto_reply=False, language="en"))
    assert update.changed == ("auto_reply", "language")
    assert update.state.version == 1
    again = await service.change("acme", SettingsChanges(auto_reply=False, language="en"))
    assert again.changed == ()
    assert await store.stream_version(settings_stream("acme")) == 1
    other = AssistantSettingsService(store)  # another process: no cache of its own yet
    state = await other.current("acme")
    assert (state.settings.auto_reply, state.settings.language, state.version) == (False, "en", 1)
    assert (await other.current("globex")).settings == AssistantSettings()


async def test_a_reader_with_a_cached_value_sees_a_change_made_elsewhere() -> None:
    store = InMemoryEventStore(CODEC)
    reader, writer = AssistantSettingsService(store), AssistantSettingsService(store)
    assert (await reader.current("acme")).settings.auto_reply is True
    await writer.change("acme", SettingsChanges(auto_reply=False))
    assert (await reader.current("acme")).settings.auto_reply is False


async def test_a_wrong_value_changes_nothing() -> None:
    store = InMemoryEventStore(CODEC)
    service = AssistantSettingsService(store)
    with pytest.raises(AssistantSettingsError, match="max_consecutive_failures"):
        await service.change("acme", SettingsChanges(auto_reply=False, max_consecutive_failures=0))
    assert await store.stream_version(settings_stream("acme")) == 0


async def test_two_concurrent_changes_both_take_effect() -> None:
    async def pause() -> None:
        await asyncio.sleep(0)  # both commands read before either appends

    store = InMemoryEventStore(CODEC, pause=pause)
    first, second = AssistantSettingsService(store), AssistantSettingsService(store)
    await asyncio.gather(
        first.change("acme", SettingsChanges(language="fr")),
        second.change("acme", SettingsChanges(max_consecutive_failures=4)),
    )
    state = await AssistantSettingsService(store).current("acme")
    assert (state.settings.language, state.settings.max_consecutive_failures) == ("fr", 4)
    assert state.version == 2


class EverChangingStore(InMemoryEventStore):
    """Someone else changes the settings just before each of our appends."""

    async def append(self, stream_id: str, events: Sequence[NewEvent],
                     expected_version: ExpectedVersion = ANY) -> AppendResult:  # fmt: skip
        version = await self.stream_version(stream_id)
        other = AssistantSettingsChanged(
            business_id="acme", changes=SettingsChanges(business_hours=f"{version}h")
        )
        await super().append(stream_id, [NewEvent(other, uuid.uuid4())])
        return await super().append(stream_id, events, expected_version)


async def test_a_change_that_keeps_losing_the_race_gives_up_and_says_so() -> None:
    store = EverChangingStore(CODEC)
    with pytest.raises(SettingsContentionError, match="kept changing"):
        await AssistantSettingsService(store).change("acme", SettingsChanges(auto_reply=False))
    assert (await AssistantSettingsService(store).current("acme")).settings.auto_reply is True
