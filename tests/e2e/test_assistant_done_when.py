"""The assistant's promises end to end, once with each provider: the offline rules assistant,
and the OpenAI adapter (the real SDK) against a local stand-in model. Customers write through
the Cloud API simulator's signed webhooks to the server on a real port (API, webhook and
workers), over real PostgreSQL; replies are counted where the simulator received them.

"Exactly one reply" is asserted only once the whole system is quiet: every subscriber has
handled the last recorded event, no assistant turn is due or running, the outbox holds no
unfinished message, every team notice went out and the simulator posted every status
webhook it owed (``Scene.settle``). Nothing is left that could send a second message.

A provider that is down is an OpenAI case only: the offline assistant makes no call that
can fail, so that test names the provider rather than skipping an offline variant.

A worker killed with SIGKILL mid-turn is in ``test_assistant_turn_processes.py``, with the
OpenAI adapter only: a turn is killed "mid-turn" while it waits on the provider, and the
stand-in server can hold an answer for as long as the test needs to aim the signal. The
offline assistant has nothing to wait on and answers in microseconds: a kill lands before
its call (the turn is not recorded, the next process takes it over after the lease) or
after it (the reply is in the outbox), both covered by that test and the outbox's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest

from domain.assistant import Escalate, Reply
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
)
from domain.conversation import conversation_stream
from domain.events import DomainEvent
from domain.handoff import ConversationEscalated
from entrypoints.container import resolve
from tests.support.openai_server import (
    Completion,
    Failure,
    Request,
    ScriptedOpenAi,
    Step,
    ToolCall,
    serving_openai,
)
from tests.support.receivers import HttpReceiver, http_receiver
from tests.support.sending import ACCESS_TOKEN, API_TOKEN, SendingWorld, sending_world
from tests.support.webhooks import APP_SECRET, PHONE_NUMBER_ID

PROVIDERS: Final = (pytest.param("offline", id="offline"), pytest.param("openai", id="openai"))
OPENAI_KEY: Final = "sk-done-when-0123456789abcdef"
SECRETS: Final = (OPENAI_KEY, APP_SECRET, ACCESS_TOKEN, API_TOKEN)
TURN_OUTCOMES: Final = (AssistantTurnCompleted, AssistantTurnFailed, AssistantTurnSkipped)

# One statement, one snapshot: nothing recorded that a subscriber has not handled, no turn
# due or running, no message waiting for a sender, no notice waiting for its channel.
QUIET: Final = """
select not exists (
           select 1 from subscriber_checkpoints c
           cross join (select tx, global_position from events
                       order by tx desc, global_position desc limit 1) head
           where (c.tx, c.position) < (head.tx, head.global_position))
       and not exists (select 1 from assistant_turns where requested > handled)
       and not exists (select 1 from outbox where status in ('queued', 'in_flight', 'retrying'))
       and not exists (select 1 from team_notices where delivered_at is null)
