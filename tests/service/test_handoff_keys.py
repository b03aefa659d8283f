"""The handoff commands with an Idempotency-Key, on the in-memory records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.memory.handoff import InMemoryHandoffRecords
from application.handoff import (
    ConversationHandoff,
    Escalation,
    HandoffHistory,
    HandoffKey,
    HandoffRefusal,
    HandoffRefusedError,
    HandoffState,
    Replayed,
)
from tests.service.test_handoff import CHAT, NOW, STREAM, recorded, world


def key(name: str, fingerprint: str = "asked") -> HandoffKey:
    return HandoffKey(name, fingerprint, lambda state: f"{state.status} at {state.stream_id}")


async def test_a_repeat_gets_the_first_answer_and_records_nothing() -> None:
    store, handoff = await world()
    first = await handoff.escalate("acme", CHAT, Escalation(), key=key("k1"))
    assert isinstance(first, HandoffState)
    await handoff.resolve("acme", CHAT)

    again = await handoff.escalate("acme", CHAT, Escalation(), key=key("k1"))

    assert again == Replayed(f"escalated at {first.stream_id}")
    assert len(await recorded(store)) == 2  # the escalation and the resolution


async def test_the_same_key_with_another_request_is_refused() -> None:
    store, handoff = await world()
    await handoff.mark_read("acme", CHAT, key=key("k1", "read"))
    with pytest.raises(HandoffRefusedError) as refused:
        await handoff.escalate("acme", CHAT, Escalation(), key=key("k1", "escalate"))
    assert (refused.value.refusal, refused.value.field) == (
        HandoffRefusal.KEY_REUSED, "Idempotency-Key",
    )  # fmt: skip
    assert len(await recorded(store)) == 1


async def test_a_refused_command_keeps_no_key() -> None:
    _, handoff = await world()
    with pytest.raises(HandoffRefusedError):
        await handoff.resolve("acme", CHAT, key=key("k1"))
    await handoff.escalate("acme", CHAT, Escalation())
    assert isinstance(await handoff.resolve("acme", CHAT, key=key("k1")), HandoffState)


class LandsDuringRead(InMemoryHandoffRecords):
    """Runs another request to its end while the next read of the state is under way."""

    meanwhile: Callable[[], Awaitable[object]] | None = None

    async def history(self, stream_id: str) -> HandoffHistory:
        if self.meanwhile is not None:
            other, self.meanwhile = self.meanwhile, None
            await other()
        return await super().history(stream_id)


async def test_a_repeat_racing_the_first_request_gets_its_answer_not_a_refusal() -> None:
    store, _ = await world()
    records = LandsDuringRead(store, {"acme": {CHAT: STREAM}})
    handoff = ConversationHandoff(records, clock=lambda: NOW)
    records.meanwhile = lambda: handoff.escalate("acme", CHAT, Escalation(), key=key("k1"))

    repeat = await handoff.escalate("acme", CHAT, Escalation(), key=key("k1"))

    assert repeat == Replayed(f"escalated at {STREAM}")
    assert len(await recorded(store)) == 1
