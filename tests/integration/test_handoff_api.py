"""Escalate, resolve and mark read over real HTTP and real PostgreSQL: the server in this
process with its workers and projections, customers writing through the simulator's
signed webhooks."""

from __future__ import annotations

from typing import Any

import httpx

from application.businesses import Business
from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world

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