"""

# --- the stand-in model ------------------------------------------------------------------

GREETINGS: Final = {
    "French": "Bonjour ! Comment puis-je vous aider ?",
    "English": "Hello! How can I help you today?",
}
ASKED_LANGUAGE: Final = re.compile(r"Answer in (\w+)")
WANTS_A_PERSON: Final = re.compile(r"\b(conseiller|humain|person|human|agent)\b", re.IGNORECASE)


@dataclass
class StandInModel:
    """Answers like a chat model would in these scenarios: it follows the system prompt's
    "Answer in <language>", calls ``escalate_to_human`` with a reason when the customer's
    last message asks for a person, else greets. ``down``: every request answers 500."""

    down: bool = False

    def __call__(self, request: Request) -> Step:
        if self.down:
            return Failure(500, "The server had an error while processing your request.")
        system = " ".join(str(m["content"]) for m in request.messages if m["role"] == "system")
        language = ASKED_LANGUAGE.search(system)
        if language is None or language[1] not in GREETINGS:
            return Failure(400, "the system prompt names no language this model speaks")
        last = [m for m in request.messages if m["role"] == "user"][-1]["content"]
        if WANTS_A_PERSON.search(str(last)) and "escalate_to_human" in request.tool_names:
            reason = json.dumps({"reason": "The customer asked to talk to an advisor."})
            call = ToolCall("escalate_to_human", reason)
            return Completion(tool_calls=(call,), finish_reason="tool_calls")
        return Completion(GREETINGS[language[1]])


# --- the world ---------------------------------------------------------------------------


@dataclass
class Scene:
    world: SendingWorld
    provider: str
    openai: ScriptedOpenAi | None = None
    notices: HttpReceiver | None = None
    conversations: dict[str, str] = field(default_factory=dict)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.world.http

    async def writes(self, text: str, phone: str) -> str:
        return await self.world.customer_writes(text, phone=phone)

    async def settle(self) -> None:
        """Wait until nothing more can happen without a new message (see the module's doc)."""
        pool = await resolve(self.world.container.pool())

        async def quiet() -> bool:
            return bool(await pool.fetchval(QUIET))

        await self.world.eventually(quiet)
        await self.world.sim.drain()  # the status webhooks of what was sent...
        await self.world.eventually(quiet)  # ...and what they recorded, handled

    def replies_to(self, phone: str) -> list[str]:
        """The texts the simulator accepted for this customer, in order (no read receipts)."""
        return [text_of(b) for b in self.world.sim.sent_bodies() if b.get("to") == phone]

    async def events(self, phone: str) -> list[DomainEvent]:
        store = await resolve(self.world.container.event_store())
        recorded = await store.read_stream(conversation_stream(PHONE_NUMBER_ID, phone))
        return [r.event for r in recorded]

    async def outcomes(self, phone: str) -> list[DomainEvent]:
        return [e for e in await self.events(phone) if isinstance(e, TURN_OUTCOMES)]

    async def conversation(self, phone: str) -> dict[str, Any]:
        chat = await self.world.conversation_of(phone)
        answer = await self.http.get(f"/api/v1/conversations/{chat}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def listed(self, status: str) -> set[str]:
        answer = await self.http.get("/api/v1/conversations", params={"status": status})
        assert answer.status_code == 200, answer.text
        return {item["customer_phone"] for item in answer.json()["items"]}

    async def metrics(self) -> dict[str, Any]:
        answer = await self.http.get("/api/v1/metrics")
        assert answer.status_code == 200, answer.text
        current: dict[str, Any] = answer.json()["current"]
        return current

    def model_asked(self) -> int:
        """Requests the stand-in model received (none for the offline assistant)."""
        return len(self.openai.requests) if self.openai is not None else 0


def text_of(body: dict[str, Any]) -> str:
    if body.get("type") == "text":
        return str(body["text"]["body"])
    return str(body["interactive"]["body"]["text"])


@asynccontextmanager
async def scene(
    database_url: str,
    provider: str,
    model: StandInModel | None = None,
    notices: HttpReceiver | None = None,
    **settings: str,
) -> AsyncIterator[Scene]:
    """Automatic replies on, with ``provider``; team notices to ``notices`` when given."""
    settings["WAZYBOT_AUTO_REPLIES"] = "true"
    if notices is not None:
        settings["WAZYBOT_NOTIFY_WEBHOOK_URL"] = notices.url
    if provider == "offline":
        async with sending_world(database_url, None, **settings) as world:
            yield Scene(world, provider, notices=notices)
        return
    openai = ScriptedOpenAi(responder=model or StandInModel())
    async with serving_openai(openai) as openai_url:
        settings |= {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": openai_url,
                     "OPENAI_MAX_RETRIES": "0"}  # fmt: skip
        async with sending_world(database_url, None, **settings) as world:
            yield Scene(world, provider, openai, notices)


# --- the promises ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_greeting_gets_exactly_one_reply_in_the_customers_language(
    database_url: str, provider: str
) -> None:
    french, english = "33612346001", "15550006001"
    async with scene(database_url, provider) as s:
        await s.writes("Bonjour !", french)
        await s.writes("Hello there", english)
        await s.settle()
        french_replies, english_replies = s.replies_to(french), s.replies_to(english)
        (outcome,) = await s.outcomes(french)
        assert len(await s.outcomes(english)) == 1

    (to_french,) = french_replies
    (to_english,) = english_replies
    assert to_french.startswith("Bonjour"), to_french
    assert to_english.startswith(("Hello", "Hi")), to_english
    assert isinstance(outcome, AssistantTurnCompleted)
    assert outcome.provider == provider
    assert isinstance(outcome.decision, Reply)
    assert s.model_asked() == (2 if provider == "openai" else 0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_redelivered_webhook_gets_no_reply(database_url: str, provider: str) -> None:
    phone = "33612346002"
    async with scene(database_url, provider) as s:
        wamid, delivery = await s.world.sim.customer_sends(
            {"type": "text", "text": {"body": "Bonjour"}}, phone=phone
        )
        assert delivery.ok, delivery.error
        await s.settle()
        again = await s.world.sim.webhooks.post(delivery.body)  # the same body, signed again
        assert again.ok, again.error
        await s.settle()
        replies = s.replies_to(phone)
        found = await s.events(phone)

    assert len(replies) == 1
    (requested,) = [e for e in found if isinstance(e, AssistantTurnRequested)]
    assert requested.wamid == wamid
    assert len([e for e in found if isinstance(e, TURN_OUTCOMES)]) == 1
    assert s.model_asked() == (1 if provider == "openai" else 0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_throttled_customer_gets_no_reply(database_url: str, provider: str) -> None:
    phone = "33612346003"
    async with scene(database_url, provider, WAZYBOT_FLOOD_LIMIT="1") as s:
        await s.writes("Bonjour", phone)
        await s.settle()
        await s.writes("Vous êtes là ?", phone)  # a second message within the minute
        await s.settle()
        replies = s.replies_to(phone)
        answered, throttled = await s.outcomes(phone)

    assert len(replies) == 1
    assert isinstance(answered, AssistantTurnCompleted)
    assert isinstance(throttled, AssistantTurnSkipped)
    assert throttled.reason == "throttled"
    assert s.model_asked() == (1 if provider == "openai" else 0)


@pytest.mark.parametrize(
    "provider", [pytest.param("openai", id="openai-only_offline-makes-no-call-that-fails")]
)
async def test_a_provider_that_is_down_gives_one_fallback_per_message_then_a_handoff(
    database_url: str, provider: str
) -> None:
    phone = "15550006004"
    with http_receiver() as notices:
        async with scene(database_url, provider, StandInModel(down=True), notices) as s:
            changed = await s.http.patch("/api/v1/assistant", json={"max_consecutive_failures": 3})
            assert changed.status_code == 200, changed.text
            replies_after = []
            for text in ("Hello, do you deliver?", "Hello?", "Anyone there?", "Hello??"):
                await s.writes(text, phone)
                await s.settle()
                replies_after.append(len(s.replies_to(phone)))
            replies = s.replies_to(phone)
            outcomes = await s.outcomes(phone)
            (escalated,) = [
                e for e in await s.events(phone) if isinstance(e, ConversationEscalated)
            ]
            status = (await s.conversation(phone))["status"]
            listed = await s.listed("escalated")
            (notice,) = await notices.arrived(1)
            handoffs = (await s.metrics())["human_handoffs"]

    # A fallback for each of the first two messages, the handoff for the third, then silence.
    assert replies_after == [1, 2, 3, 3]
    fallback, second_fallback, handoff = replies
    assert fallback == second_fallback
    assert fallback.startswith("Sorry"), fallback
    assert "team" in handoff
    assert [type(o) for o in outcomes] == [AssistantTurnFailed] * 3 + [AssistantTurnSkipped]
    failures = [o for o in outcomes if isinstance(o, AssistantTurnFailed)]
    assert [f.consecutive_failures for f in failures] == [1, 2, 3]
    assert [f.escalated for f in failures] == [False, False, True]
    assert all(f.provider == "openai" and "500" in f.reason for f in failures)
    assert (escalated.cause, escalated.by) == ("repeated_failures", "system")
    assert (status, listed) == ("escalated", {phone})
    assert notice["details"]["cause"] == "repeated_failures"
    assert handoffs == 1
    assert s.model_asked() == 3  # nothing asked once the conversation was handed over


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_asking_for_an_advisor_hands_over_until_an_agent_resolves(
    database_url: str, provider: str
) -> None:
    phone = "33612346005"
    with http_receiver() as notices:
        async with scene(database_url, provider, notices=notices) as s:
            await s.writes("je veux parler à un conseiller", phone)
            await s.settle()
            (handoff,) = s.replies_to(phone)
            escalated_view = await s.conversation(phone)
            escalated_list = await s.listed("escalated")
            (notice,) = await notices.arrived(1)

            await s.writes("Vous êtes là ?", phone)  # the bot stays silent now
            await s.settle()
            assert len(s.replies_to(phone)) == 1

            chat = escalated_view["id"]
            agent = await s.world.send(chat, {"text": "Bonjour, c'est Paul. Je m'occupe de vous."})
            assert agent.status_code == 202, agent.text
            row = await s.world.row(chat, agent.json()["message_id"], "read")
            await s.settle()

            resolved = await s.http.post(f"/api/v1/conversations/{chat}/resolve")
            assert resolved.status_code == 200, resolved.text
            await s.writes("Bonjour, merci", phone)
            await s.settle()
            replies = s.replies_to(phone)
            outcomes = await s.outcomes(phone)
            back_view = await s.conversation(phone)
            figures = await s.metrics()
            notices_received = len(notices.bodies)
            asked = s.model_asked()

    # The handoff: escalated in the API, the team told once, without secrets or the number.
    assert "équipe" in handoff
    assert (escalated_view["status"], escalated_list) == ("escalated", {phone})
    cause = "customer_asked" if provider == "offline" else "assistant_decided"
    assert (escalated_view["escalation_cause"], escalated_view["escalated_by"]) == (cause, "ai")
    assert notice["event"] == "conversation.escalated"
    assert (notice["conversation_id"], notice["details"]["cause"]) == (chat, cause)
    assert "***6005" in notice["text"]
    assert not [leak for leak in (phone, *SECRETS) if leak in json.dumps(notice)]
    assert notices_received == 1  # resolving tells nobody
    # Silence while escalated, the agent's message delivered, the bot back after resolve.
    first, silent, after = outcomes
    assert isinstance(first, AssistantTurnCompleted)
    assert isinstance(first.decision, Escalate)
    assert isinstance(silent, AssistantTurnSkipped)
    assert silent.reason == "escalated"
    assert isinstance(after, AssistantTurnCompleted)
    assert isinstance(after.decision, Reply)
    assert replies[1:] == ["Bonjour, c'est Paul. Je m'occupe de vous.", replies[2]]
    assert replies[2].startswith("Bonjour"), replies[2]
    assert (row["status"], row["sender"]) == ("read", "agent")
    assert back_view["status"] == "bot"
    assert asked == (2 if provider == "openai" else 0)  # never while escalated
    # Three customer turns: the assistant answered the first (the handoff message) and the
    # third, the agent the second.
    assert {k: figures[k] for k in COUNTED} == {
        "messages_received": 3, "human_handoffs": 1, "ai_responses": 2, "agent_responses": 1,
        "conversations_awaiting_response": 3, "responded": 3,
        "ai_first_responses": 2, "agent_first_responses": 1,
    }  # fmt: skip
    for who in ("ai", "agent"):
        average = figures[f"{who}_first_response_seconds_avg"]
        assert average is not None
        assert average >= 0


COUNTED: Final = (
    "messages_received", "human_handoffs", "ai_responses", "agent_responses",
    "conversations_awaiting_response", "responded", "ai_first_responses", "agent_first_responses",
)  # fmt: skip
