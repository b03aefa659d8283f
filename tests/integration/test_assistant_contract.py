"""What any Assistant must do, run against the offline rules and the OpenAI adapter.

The OpenAI adapter talks to the scripted server with a stand-in model that does what a
real one is told: it answers in the language the system prompt names and calls
``escalate_to_human`` when that tool is offered and the customer asks for a person. So
what is checked is the adapter's part: telling the model the turn's language (the
business's fixed one, else the customer's, chosen before the assistant is asked), offering
the tool, and turning the call into a handoff.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.ai.openai_assistant import create_openai_assistant
from adapters.ai.rules import RulesAssistant
from application.ports import Assistant
from domain.assistant import CustomerInput, Escalate, Language, Reply
from domain.intents import Intent, find_intents
from domain.language import detect_language
from domain.outbound import ReplyButtonsMessage, TextMessage
from domain.whatsapp_limits import check_message
from tests.support.assistant import context, said
from tests.support.openai_server import (
    Completion,
    Request,
    ScriptedOpenAi,
    Step,
    ToolCall,
    serving_openai,
)

STAND_IN_REPLIES = {"French": "Bonjour ! Comment puis-je vous aider ?",
                    "English": "Hello! How can I help you today?"}  # fmt: skip


def stand_in_model(request: Request) -> Step:
    system = request.messages[0]["content"]
    customer = request.messages[-1]["content"]
    if "escalate_to_human" in request.tool_names and Intent.HUMAN in find_intents(customer):
        return Completion(tool_calls=(ToolCall("escalate_to_human", '{"reason": "asked"}'),))
    language = next(name for name in STAND_IN_REPLIES if f"Answer in {name}" in system)
    return Completion(content=STAND_IN_REPLIES[language])


@pytest.fixture(params=["offline", "openai"])
async def assistant(request: pytest.FixtureRequest) -> AsyncIterator[Assistant]:
    if request.param == "offline":
        yield RulesAssistant()
        return
    async with serving_openai(ScriptedOpenAi(responder=stand_in_model)) as base_url:
        made = create_openai_assistant(api_key="sk-contract", model="stand-in", base_url=base_url,
                                       timeout_seconds=5, max_retries=0)  # fmt: skip
        yield made
        await made.close()


def body_of(decision: Reply) -> str:
    message = check_message(decision.message)
    assert isinstance(message, TextMessage | ReplyButtonsMessage), message
    return message.body


@pytest.mark.parametrize(
    ("text", "language"),
    [("Bonjour", "fr"), ("Salut, vous êtes ouverts ?", "fr"), ("Hello", "en"),
     ("Hi, are you open today?", "en"), ("Bonjour", "en"), ("Hello", "fr")],
)  # fmt: skip
async def test_it_answers_in_the_language_the_turn_chose(
    assistant: Assistant, text: str, language: Language
) -> None:
    answer = await assistant.answer(context(text, language=language))

    assert isinstance(answer.decision, Reply)
    assert detect_language(body_of(answer.decision)) == language
    assert answer.provider == assistant.provider


@pytest.mark.parametrize(
    "text",
    ["je veux parler à un conseiller", "un agent svp", "talk to a human", "real person please"],
)
async def test_it_escalates_on_a_clear_request_for_a_person(
    assistant: Assistant, text: str
) -> None:
    answer = await assistant.answer(context(text))

    assert isinstance(answer.decision, Escalate)
    assert answer.decision.reason.strip()


@pytest.mark.parametrize(
    "message",
    [said("👍"), said("ok"), said(""), said("", kind="image", unseen_media="image"),
     said("Option 1", kind="button", choice_id="opt_1"), said("x" * 5000)],
    ids=["emoji", "ok", "empty", "image", "button", "long"],
)  # fmt: skip
async def test_it_never_answers_with_an_empty_or_oversized_message(
    assistant: Assistant, message: CustomerInput
) -> None:
    answer = await assistant.answer(context(message))

    if isinstance(answer.decision, Reply):
        assert body_of(answer.decision).strip()
    else:
        assert answer.decision.reason.strip()
