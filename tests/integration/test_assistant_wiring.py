"""The composition root picks the assistant from the settings."""

from __future__ import annotations

from adapters.ai.openai_assistant import OpenAiAssistant
from adapters.ai.rules import RulesAssistant
from domain.assistant import Reply
from domain.outbound import TextMessage
from entrypoints.container import Container, resolve
from entrypoints.settings import load_settings
from tests.support.assistant import context
from tests.support.openai_server import Completion, ScriptedOpenAi, serving_openai


async def test_without_an_api_key_the_offline_rules_answer() -> None:
    container = Container(settings=load_settings({}))
    try:
        assistant = await resolve(container.assistant())
        assert isinstance(assistant, RulesAssistant)
        assert assistant.provider == "offline"
    finally:
        await resolve(container.shutdown_resources())


async def test_with_an_api_key_the_configured_openai_compatible_server_answers() -> None:
    server = ScriptedOpenAi().then(Completion(content="Hello from the provider"))
    async with serving_openai(server) as base_url:
        settings = load_settings({"OPENAI_API_KEY": "sk-wiring-key", "OPENAI_BASE_URL": base_url,
                                  "OPENAI_MODEL": "local-model", "OPENAI_TIMEOUT_SECONDS": "3",
                                  "OPENAI_MAX_RETRIES": "0"})  # fmt: skip
        container = Container(settings=settings)
        try:
            assistant = await resolve(container.assistant())
            assert isinstance(assistant, OpenAiAssistant)
            answer = await assistant.answer(context("Hello"))
        finally:
            await resolve(container.shutdown_resources())

    assert answer.decision == Reply(message=TextMessage(body="Hello from the provider"))
    assert (answer.provider, answer.model) == ("openai", "local-model")
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-wiring-key"
    assert request.body["model"] == "local-model"
