"""Escalate, resolve and mark read over real HTTP and real PostgreSQL: the server in this
process with its workers and projections, customers writing through the simulator's
signed webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from application.businesses import Business
from application.sending import SendCommand
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from domain.outbound import TextMessage
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world
from tests.support.webhook_receiver import WebhookReceiver, receiving

ANA = "15550003001"
BO = "15550003002"


async def token_for(world: SendingWorld, business_id: str, name: str) -> str:
    tokens = await resolve(world.container.api_tokens())
    if business_id != "default":
        registry = await resolve(world.container.business_registry())
        await registry.add(Business(id=business_id, name="Globex",
                                    phone_number_ids=("2233445566779",)))  # fmt: skip
    token: str = (await tokens.create(business_id, name)).token
    return token


async def handoff_events(world: SendingWorld) -> list[Any]:
    pool = await resolve(world.container.pool())
    store = await resolve(world.container.event_store())
    rows = await pool.fetch(
        "select stream_id, version, global_position, tx::text as tx_text, event_id, type, data,"
        " metadata, recorded_at from events where type like 'conversation.%'"
        " order by global_position"
    )
    return [store.decode_row(row).event for row in rows]


async def conversation(world: SendingWorld, chat: str) -> dict[str, Any]:
    answer = await world.http.get(f"/api/v1/conversations/{chat}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def shown(world: SendingWorld, chat: str, **expected: Any) -> dict[str, Any]:
    """The conversation once the read model shows ``expected``."""

    async def matches() -> dict[str, Any] | None:
        found = await conversation(world, chat)
        return found if all(found[k] == v for k, v in expected.items()) else None

    row: dict[str, Any] = await world.eventually(matches)
    return row


async def listed(world: SendingWorld, status: str) -> set[str]:
    answer = await world.http.get("/api/v1/conversations", params={"status": status})
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


async def test_an_agent_takes_a_conversation_over_and_gives_it_back(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("I need help", ANA)
        await world.customer_writes("Hello?", BO)
        chat, other = await world.conversation_of(ANA), await world.conversation_of(BO)
        assert (await conversation(world, chat))["status"] == "bot"

        escalated = await world.http.post(
            f"/api/v1/conversations/{chat}/escalate",
            json={"assignee": "Marie", "reason": "Refund over 500 EUR"},
        )
        assert escalated.status_code == 200, escalated.text
        body = escalated.json()
        assert (body["id"], body["status"], body["assignee"]) == (chat, "escalated", "Marie")
        assert (body["escalation_cause"], body["escalation_reason"], body["escalated_by"]) == (
            "agent_took_over", "Refund over 500 EUR", "agent",
        )  # fmt: skip
        assert body["escalated_at"] is not None
        row = await shown(world, chat, status="escalated")
        assert {k: row[k] for k in body if k != "last_activity_at"} == {
            k: body[k] for k in body if k != "last_activity_at"
        }
        assert await listed(world, "escalated") == {chat}
        assert await listed(world, "bot") == {other}

        again = await world.http.post(f"/api/v1/conversations/{chat}/escalate")
        assert again.status_code == 409, again.text
        assert again.json()["error"] == "conflict"
        assert "already escalated to Marie" in again.json()["message"]

        resolved = await world.http.post(f"/api/v1/conversations/{chat}/resolve")
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "bot"
        assert resolved.json()["assignee"] is None
        assert resolved.json()["escalation_cause"] is None
        await shown(world, chat, status="bot", assignee=None, escalated_at=None)
        assert await listed(world, "escalated") == set()

        twice = await world.http.post(f"/api/v1/conversations/{chat}/resolve")
        assert twice.status_code == 409, twice.text
        assert twice.json()["error"] == "conflict"
        assert "not escalated" in twice.json()["message"]
        # Refusals recorded nothing: one escalation, one resolution.
        events = await handoff_events(world)
        assert [type(e) for e in events] == [ConversationEscalated, ConversationResolved]
        assert events[0].assignee == "Marie"
        assert events[0].by == "agent"


async def test_the_agents_token_name_is_the_default_assignee(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        token = await token_for(world, "default", "Lucie")
        headers = {"Authorization": f"Bearer {token}"}

        answer = await world.http.post(f"/api/v1/conversations/{chat}/escalate", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["assignee"] == "Lucie"
        assert answer.json()["escalation_reason"] == "An agent took over the conversation."
        resolved = await world.http.post(f"/api/v1/conversations/{chat}/resolve", headers=headers)
        assert resolved.status_code == 200, resolved.text
        (_, resolution) = await handoff_events(world)
        assert isinstance(resolution, ConversationResolved)
        assert resolution.by == "Lucie"


async def test_unknown_foreign_and_malformed_requests_change_nothing(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        foreign = {"Authorization": f"Bearer {await token_for(world, 'globex', 'x')}"}
        for action in ("escalate", "resolve", "read"):
            for target, headers in ((chat, foreign), ("c_unknown0000000000000000", {}),
                                    ("no such id", {})):  # fmt: skip
                answer = await world.http.post(
                    f"/api/v1/conversations/{target}/{action}", headers=headers
                )
                assert answer.status_code == 404, (action, target, answer.text)
                assert answer.json()["error"] == "not_found"

        too_long = await world.http.post(
            f"/api/v1/conversations/{chat}/escalate", json={"assignee": "x" * 101}
        )
        assert too_long.status_code == 400, too_long.text
        assert (too_long.json()["error"], too_long.json()["parameter"]) == (
            "invalid_parameter", "assignee",
        )  # fmt: skip
        unknown_field = await world.http.post(
            f"/api/v1/conversations/{chat}/escalate", json={"asignee": "Marie"}
        )
        assert unknown_field.status_code == 400, unknown_field.text
        anonymous = httpx.AsyncClient(base_url=str(world.http.base_url))
        async with anonymous:
            refused = await anonymous.post(f"/api/v1/conversations/{chat}/escalate")
        assert refused.status_code == 401
        assert await handoff_events(world) == []
        assert (await conversation(world, chat))["status"] == "bot"


async def test_marking_read_zeroes_the_unread_count_until_new_messages(database_url: str) -> None:
    async with sending_world(database_url) as world:
        for text in ("one", "two", "three"):
            await world.customer_writes(text, ANA)
        chat = await world.conversation_of(ANA)
        await shown(world, chat, unread_count=3)

        read = await world.http.post(f"/api/v1/conversations/{chat}/read")
        assert read.status_code == 200, read.text
        assert (read.json()["unread_count"], read.json()["status"]) == (0, "bot")
        await shown(world, chat, unread_count=0)
        again = await world.http.post(f"/api/v1/conversations/{chat}/read")
        assert again.status_code == 200
        assert again.json()["unread_count"] == 0
        assert [type(e) for e in await handoff_events(world)] == [ConversationMarkedRead]

        await world.customer_writes("four", ANA)
        await shown(world, chat, unread_count=1)
        await world.customer_writes("five", ANA)
        await shown(world, chat, unread_count=2)
        assert (await world.http.post(f"/api/v1/conversations/{chat}/read")).status_code == 200
        await shown(world, chat, unread_count=0)
        assert len(await handoff_events(world)) == 2


async def notices_caught_up(world: SendingWorld) -> None:
    """The notices subscriber has seen every event recorded so far."""
    pool = await resolve(world.container.pool())
    head = await pool.fetchval("select max(global_position) from events")

    async def caught_up() -> bool:
        position = await pool.fetchval(
            "select position from subscriber_checkpoints where name = 'team-notices'"
        )
        return position is not None and position >= head

    await world.eventually(caught_up)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with receiving(b"unused") as notices:
        yield notices


async def test_an_escalation_notifies_the_team_once(
    database_url: str, receiver: WebhookReceiver
) -> None:
    async with sending_world(database_url, WAZYBOT_NOTIFY_WEBHOOK_URL=receiver.url) as world:
        await world.customer_writes("Call me on +33 6 12 34 56 78", ANA)
        chat = await world.conversation_of(ANA)
        answer = await world.http.post(
            f"/api/v1/conversations/{chat}/escalate",
            json={"assignee": "Marie", "reason": "Asked to be called on 33612345678"},
        )
        assert answer.status_code == 200, answer.text
        (notice,) = [r.body for r in await receiver.wait_for(1)]
        # Resolving and marking read tell nobody.
        await world.http.post(f"/api/v1/conversations/{chat}/resolve")
        await world.http.post(f"/api/v1/conversations/{chat}/read")
        await notices_caught_up(world)

    assert notice["event"] == "conversation.escalated"
    assert (notice["business_id"], notice["conversation_id"]) == ("default", chat)
    assert notice["text"] == (
        f"Conversation {chat} with customer ***3001 (business default) needs a person "
        "(an agent took over, assigned to Marie): Asked to be called on ***5678"
    )
    assert notice["details"]["cause"] == "agent_took_over"
    assert ANA not in str(notice)
    assert "33612345678" not in str(notice)
    assert len(receiver.received) == 1


async def metrics_now(world: SendingWorld) -> dict[str, Any]:
    answer = await world.http.get("/api/v1/metrics")
    assert answer.status_code == 200, answer.text
    current: dict[str, Any] = answer.json()["current"]
    return current


async def test_metrics_count_handoffs_and_replies_of_the_assistant_and_of_agents(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hello", ANA)
        await world.customer_writes("Hello", BO)
        chat, other = await world.conversation_of(ANA), await world.conversation_of(BO)
        before = await metrics_now(world)
        assert (before["human_handoffs"], before["ai_responses"], before["agent_responses"]) == (
            0, 0, 0,
        )  # fmt: skip
        assert before["ai_first_response_seconds_avg"] is None

        sending = await resolve(world.container.message_sending())
        for _ in range(2):  # the assistant answers Bo twice: one first response
            await sending.send(SendCommand(
                business_id="default", conversation_id=other,
                message=TextMessage(body="Hi! How can I help?"), requested_by="ai", cause="test",
            ))  # fmt: skip
        escalated = await world.http.post(f"/api/v1/conversations/{chat}/escalate")
        assert escalated.status_code == 200, escalated.text
        sent = await world.send(chat, {"text": "Marie here, how can I help?"})
        assert sent.status_code == 202, sent.text

        async def counted() -> dict[str, Any] | None:
            figures = await metrics_now(world)
            done = figures["agent_first_responses"] == 1 and figures["ai_first_responses"] == 1
            return figures if done else None

        figures = await world.eventually(counted)
        assert (figures["human_handoffs"], figures["ai_responses"]) == (1, 2)
        assert figures["agent_responses"] == 1
        for who in ("ai", "agent"):
            average = figures[f"{who}_first_response_seconds_avg"]
            assert average is not None
            assert average >= 0
            assert figures[f"{who}_first_response_seconds_p90"] == average  # a single turn each
        # The existing figures keep their meaning: messages counted at their first status.
        assert figures["messages_received"] == 2
        series = await world.http.get("/api/v1/metrics/timeseries")
        assert series.status_code == 200, series.text
        points = series.json()["points"]
        assert sum(p["human_handoffs"] for p in points) == 1
        assert sum(p["agent_responses"] for p in points) == 1
        assert sum(p["ai_responses"] for p in points) == 2
