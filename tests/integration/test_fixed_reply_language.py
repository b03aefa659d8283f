"""A business that fixed its language is answered in it, whatever language the customer
writes in: by the offline assistant and by the OpenAI adapter, through the whole turn."""

from __future__ import annotations

from domain.assistant_turns import AssistantTurnCompleted
from domain.language import detect_language
from tests.integration.test_assistant_turns import ON, text_of, wait_for_outcomes, wait_for_sent
from tests.support.openai_server import Completion, Request, ScriptedOpenAi, Step, serving_openai
from tests.support.sending import SendingWorld, sending_world


async def fix_language(world: SendingWorld, language: str) -> None:
    changed = await world.http.patch("/api/v1/assistant", json={"language": language})
    assert changed.status_code == 200, changed.text


async def test_the_offline_assistant_answers_a_french_greeting_in_the_fixed_english(
    database_url: str,
) -> None:
    phone = "33612345101"
    async with sending_world(database_url, **ON) as world:
        await fix_language(world, "en")
        await world.customer_writes("Bonjour, comment allez-vous ?", phone=phone)
        (reply,) = await wait_for_sent(world, phone, 1)
        (done,) = await wait_for_outcomes(world, phone, 1)

    assert isinstance(done, AssistantTurnCompleted)
    assert done.provider == "offline"
    assert detect_language(text_of(reply)) == "en", text_of(reply)


def answers_in_the_prompts_language(request: Request) -> Step:
    system = request.messages[0]["content"]
    return Completion(content="Hello! How can I help?" if "Answer in English" in system
                      else "Bonjour ! Comment puis-je vous aider ?")  # fmt: skip


async def test_the_openai_adapter_is_asked_for_the_fixed_english_to_a_french_customer(
    database_url: str,
) -> None:
    phone = "33612345102"
    openai = ScriptedOpenAi(responder=answers_in_the_prompts_language)
    async with serving_openai(openai) as openai_url:
        provider = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_url}
        async with sending_world(database_url, **provider, **ON) as world:
            await fix_language(world, "en")
            await world.customer_writes("Bonjour, vous êtes ouverts demain ?", phone=phone)
            (reply,) = await wait_for_sent(world, phone, 1)

    (request,) = openai.requests
    assert "Answer in English" in request.messages[0]["content"]
    assert "French" not in request.messages[0]["content"]
    assert text_of(reply) == "Hello! How can I help?"
