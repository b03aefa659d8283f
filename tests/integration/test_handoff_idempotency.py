"""Escalate, resolve and mark read with an Idempotency-Key, over real HTTP and real
PostgreSQL: a repeat gets the first answer and records nothing, another request under the
same key is refused, keys belong to one business, and racing repeats record once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from domain.handoff import ConversationEscalated, ConversationMarkedRead, ConversationResolved
from tests.integration.test_handoff_api import ANA, handoff_events, shown, token_for
from tests.support.sending import SendingWorld, sending_world


async def post(
    world: SendingWorld, chat: str, action: str, key: str | bytes | None, **options: Any
) -> httpx.Response:
    headers: dict[str, str | bytes] = {"Idempotency-Key": key} if key is not None else {}
    headers |= options.pop("headers", {})
    return await world.http.post(f"/api/v1/conversations/{chat}/{action}", headers=headers,
                                 **options)  # fmt: skip


def refused_for_reuse(answer: httpx.Response) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "idempotency_key_reused"
    assert answer.json()["parameter"] == "Idempotency-Key"


async def test_a_repeated_escalation_gets_the_first_answer_and_records_nothing(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("I need help", ANA)
        chat = await world.conversation_of(ANA)
        asked = {"assignee": "Marie", "reason": "Refund"}

        first = await post(world, chat, "escalate", "esc-1", json=asked)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "escalated"
        again = await post(world, chat, "escalate", "esc-1", json=asked)
        assert (again.status_code, again.json()) == (200, first.json())

        refused_for_reuse(await post(world, chat, "escalate", "esc-1",
                                     json={"assignee": "Paul", "reason": "Refund"}))  # fmt: skip
        refused_for_reuse(await post(world, chat, "resolve", "esc-1"))
        refused_for_reuse(await post(world, chat, "read", "esc-1"))
        without_key = await post(world, chat, "escalate", None, json=asked)
        assert without_key.status_code == 409, without_key.text

        resolved = await post(world, chat, "resolve", "res-1")
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "bot"
        await shown(world, chat, status="bot")
        # Long after, the first key still answers what it answered, and changes nothing.
        late = await post(world, chat, "escalate", "esc-1", json=asked)
        assert (late.status_code, late.json()) == (200, first.json())
        resolved_again = await post(world, chat, "resolve", "res-1")
        assert (resolved_again.status_code, resolved_again.json()) == (200, resolved.json())
        events = await handoff_events(world)
        await shown(world, chat, status="bot")

    assert [type(e) for e in events] == [ConversationEscalated, ConversationResolved]
    assert events[0].assignee == "Marie"


async def test_an_omitted_body_and_an_empty_one_are_the_same_request(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        first = await post(world, chat, "escalate", "empty-body")
        again = await post(world, chat, "escalate", "empty-body", json={})
        events = await handoff_events(world)

    assert first.status_code == 200, first.text
    assert (again.status_code, again.json()) == (200, first.json())
    assert len(events) == 1


async def test_marking_read_with_a_key_answers_the_first_answer_again(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("one", ANA)
        chat = await world.conversation_of(ANA)
        await shown(world, chat, unread_count=1)
        first = await post(world, chat, "read", "read-1")
        assert first.status_code == 200, first.text
        await world.customer_writes("two", ANA)
        await shown(world, chat, unread_count=1)

        again = await post(world, chat, "read", "read-1")
        unread = await shown(world, chat, unread_count=1)  # the repeat marked nothing read
        events = await handoff_events(world)

    assert (again.status_code, again.json()) == (200, first.json())
    assert again.json()["unread_count"] == 0
    assert unread["unread_count"] == 1
    assert [type(e) for e in events] == [ConversationMarkedRead]


async def test_keys_belong_to_one_business(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        first = await post(world, chat, "escalate", "shared-key")
        assert first.status_code == 200, first.text
        foreign = {"Authorization": f"Bearer {await token_for(world, 'globex', 'x')}"}

        # The same key and request from another business is not its repeat: never the
        # other business's answer, only what that business may see.
        other = await post(world, chat, "escalate", "shared-key", headers=foreign)
        events = await handoff_events(world)

    assert other.status_code == 404, other.text
    assert other.json()["error"] == "not_found"
    assert len(events) == 1


async def test_racing_requests_with_one_key_record_one_escalation_and_get_one_answer(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        asked = {"assignee": "Marie"}

        answers = await asyncio.gather(
            *(post(world, chat, "escalate", "race-1", json=asked) for _ in range(6))
        )
        events = await handoff_events(world)

    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert [type(e) for e in events] == [ConversationEscalated]


async def test_a_malformed_key_is_refused_and_changes_nothing(database_url: str) -> None:
    async with sending_world(database_url) as world:
        await world.customer_writes("Hi", ANA)
        chat = await world.conversation_of(ANA)
        answers = [await post(world, chat, action, key)
                   for action in ("escalate", "resolve", "read")
                   for key in ("", "with space", "x" * 256, "é".encode())]  # fmt: skip
        events = await handoff_events(world)

    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["parameter"] == "Idempotency-Key"
    assert events == []
