"""A model's refusal and the output limit, with the real SDK against the scripted server:
through the adapter, then through a whole turn (webhook, PostgreSQL, workers, outbox)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.ai.openai_assistant import OpenAiAssistant, create_openai_assistant
from application.ports import AssistantUnavailableError
from domain.assistant import Escalate, Reply
from domain.assistant_turns import AssistantTurnCompleted, AssistantTurnFailed
from domain.handoff import ConversationEscalated
from domain.outbound import TextMessage
from tests.integration.test_assistant_turns import (
    ON,
    events,
    text_of,
    wait_for_outcomes,
    wait_for_sent,
)
from tests.support.assistant import context
from tests.support.openai_server import Completion, ScriptedOpenAi, ToolCall, serving_openai
from tests.support.sending import sending_world

API_KEY = "sk-test-0123456789abcdefSECRET"
REFUSAL = "I'm sorry, I can't help with that request from +33 6 12 34 56 78."


@pytest.fixture
def server() -> ScriptedOpenAi:
    return ScriptedOpenAi()


@pytest.fixture
async def base_url(server: ScriptedOpenAi) -> AsyncIterator[str]:
    async with serving_openai(server) as url:
        yield url


async def made(base_url: str, max_output_tokens: int | None = None) -> OpenAiAssistant:
    return create_openai_assistant(api_key=API_KEY, model="gpt-test-mini", base_url=base_url,
                                   timeout_seconds=2.0, max_retries=0,
                                   max_output_tokens=max_output_tokens)  # fmt: skip


async def test_a_refusal_hands_over_with_a_short_masked_reason_never_as_the_reply(
    base_url: str, server: ScriptedOpenAi
) -> None:
    server.then(Completion(content=None, refusal=REFUSAL + " more" * 200))
    assistant = await made(base_url)
    try:
        answer = await assistant.answer(context("aide-moi à pirater un compte"))
    finally:
        await assistant.close()

    decision = answer.decision
    assert isinstance(decision, Escalate)
    assert decision.cause == "assistant_decided"
    assert decision.reason.startswith("the model refused to answer: I'm sorry, I can't help")
    assert "12 34 56" not in decision.reason
    assert decision.reason.endswith("…")
    assert len(decision.reason) < 260


async def test_a_refusal_beside_text_still_hands_over_and_the_escalation_tool_still_wins(
    base_url: str, server: ScriptedOpenAi
) -> None:
    server.then(
        Completion(content="Sure, here is how", refusal="I can't help with that."),
        Completion(refusal="I can't.", tool_calls=(ToolCall("escalate_to_human",
                                                            '{"reason": "angry"}'),)),
    )  # fmt: skip
    assistant = await made(base_url)
    try:
        beside_text = await assistant.answer(context("hello"))
        with_tool = await assistant.answer(context("hello"))
    finally:
        await assistant.close()

    assert beside_text.decision == Escalate(
        cause="assistant_decided", reason="the model refused to answer: I can't help with that."
    )
    assert with_tool.decision == Escalate(cause="assistant_decided", reason="angry")


async def test_the_output_limit_is_sent_only_when_set(
    base_url: str, server: ScriptedOpenAi
) -> None:
    server.then(Completion(content="Bonjour !"), Completion(content="Bonjour !"))
    limited, unlimited = await made(base_url, max_output_tokens=150), await made(base_url)
    try:
        first = await limited.answer(context("Bonjour"))
        await unlimited.answer(context("Bonjour"))
    finally:
        await limited.close()
        await unlimited.close()

    assert first.decision == Reply(message=TextMessage(body="Bonjour !"))
    with_limit, without = server.requests
    assert with_limit.body["max_completion_tokens"] == 150
    assert "max_completion_tokens" not in without.body
    assert "max_tokens" not in without.body


@pytest.mark.parametrize("content", [None, "", "  \n"])
async def test_an_answer_cut_by_the_limit_before_any_text_is_a_failure_naming_it(
    base_url: str, server: ScriptedOpenAi, content: str | None
) -> None:
    server.then(Completion(content=content, finish_reason="length", completion_tokens=20))
    assistant = await made(base_url, max_output_tokens=20)
    try:
        with pytest.raises(AssistantUnavailableError) as raised:
            await assistant.answer(context("Bonjour"))
    finally:
        await assistant.close()

    assert raised.value.reason == (
        "the model's answer was cut by its output limit (OPENAI_MAX_OUTPUT_TOKENS=20) "
        "before it wrote any text"
    )


async def test_an_answer_cut_by_the_limit_after_some_text_is_still_the_reply(
    base_url: str, server: ScriptedOpenAi
) -> None:
    server.then(Completion(content="Nous ouvrons à 9h et", finish_reason="length"))
    assistant = await made(base_url, max_output_tokens=8)
    try:
        answer = await assistant.answer(context("Horaires ?"))
    finally:
        await assistant.close()

    assert answer.decision == Reply(message=TextMessage(body="Nous ouvrons à 9h et"))


def provider_settings(base_url: str) -> dict[str, str]:
    return {**ON, "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url,
            "OPENAI_MAX_RETRIES": "0", "OPENAI_MAX_OUTPUT_TOKENS": "64"}  # fmt: skip


async def test_a_refused_turn_hands_the_conversation_to_a_person(
    database_url: str, base_url: str, server: ScriptedOpenAi
) -> None:
    phone = "33612345071"
    server.then(Completion(refusal=REFUSAL))
    async with sending_world(database_url, **provider_settings(base_url)) as world:
        await world.customer_writes("aide-moi à pirater un compte", phone=phone)
        (handoff,) = await wait_for_sent(world, phone, 1)
        (outcome,) = await wait_for_outcomes(world, phone, 1)
        (escalated,) = [
            e for e in await events(world, phone) if isinstance(e, ConversationEscalated)
        ]

    assert isinstance(outcome, AssistantTurnCompleted)
    assert isinstance(outcome.decision, Escalate)
    assert escalated.cause == "assistant_decided"
    assert escalated.reason.startswith("the model refused to answer: ")
    assert "12 34 56" not in escalated.reason
    assert "sorry" not in text_of(handoff)  # the customer gets the handoff message
    assert server.requests[0].body["max_completion_tokens"] == 64


async def test_a_turn_cut_by_the_limit_before_any_text_gets_the_fallback(
    database_url: str, base_url: str, server: ScriptedOpenAi
) -> None:
    phone = "33612345072"
    server.then(Completion(content=None, finish_reason="length"))
    async with sending_world(database_url, **provider_settings(base_url)) as world:
        await world.customer_writes("Bonjour", phone=phone)
        (fallback,) = await wait_for_sent(world, phone, 1)
        (outcome,) = await wait_for_outcomes(world, phone, 1)

    assert isinstance(outcome, AssistantTurnFailed)
    assert "OPENAI_MAX_OUTPUT_TOKENS=64" in outcome.reason
    assert not outcome.escalated
    assert text_of(fallback)
