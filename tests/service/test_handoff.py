"""The handoff commands with the in-memory event store: what they decide and record."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.handoff import InMemoryHandoffRecords
from application.codec import EventCodec
from application.handoff import (
    AGENT_TOOK_OVER,
    ConversationHandoff,
    Escalation,
    HandoffHistory,
    HandoffRefusal,
    HandoffRefusedError,
)
from domain.event_types import EVENT_TYPES
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from tests.support.outbound import customer_wrote

CODEC = EventCodec(EVENT_TYPES)
NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)
NUMBER = "1122334455667"
ANA = "15550001111"
STREAM = f"conversation-{NUMBER}-{ANA}"
CHAT = "c_ana"


async def world() -> tuple[InMemoryEventStore, ConversationHandoff]:
    store = InMemoryEventStore(CODEC)
    await store.append(STREAM, [customer_wrote(NUMBER, ANA)])
    records = InMemoryHandoffRecords(store, {"acme": {CHAT: STREAM}})
    return store, ConversationHandoff(records, clock=lambda: NOW)


async def recorded(store: InMemoryEventStore) -> list[object]:
    return [r.event for r in await store.read_stream(STREAM)][1:]


async def test_escalate_then_resolve_records_one_event_each() -> None:
    store, handoff = await world()
    state = await handoff.escalate("acme", CHAT, Escalation(), agent="Marie", cause_id="api:1")
    assert state.status == "escalated"
    assert state.escalation == ConversationEscalated(
        business_id="acme", cause="agent_took_over", reason=AGENT_TOOK_OVER, by="agent", at=NOW,
        assignee="Marie",
    )  # fmt: skip
    resolved = await handoff.resolve("acme", CHAT, agent="Paul")
    assert (resolved.status, resolved.escalation) == ("bot", None)
    assert await recorded(store) == [
        state.escalation, ConversationResolved(business_id="acme", at=NOW, by="Paul"),
    ]  # fmt: skip
    (_, escalated, _) = await store.read_stream(STREAM)
    assert escalated.metadata.correlation_id == "api:1"


async def test_the_wrong_state_or_conversation_is_refused_and_records_nothing() -> None:
    store, handoff = await world()
    with pytest.raises(HandoffRefusedError) as not_escalated:
        await handoff.resolve("acme", CHAT)
    assert not_escalated.value.refusal is HandoffRefusal.NOT_ESCALATED
    await handoff.escalate("acme", CHAT, Escalation(assignee=" Marie ", reason=" Refund "))
    with pytest.raises(HandoffRefusedError) as twice:
        await handoff.escalate("acme", CHAT, Escalation())
    assert twice.value.refusal is HandoffRefusal.ALREADY_ESCALATED
    assert "already escalated to Marie" in twice.value.message
    for business, chat in (("globex", CHAT), ("acme", "c_nobody")):
        with pytest.raises(HandoffRefusedError) as missing:
            await handoff.mark_read(business, chat)
        assert missing.value.refusal is HandoffRefusal.NOT_FOUND
    for request, field in ((Escalation(assignee="x" * 101), "assignee"),
                           (Escalation(reason="\x00"), "reason")):  # fmt: skip
        with pytest.raises(HandoffRefusedError) as invalid:
            await handoff.escalate("acme", CHAT, request)
        assert (invalid.value.refusal, invalid.value.field) == (HandoffRefusal.INVALID, field)
    (only,) = await recorded(store)
    assert isinstance(only, ConversationEscalated)
    assert (only.assignee, only.reason) == ("Marie", "Refund")


class SlowReads(InMemoryHandoffRecords):
    """Both callers read the state before either appends."""

    async def history(self, stream_id: str) -> HandoffHistory:
        found = await super().history(stream_id)
        await asyncio.sleep(0.01)
        return found


async def test_two_agents_racing_to_escalate_one_wins_and_the_other_is_told() -> None:
    store, _ = await world()
    records = SlowReads(store, {"acme": {CHAT: STREAM}})
    handoff = ConversationHandoff(records, clock=lambda: NOW)
    outcomes = await asyncio.gather(
        *(handoff.escalate("acme", CHAT, Escalation(assignee=name)) for name in ("A", "B")),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, HandoffRefusedError)]
    assert len(refused) == 1
    assert refused[0].refusal is HandoffRefusal.ALREADY_ESCALATED
    assert len(await recorded(store)) == 1


async def test_marking_read_again_records_nothing_until_a_message_arrives() -> None:
    store, handoff = await world()
    for _ in range(3):
        assert (await handoff.mark_read("acme", CHAT, agent="Marie")).marked_read
    await store.append(STREAM, [customer_wrote(NUMBER, ANA)])
    await handoff.mark_read("acme", CHAT)
    events = await recorded(store)
    assert [type(e) for e in events] == [ConversationMarkedRead, type(events[1]),
                                         ConversationMarkedRead]  # fmt: skip
