"""An order the assistant decides, through the real path: the turn records it, the orders
process manager places it and sends its summary; a person taking over while the assistant
thinks cancels it like any reply."""

from __future__ import annotations

import asyncio

from application.event_log import FEED_START
from domain.assistant import AssistantAnswer, AssistantContext, OrderLine, PlaceOrder
from domain.assistant_turns import AssistantTurnCompleted, AssistantTurnSkipped
from domain.orders import OrderPlaced, order_id_for
from domain.outbox import OutboundMessageQueued
from entrypoints.container import resolve
from tests.integration.test_assistant_turns import ON, events, intervene, wait_for_outcomes
from tests.integration.test_orders_flow import api_order, list_products, product, summary_for
from tests.support.sending import sending_world


class OrderingAssistant:
    """Decides to order two of ``tee``; holds its first answer until ``release``."""

    provider = "ordering"

    def __init__(self, hold: bool = False) -> None:
        self.called = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def answer(self, context: AssistantContext) -> AssistantAnswer:
        self.called.set()
        await self.release.wait()
        decision = PlaceOrder(items=(OrderLine(product_id="tee", quantity=2),))
        return AssistantAnswer(decision=decision, provider=self.provider)


async def test_the_order_a_turn_decides_is_placed_once_with_its_summary(
    database_url: str,
) -> None:
    phone = "33612348001"
    async with sending_world(database_url, assistant=OrderingAssistant(), **ON) as world:
        await list_products(world, product("tee", 1990, 5))
        wamid = await world.customer_writes("Deux t-shirts s'il vous plaît", phone)
        summary = await summary_for(world, phone)
        order_id = order_id_for("default", f"assistant:{wamid}")
        order = await api_order(world, order_id, "pending")
        (outcome,) = await wait_for_outcomes(world, phone, 1)
        found = await events(world, phone)

    assert "2 x Produit tee" in summary["interactive"]["body"]["text"]
    assert (order["source"], order["total"]) == ("assistant", 3980)
    assert isinstance(outcome, AssistantTurnCompleted)
    assert outcome.message_id is None
    (queued,) = [e for e in found if isinstance(e, OutboundMessageQueued)]
    assert queued.requested_by == "system"  # the orders process manager's summary


async def test_a_person_taking_over_while_the_assistant_thinks_cancels_its_order(
    database_url: str,
) -> None:
    phone = "33612348002"
    assistant = OrderingAssistant(hold=True)
    async with sending_world(database_url, assistant=assistant, **ON) as world:
        await list_products(world, product("tee", 1990, 5))
        await world.customer_writes("Deux t-shirts s'il vous plaît", phone)
        await asyncio.wait_for(assistant.called.wait(), 20)
        await intervene(world, phone, "escalated")
        assistant.release.set()
        (outcome,) = await wait_for_outcomes(world, phone, 1)
        store = await resolve(world.container.event_store())
        placed = [
            r for r in await store.read_feed(FEED_START, 10_000) if isinstance(r.event, OrderPlaced)
        ]
        found = await events(world, phone)

    assert isinstance(outcome, AssistantTurnSkipped)
    assert outcome.reason == "escalated"
    assert placed == []
    assert not [e for e in found if isinstance(e, OutboundMessageQueued)]
