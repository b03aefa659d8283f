"""Templates with fakes: sync, create, delete, the template webhooks, and the send check."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.memory.event_store import InMemoryEventStore
from adapters.memory.templates import InMemoryTemplateBook, InMemoryTemplateGateway
from application.codec import EventCodec
from application.event_log import NewEvent
from application.gateway import AccessToken, GatewayError
from application.templates import (
    MetaTemplate,
    TemplateError,
    TemplateService,
    WabaAccess,
    prepare_template,
)
from domain.account import (
    TemplateQualityUpdated,
    TemplateStatusUpdated,
    business_stream,
)
from domain.event_types import EVENT_TYPES
from domain.inbound import TemplateQuality, TemplateStatus
from domain.outbound import TemplateButton, TemplateMediaHeader, TemplateMessage
from domain.template_definitions import validate_new_template

ACME = "acme"
WABA = WabaAccess("102290129340398", AccessToken("EAAG-acme"))
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BODY: list[dict[str, Any]] = [
    {"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Ada"]]}}
]
SHIPPED: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "DOCUMENT"},
    {"type": "BODY", "text": "Invoice {{1}}"},
    {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": "Thanks"},
        {"type": "URL", "text": "Pay", "url": "https://acme.test/pay/{{1}}"},
    ]},
]  # fmt: skip


class World:
    def __init__(self) -> None:
        self.store = InMemoryEventStore(EventCodec(EVENT_TYPES))
        self.meta = InMemoryTemplateGateway(page_size=2)
        self.book = InMemoryTemplateBook(self.store)
        ticks = itertools.count()
        self.service = TemplateService(
            self.meta, self.book, self.store, clock=lambda: T0 + timedelta(minutes=next(ticks))
        )
        self.ids = itertools.count(1)

    def at_meta(self, name: str, language: str, status: str = "APPROVED",
                components: list[dict[str, Any]] | None = None, quality: str | None = None,
                ) -> None:  # fmt: skip
        template = MetaTemplate(f"77{name}{language}", name, language, status, "UTILITY",
                                components or BODY, quality)  # fmt: skip
        self.meta.add(WABA.account_id, template)

    async def sync(self) -> tuple[int, int]:
        result = await self.service.sync(ACME, WABA)
        await self.book.catch_up()
        return result.changed, result.removed

    async def webhook(self, name: str, language: str, status: str, at: datetime) -> None:
        update = TemplateStatus(account_id=WABA.account_id, template_id=f"77{name}{language}",
                                name=name, language=language, status=status, at=at)  # fmt: skip
        event = TemplateStatusUpdated(business_id=ACME, template=update)
        await self.store.append(business_stream(ACME), [NewEvent(event, uuid.uuid4())])
        await self.book.catch_up()

    async def status(self, name: str, language: str) -> str | None:
        stored = await self.book.template(ACME, name, language)
        return stored.status if stored else None

    async def events(self) -> list[str]:
        return [r.type for r in await self.store.read_stream(business_stream(ACME))]


@pytest.fixture
def world() -> World:
    return World()


async def test_sync_stores_every_page_and_an_unchanged_sync_appends_nothing(world: World) -> None:
    for n in range(5):
        world.at_meta(f"t{n}", "en")

    assert await world.sync() == (5, 0)
    assert await world.sync() == (0, 0)  # nothing changed at Meta: nothing new in the log

    assert len(await world.events()) == 5
    stored = await world.book.all_templates(ACME)
    assert [(t.name, t.status, t.components) for t in stored] == [
        (f"t{n}", "APPROVED", BODY) for n in range(5)
    ]


async def test_a_sync_repeated_before_the_read_model_caught_up_appends_nothing(
    world: World,
) -> None:
    world.at_meta("t", "en")

    await world.service.sync(ACME, WABA)
    await world.service.sync(ACME, WABA)  # the book has not seen the first sync yet

    assert await world.events() == ["template.synced"]


async def test_a_change_at_meta_is_recorded_once(world: World) -> None:
    world.at_meta("t", "en")
    await world.sync()
    world.at_meta("t", "en", status="PAUSED", quality="RED")

    assert await world.sync() == (1, 0)
    stored = await world.book.template(ACME, "t", "en")
    assert stored is not None
    assert (stored.status, stored.quality) == ("PAUSED", "RED")


async def test_a_template_gone_from_meta_is_marked_deleted_once(world: World) -> None:
    world.at_meta("t", "en")
    world.at_meta("t", "fr")
    await world.sync()
    await world.meta.delete(WABA, "t")
    world.at_meta("t", "en")

    assert await world.sync() == (0, 1)
    assert await world.sync() == (0, 0)
    assert (await world.status("t", "fr"), await world.status("t", "en")) == ("DELETED", "APPROVED")


async def test_webhooks_keep_the_synced_rows_current(world: World) -> None:
    world.at_meta("t", "en", status="PENDING")
    await world.sync()

    await world.webhook("t", "en", "APPROVED", T0 + timedelta(hours=1))
    quality = TemplateQuality(account_id=WABA.account_id, template_id="77ten", name="t",
                              language="en", previous_score="GREEN", new_score="YELLOW",
                              at=T0 + timedelta(hours=2))  # fmt: skip
    await world.store.append(business_stream(ACME), [
        NewEvent(TemplateQualityUpdated(business_id=ACME, template=quality), uuid.uuid4())
    ])  # fmt: skip
    await world.book.catch_up()

    stored = await world.book.template(ACME, "t", "en")
    assert stored is not None
    assert (stored.status, stored.quality, stored.components) == ("APPROVED", "YELLOW", BODY)


async def test_an_older_webhook_never_undoes_a_newer_sync(world: World) -> None:
    world.at_meta("t", "en")
    await world.sync()

    await world.webhook("t", "en", "PENDING", T0 - timedelta(days=1))

    assert await world.status("t", "en") == "APPROVED"


async def test_content_that_comes_back_after_a_webhook_is_recorded_again(world: World) -> None:
    world.at_meta("t", "en")
    await world.sync()
    await world.webhook("t", "en", "PAUSED", T0 + timedelta(seconds=30))

    assert await world.sync() == (1, 0)  # approved, paused, approved again: not a duplicate
    assert await world.status("t", "en") == "APPROVED"


async def test_create_stores_the_new_template_with_meta_s_status(world: World) -> None:
    new = validate_new_template({"name": "welcome", "language": "fr", "category": "MARKETING",
                                 "components": BODY})  # fmt: skip

    created, recorded = await world.service.create(ACME, WABA, new)
    await world.book.catch_up()

    stored = await world.book.template(ACME, "welcome", "fr")
    assert stored is not None
    assert (stored.template_id, stored.status, stored.category) == (created.id, "PENDING",
                                                                    "MARKETING")  # fmt: skip
    assert recorded.count == 1
    assert await world.sync() == (0, 0)  # what create recorded is what Meta lists


async def test_a_refused_create_records_nothing(world: World) -> None:
    world.meta.fail(100)
    new = validate_new_template({"name": "welcome", "language": "fr", "category": "UTILITY",
                                 "components": BODY})  # fmt: skip

    with pytest.raises(GatewayError):
        await world.service.create(ACME, WABA, new)

    assert await world.events() == []


async def test_delete_marks_every_language_deleted(world: World) -> None:
    world.at_meta("promo", "en")
    world.at_meta("promo", "fr")
    await world.sync()

    assert (await world.service.delete(ACME, WABA, "promo")).count == 2
    await world.book.catch_up()

    assert [t.status for t in await world.book.templates_named(ACME, "promo")] == ["DELETED"] * 2
    assert await world.sync() == (0, 0)


# --- the check before a send -------------------------------------------------------------------


def invoice(**changes: Any) -> TemplateMessage:
    fields: dict[str, Any] = {
        "name": "invoice", "language": "en_US", "body_parameters": ("INV-7",),
        "header": TemplateMediaHeader(media_type="document", link="https://acme.test/i.pdf"),
        "buttons": (TemplateButton(index=1, sub_type="url", parameter="INV-7"),
                    TemplateButton(index=0, sub_type="quick_reply", parameter="thanks-7")),
    }  # fmt: skip
    fields.update(changes)
    return TemplateMessage(**fields)


async def refused(world: World, message: TemplateMessage) -> TemplateError:
    with pytest.raises(TemplateError) as raised:
        await prepare_template(world.book, ACME, message)
    return raised.value


async def test_an_approved_template_is_prepared_with_its_buttons_in_order(world: World) -> None:
    world.at_meta("invoice", "en_US", components=SHIPPED)
    await world.sync()

    prepared = await prepare_template(world.book, ACME, invoice())

    assert [b.index for b in prepared.buttons] == [0, 1]
    assert prepared.body_parameters == ("INV-7",)
    assert prepared.header == invoice().header


async def test_an_unknown_template_is_refused_naming_the_name(world: World) -> None:
    error = await refused(world, invoice())

    assert (error.code, error.field) == ("template_not_approved", "template.name")


async def test_another_language_is_refused_naming_the_language(world: World) -> None:
    world.at_meta("invoice", "fr", components=SHIPPED)
    world.at_meta("invoice", "de", components=SHIPPED)
    await world.sync()

    error = await refused(world, invoice())

    assert (error.code, error.field) == ("template_not_approved", "template.language")
    assert "de, fr" in error.message


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", "PAUSED", "DISABLED"])
async def test_a_template_not_approved_is_refused(world: World, status: str) -> None:
    world.at_meta("invoice", "en_US", status=status, components=SHIPPED)
    await world.sync()

    error = await refused(world, invoice())

    assert error.code == "template_not_approved"
    assert status in error.message


async def test_a_deleted_template_is_refused(world: World) -> None:
    world.at_meta("invoice", "en_US", components=SHIPPED)
    await world.sync()
    await world.service.delete(ACME, WABA, "invoice")
    await world.book.catch_up()

    assert (await refused(world, invoice())).code == "template_not_approved"


async def test_a_template_known_only_from_webhooks_asks_for_a_sync(world: World) -> None:
    await world.webhook("invoice", "en_US", "APPROVED", T0)

    error = await refused(world, invoice())

    assert (error.code, error.field) == ("template_not_synced", "template.name")
    assert "templates sync" in error.message


async def test_a_webhook_approval_opens_a_pending_template(world: World) -> None:
    world.at_meta("invoice", "en_US", status="PENDING", components=SHIPPED)
    await world.sync()
    assert (await refused(world, invoice())).code == "template_not_approved"

    await world.webhook("invoice", "en_US", "APPROVED", T0 + timedelta(hours=1))

    assert await prepare_template(world.book, ACME, invoice())


async def test_a_mismatch_is_refused_naming_the_field(world: World) -> None:
    world.at_meta("invoice", "en_US", components=SHIPPED)
    await world.sync()

    error = await refused(world, invoice(body_parameters=()))

    assert (error.code, error.field) == ("template_mismatch", "template.body_parameters")


async def test_another_business_s_template_is_unknown(world: World) -> None:
    world.at_meta("invoice", "en_US", components=SHIPPED)
    await world.sync()

    with pytest.raises(TemplateError) as raised:
        await prepare_template(world.book, "globex", invoice())

    assert raised.value.code == "template_not_approved"
