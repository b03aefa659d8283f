"""GET and PATCH /api/v1/assistant over real HTTP and real PostgreSQL: the server in this
process, the settings stored as events."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from application.assistant_settings import AssistantSettingsService
from application.businesses import Business
from domain.assistant_settings import DEFAULT_FALLBACK_FR, AssistantSettings, settings_stream
from entrypoints.container import resolve
from tests.support.sending import SendingWorld, sending_world


async def create_token(world: SendingWorld, business_id: str) -> str:
    tokens = await resolve(world.container.api_tokens())
    registry = await resolve(world.container.business_registry())
    await registry.add(Business(id=business_id, name="Globex", phone_number_ids=("2233445566778",)))
    issued = await tokens.create(business_id, "test")
    token: str = issued.token
    return token


async def events_of(world: SendingWorld, business_id: str) -> list[Any]:
    store = await resolve(world.container.event_store())
    return [r.event for r in await store.read_stream(settings_stream(business_id))]


async def test_the_defaults_then_a_partial_change_then_the_same_change_again(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        first = await world.http.get("/api/v1/assistant")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["auto_reply"] is True
        assert body["language"] == "auto"
        assert body["max_consecutive_failures"] == 2
        assert body["fallback_message_fr"] == DEFAULT_FALLBACK_FR
        assert body["pause_after_human_minutes"] == 720
        assert body["group_auto_replies"] is False
        assert (body["version"], body["updated_at"]) == (0, None)

        change = {"auto_reply": False, "escalation_keywords": ["humain", " agent "],
                  "instructions": "Vouvoyez le client.", "language": None}  # fmt: skip
        changed = await world.http.patch("/api/v1/assistant", json=change)
        assert changed.status_code == 200, changed.text
        after = changed.json()
        assert after["auto_reply"] is False
        assert after["escalation_keywords"] == ["humain", "agent"]
        assert after["instructions"] == "Vouvoyez le client."
        assert after["language"] == "auto"  # null keeps the value
        assert after["version"] == 1
        assert after["updated_at"] is not None
        assert (await world.http.get("/api/v1/assistant")).json() == after

        again = await world.http.patch("/api/v1/assistant", json=change)
        assert again.json() == after  # a retried request records nothing new
        events = await events_of(world, "default")
        assert len(events) == 1
        assert set(events[0].changes.given()) == {"auto_reply", "escalation_keywords",
                                                  "instructions"}  # fmt: skip


async def test_a_wrong_field_is_refused_by_name_and_changes_nothing(database_url: str) -> None:
    async with sending_world(database_url) as world:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"max_consecutive_failures": 0, "auto_reply": False}, "max_consecutive_failures"),
            ({"language": "de"}, "language"),
            ({"fallback_message_en": "   "}, "fallback_message_en"),
            ({"pause_after_human_minutes": "12h"}, "pause_after_human_minutes"),
            ({"auto_reply": "off"}, "auto_reply"),
            ({"instructions": "x" * 4001}, "instructions"),
            ({"group_auto_replies": True, "auto_reply": False}, "group_auto_replies"),
        ]
        for body, field in cases:
            answer = await world.http.patch("/api/v1/assistant", json=body)
            assert answer.status_code == 400, (body, answer.text)
            error = answer.json()
            assert (error["error"], error["parameter"]) == ("bad_payload", field), error
            assert field in error["message"]
            if field == "group_auto_replies":
                assert "cannot send to groups" in error["message"], error
        unknown = await world.http.patch("/api/v1/assistant", json={"autoreply": False})
        assert unknown.status_code == 400
        assert "autoreply" in unknown.json()["message"]
        not_json = await world.http.patch("/api/v1/assistant", content=b"{",
                                          headers={"content-type": "application/json"})  # fmt: skip
        assert not_json.json()["error"] == "invalid_json"
        assert await events_of(world, "default") == []


async def test_each_token_sees_and_changes_its_own_business_only(database_url: str) -> None:
    async with sending_world(database_url) as world:
        globex = await create_token(world, "globex")
        headers = {"Authorization": f"Bearer {globex}"}
        answer = await world.http.patch("/api/v1/assistant", json={"language": "en"},
                                        headers=headers)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert (await world.http.get("/api/v1/assistant")).json()["language"] == "auto"
        theirs = await world.http.get("/api/v1/assistant", headers=headers)
        assert theirs.json()["language"] == "en"
        anonymous = await world.http.get("/api/v1/assistant", headers={"Authorization": ""})
        assert anonymous.status_code == 401


async def test_concurrent_changes_of_different_fields_all_take_effect(database_url: str) -> None:
    async with sending_world(database_url) as world:
        changes = [{"max_consecutive_failures": 3}, {"language": "fr"}, {"auto_reply": False},
                   {"business_hours": "9h-18h"}, {"pause_after_human_minutes": 60}]  # fmt: skip
        answers = await asyncio.gather(
            *(world.http.patch("/api/v1/assistant", json=c) for c in changes)
        )
        assert [a.status_code for a in answers] == [200] * len(changes)
        final = (await world.http.get("/api/v1/assistant")).json()
        for change in changes:
            assert {k: final[k] for k in change} == change
        assert final["version"] == len(changes)


async def test_a_change_through_the_api_reaches_another_process_reading_the_log(
    database_url: str,
) -> None:
    async with sending_world(database_url) as world:
        store = await resolve(world.container.event_store())
        elsewhere = AssistantSettingsService(store)  # what the reply flow of a worker holds
        assert (await elsewhere.current("default")).settings == AssistantSettings()
        await world.http.patch("/api/v1/assistant", json={"auto_reply": False})
        assert (await elsewhere.current("default")).settings.auto_reply is False


async def test_the_api_answers_with_a_client_of_its_own(database_url: str) -> None:
    async with sending_world(database_url) as world:
        async with httpx.AsyncClient(base_url=str(world.http.base_url)) as bare:
            answer = await bare.patch("/api/v1/assistant", json={"auto_reply": False})
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
