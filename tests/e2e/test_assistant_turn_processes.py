"""A turn whose worker is killed with SIGKILL while the assistant thinks: the real
`wazybot serve` processes, real PostgreSQL, the OpenAI adapter against the scripted server,
and the Cloud API simulator. The next process takes the turn over once its lease ends and
the customer gets exactly one reply."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.whatsapp.simulator import Business, CloudApiSimulator, inbound, running
from application.codec import EventCodec
from domain.assistant_turns import AssistantTurnCompleted, AssistantTurnFailed
from domain.conversation import conversation_stream
from domain.event_types import EVENT_TYPES
from tests.e2e.server import serve
from tests.e2e.test_webhook import PATH, server_env
from tests.support.openai_server import Completion, ScriptedOpenAi, Stall, serving_openai
from tests.support.webhooks import ACCOUNT_ID, APP_SECRET, PHONE_NUMBER_ID

pytestmark = pytest.mark.slow

ACCESS_TOKEN = "turns-e2e-access-token"
CUSTOMER = "33612340001"


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_turn_costs_nothing_the_next_one_replies_once(
    database_url: str, tmp_path: Path
) -> None:
    openai = ScriptedOpenAi(responder=lambda _: Completion("Bonjour Marie, que puis-je faire ?"))
    openai.then(Stall(120))  # the first process dies while it waits for this answer
    simulator = CloudApiSimulator(
        access_tokens=[ACCESS_TOKEN], app_secret=APP_SECRET,
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID),
    )  # fmt: skip
    pool = await create_pool(database_url, max_size=2)
    store = PostgresEventStore(pool, EventCodec(EVENT_TYPES))
    stream = conversation_stream(PHONE_NUMBER_ID, CUSTOMER)

    async def outcomes() -> list[Any]:
        recorded = await store.read_stream(stream)
        kinds = (AssistantTurnCompleted, AssistantTurnFailed)
        return [r.event for r in recorded if isinstance(r.event, kinds)]

    try:
        async with serving_openai(openai) as openai_url, running(simulator) as sim:
            assert sim.base_url is not None
            env = server_env(
                database_url, WHATSAPP_GRAPH_URL=sim.base_url, WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
                OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_url, OPENAI_MAX_RETRIES="0",
                OPENAI_TIMEOUT_SECONDS="60", WAZYBOT_ASSISTANT_TURN_TIMEOUT_SECONDS="3",
                WAZYBOT_SUBSCRIBER_POLL_SECONDS="0.1", WAZYBOT_AUTO_REPLIES="true",
            )  # fmt: skip
            with serve(env, tmp_path / "first.log") as first:
                sim.webhooks.url = first.base_url + PATH
                _, delivery = await sim.customer_sends(inbound.text("Bonjour"), phone=CUSTOMER)
                assert delivery.ok, delivery.error

                async def asked() -> bool:
                    return len(openai.requests) == 1

                await wait_until("the assistant asked", asked, timeout=30)
                os.kill(first.process.pid, signal.SIGKILL)
                assert first.process.wait(timeout=10) == -signal.SIGKILL

            with serve(env, tmp_path / "second.log") as second:
                sim.webhooks.url = second.base_url + PATH

                async def replied() -> bool:
                    sent = [b for b in sim.sent_bodies() if b.get("to") == CUSTOMER]
                    return bool(await outcomes()) and len(sent) >= 1

                await wait_until("the reply sent after the takeover", replied, timeout=60)
                # Nothing else is due: the turn's one outcome is recorded and sent.
                (outcome,) = await outcomes()
                sent = [b for b in sim.sent_bodies() if b.get("to") == CUSTOMER]
    finally:
        await store.close()
        await pool.close()

    assert isinstance(outcome, AssistantTurnCompleted)
    assert outcome.provider == "openai"
    assert [b["text"]["body"] for b in sent] == ["Bonjour Marie, que puis-je faire ?"]
    assert len(openai.requests) == 2


async def test_two_worker_processes_take_each_turn_once(database_url: str, tmp_path: Path) -> None:
    customers = [f"3361235{n:04d}" for n in range(12)]
    simulator = CloudApiSimulator(
        access_tokens=[ACCESS_TOKEN], app_secret=APP_SECRET,
        business=Business(waba_id=ACCOUNT_ID, phone_number_id=PHONE_NUMBER_ID),
    )  # fmt: skip
    async with running(simulator) as sim:
        assert sim.base_url is not None
        env = server_env(
            database_url, WHATSAPP_GRAPH_URL=sim.base_url, WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
            WAZYBOT_SUBSCRIBER_POLL_SECONDS="0.1", WAZYBOT_AUTO_REPLIES="true",
            WAZYBOT_ASSISTANT_CONCURRENCY="2",  # few turns at a time: both processes take some
        )  # fmt: skip
        with serve(env, tmp_path / "a.log") as first, serve(env, tmp_path / "b.log"):
            sim.webhooks.url = first.base_url + PATH
            for customer in customers:
                _, delivery = await sim.customer_sends(inbound.text("Bonjour"), phone=customer)
                assert delivery.ok, delivery.error

            def replies() -> dict[str, int]:
                sent = [b.get("to") for b in sim.sent_bodies()]
                return {customer: sent.count(customer) for customer in customers}

            async def all_answered() -> bool:
                return all(count >= 1 for count in replies().values())

            await wait_until("every customer answered", all_answered, timeout=60)
            pool = await create_pool(database_url, max_size=2)
            try:
                outcomes = await pool.fetchval(
                    "select count(*) from events where type = 'assistant.turn_completed'"
                    " and stream_id = any($1::text[])",
                    [conversation_stream(PHONE_NUMBER_ID, c) for c in customers],
                )
                queued = await pool.fetchval(
                    "select count(*) from outbox where conversation_stream = any($1::text[])",
                    [conversation_stream(PHONE_NUMBER_ID, c) for c in customers],
                )
            finally:
                await pool.close()

    assert outcomes == len(customers)
    assert queued == len(customers)
    assert set(replies().values()) == {1}
