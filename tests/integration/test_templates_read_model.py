"""The templates read model on PostgreSQL: kept from sync events and Meta's template webhooks,
idempotent, rebuildable, paged for the API."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from adapters.memory.templates import InMemoryTemplateGateway
from adapters.postgres.projection_admin import PostgresProjectionAdmin
from adapters.postgres.read_models import TemplatesProjection
from adapters.postgres.templates import PostgresTemplateBook
from application.gateway import AccessToken
from application.read_models import QueryError
from application.templates import MetaTemplate, TemplateService, WabaAccess, prepare_template
from domain.outbound import TemplateMessage
from tests.support.read_model_tables import table_rows
from tests.support.read_models import Projected, projected
from tests.support.webhooks import ACCOUNT_ID, webhook

WABA = WabaAccess(ACCOUNT_ID, AccessToken("EAAG-acme"))
BODY: list[dict[str, Any]] = [
    {"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Ada"]]}}
]


def status_change(name: str, language: str, event: str, at: int) -> dict[str, Any]:
    body = webhook({"field": "message_template_status_update", "value": {
        "event": event, "message_template_id": 1689556908129832,
        "message_template_name": name, "message_template_language": language,
        "reason": "NONE", "message_template_category": "UTILITY"}})  # fmt: skip
    body["entry"][0]["time"] = at
    return body


def quality_change(name: str, language: str, score: str, at: int) -> dict[str, Any]:
    body = webhook({"field": "message_template_quality_update", "value": {
        "previous_quality_score": "GREEN", "new_quality_score": score,
        "message_template_id": 1689556908129832, "message_template_name": name,
        "message_template_language": language}})  # fmt: skip
    body["entry"][0]["time"] = at
    return body


def at_meta(
    meta: InMemoryTemplateGateway, name: str, language: str, status: str = "APPROVED"
) -> None:
    meta.add(ACCOUNT_ID, MetaTemplate(f"1{len(name)}{language}", name, language, status,
                                      "UTILITY", BODY))  # fmt: skip


async def templates_events(app: Projected) -> int:
    (row,) = await app.rows("select count(*) as n from events where type like 'template.%'")
    return int(row["n"])


@pytest.fixture
def meta() -> InMemoryTemplateGateway:
    return InMemoryTemplateGateway(page_size=2)


async def test_sync_then_webhooks_keep_one_row_per_name_and_language(
    pool: asyncpg.Pool[Any], database_url: str, meta: InMemoryTemplateGateway
) -> None:
    at_meta(meta, "order_confirmation", "en_US", "PENDING")
    at_meta(meta, "order_confirmation", "fr")
    at_meta(meta, "welcome", "en")
    book = PostgresTemplateBook(pool)
    async with projected(pool, database_url, [TemplatesProjection()]) as app:
        service = TemplateService(meta, book, app.store)
        first = await service.sync("acme", WABA)
        await app.caught_up()
        again = await service.sync("acme", WABA)
        await app.deliver(status_change("order_confirmation", "en_US", "APPROVED", 4_000_000_000),
                          quality_change("welcome", "en", "YELLOW", 4_000_000_000))  # fmt: skip
        await app.caught_up()
        rows = await app.rows("select name, language, status, quality, components, category "
                              "from templates order by name, language")  # fmt: skip
        prepared = await prepare_template(book, "acme", TemplateMessage(
            name="order_confirmation", language="en_US", body_parameters=("Ada",)))  # fmt: skip

    assert (first.listed, first.changed, first.removed) == (3, 3, 0)
    assert (again.changed, again.removed) == (0, 0)
    assert [(r["name"], r["language"], r["status"], r["quality"]) for r in rows] == [
        ("order_confirmation", "en_US", "APPROVED", None),
        ("order_confirmation", "fr", "APPROVED", None),
        ("welcome", "en", "APPROVED", "YELLOW"),
    ]
    assert {r["category"] for r in rows} == {"UTILITY"}
    assert rows[0]["components"] is not None
    assert prepared.name == "order_confirmation"


async def test_a_template_gone_from_meta_is_marked_deleted_and_the_log_grows_once(
    pool: asyncpg.Pool[Any], database_url: str, meta: InMemoryTemplateGateway
) -> None:
    at_meta(meta, "promo", "en")
    at_meta(meta, "kept", "en")
    book = PostgresTemplateBook(pool)
    async with projected(pool, database_url, [TemplatesProjection()]) as app:
        service = TemplateService(meta, book, app.store)
        await service.sync("acme", WABA)
        await app.caught_up()
        await meta.delete(WABA, "promo")
        gone = await service.sync("acme", WABA)
        await app.caught_up()
        await service.sync("acme", WABA)
        events = await templates_events(app)
        rows = await app.rows("select name, status from templates order by name")

    assert gone.removed == 1
    assert events == 3
    assert [(r["name"], r["status"]) for r in rows] == [("kept", "APPROVED"), ("promo", "DELETED")]


async def test_replaying_or_rebuilding_gives_the_same_rows(
    pool: asyncpg.Pool[Any], database_url: str, meta: InMemoryTemplateGateway
) -> None:
    for n in range(5):
        at_meta(meta, f"t{n}", "en", "PENDING")
    book = PostgresTemplateBook(pool)
    async with projected(pool, database_url, [TemplatesProjection()]) as app:
        service = TemplateService(meta, book, app.store)
        await service.sync("acme", WABA)
        await app.deliver(*(status_change(f"t{n}", "en", "APPROVED", 4_000_000_000 + n)
                            for n in range(3)))  # fmt: skip
        await app.caught_up()
        await meta.delete(WABA, "t4")
        await service.sync("acme", WABA)
        await app.caught_up()
        live = await table_rows(pool, "public", "templates")
        await PostgresProjectionAdmin(database_url, app.store).rebuild("templates", batch=2)
        rebuilt = await table_rows(pool, "public", "templates")

    assert [r["status"] for r in sorted(live, key=lambda r: r["name"])] == [
        "APPROVED",
        "APPROVED",
        "APPROVED",
        "PENDING",
        "DELETED",
    ]
    assert rebuilt == live


async def test_pages_filter_by_status_and_language_and_stay_in_one_business(
    pool: asyncpg.Pool[Any], database_url: str, meta: InMemoryTemplateGateway
) -> None:
    for n in range(5):
        at_meta(meta, f"t{n}", "en")
        at_meta(meta, f"t{n}", "fr", "REJECTED")
    book = PostgresTemplateBook(pool)
    async with projected(pool, database_url, [TemplatesProjection()]) as app:
        await TemplateService(meta, book, app.store).sync("acme", WABA)
        await app.caught_up()
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        items, cursor = await book.page("acme", limit=3, cursor=cursor)
        seen.extend((t.name, t.language) for t in items)
        if cursor is None:
            break
    approved, _ = await book.page("acme", status="APPROVED")
    french, _ = await book.page("acme", language="fr", limit=50)
    other, _ = await book.page("globex")

    assert seen == sorted((f"t{n}", lang) for n in range(5) for lang in ("en", "fr"))
    assert {(t.language, t.status) for t in approved} == {("en", "APPROVED")}
    assert len(french) == 5
    assert other == []
    with pytest.raises(QueryError):
        await book.page("acme", cursor="not-a-cursor")
