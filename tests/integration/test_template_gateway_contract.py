"""One contract for every TemplateGateway: the in-memory fake and the Graph adapter over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest

from adapters.memory.templates import InMemoryTemplateGateway
from adapters.whatsapp.graph import create_graph_client
from adapters.whatsapp.simulator import CloudApiSimulator, running
from adapters.whatsapp.templates import GraphTemplateGateway
from application.gateway import AccessToken, GatewayError
from application.templates import MetaTemplate, TemplateGateway, WabaAccess, list_all
from domain.template_definitions import validate_new_template
from domain.whatsapp_errors import ErrorClass

WABA = WabaAccess("102290129340398", AccessToken("EAAG-templates"))
BODY = [{"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Ada"]]}}]


class Harness(Protocol):
    gateway: TemplateGateway

    def seed(self, name: str, language: str, components: list[dict[str, Any]],
             status: str = "APPROVED") -> None: ...  # fmt: skip

    def fail(self, code: int) -> None: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = InMemoryTemplateGateway(page_size=25)
        self.fake.tokens[WABA.account_id] = WABA.access_token.value
        self.gateway: TemplateGateway = self.fake

    def seed(self, name: str, language: str, components: list[dict[str, Any]],
             status: str = "APPROVED") -> None:  # fmt: skip
        template = MetaTemplate(f"9{len(self.fake.calls)}{name}", name, language, status,
                                "UTILITY", components)  # fmt: skip
        self.fake.add(WABA.account_id, template)

    def fail(self, code: int) -> None:
        self.fake.fail(code)


class HttpHarness:
    def __init__(self, sim: CloudApiSimulator, gateway: GraphTemplateGateway) -> None:
        self.sim = sim
        self.gateway: TemplateGateway = gateway

    def seed(self, name: str, language: str, components: list[dict[str, Any]],
             status: str = "APPROVED") -> None:  # fmt: skip
        self.sim.add_template(name, language, components, status=status)

    def fail(self, code: int) -> None:
        self.sim.fail(code, count=1)


@pytest.fixture(params=["memory", "http"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    simulator = CloudApiSimulator(access_tokens=[WABA.access_token.value], app_secret="s")
    client = create_graph_client(connect_timeout=2.0, read_timeout=5.0)
    try:
        async with running(simulator) as sim:
            assert sim.base_url is not None
            yield HttpHarness(sim, GraphTemplateGateway(client, sim.base_url, "v26.0"))
    finally:
        await client.aclose()


async def test_listing_follows_the_cursors_to_the_last_page(harness: Harness) -> None:
    for n in range(7):
        harness.seed(f"notice_{n}", "en_US", BODY)
    harness.seed("notice_0", "fr", BODY, status="PENDING")

    first = await harness.gateway.list_page(WABA, None, 3)
    everything = await list_all(harness.gateway, WABA, page_size=3)

    assert len(first.templates) == 3
    assert first.after is not None
    assert sorted((t.name, t.language) for t in everything) == sorted(
        [(f"notice_{n}", "en_US") for n in range(7)] + [("notice_0", "fr")]
    )
    french = next(t for t in everything if t.language == "fr")
    assert (french.status, french.category, french.components) == ("PENDING", "UTILITY", BODY)
    assert french.id


async def test_the_last_page_names_no_next_cursor(harness: Harness) -> None:
    harness.seed("only_one", "en", BODY)

    page = await harness.gateway.list_page(WABA, None, 10)

    assert [t.name for t in page.templates] == ["only_one"]
    assert page.after is None


async def test_an_empty_account_lists_nothing(harness: Harness) -> None:
    assert await list_all(harness.gateway, WABA) == []


async def test_a_created_template_is_listed_with_meta_s_answer(harness: Harness) -> None:
    new = validate_new_template(
        {"name": "order_ready", "language": "fr", "category": "utility", "components": BODY}
    )

    created = await harness.gateway.create(WABA, new)
    listed = await list_all(harness.gateway, WABA)

    assert created.id
    assert created.category == "UTILITY"
    assert [(t.id, t.name, t.language, t.components) for t in listed] == [
        (created.id, "order_ready", "fr", BODY)
    ]


async def test_creating_an_existing_template_again_is_refused(harness: Harness) -> None:
    harness.seed("order_ready", "fr", BODY)
    new = validate_new_template(
        {"name": "order_ready", "language": "fr", "category": "UTILITY", "components": BODY}
    )

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.create(WABA, new)

    assert raised.value.code == 100
    assert raised.value.error_class is ErrorClass.PERMANENT


async def test_delete_removes_the_name_in_every_language(harness: Harness) -> None:
    harness.seed("promo", "en", BODY)
    harness.seed("promo", "fr", BODY)
    harness.seed("kept", "en", BODY)

    await harness.gateway.delete(WABA, "promo")

    assert [t.name for t in await list_all(harness.gateway, WABA)] == ["kept"]


async def test_deleting_an_unknown_template_is_refused(harness: Harness) -> None:
    with pytest.raises(GatewayError) as raised:
        await harness.gateway.delete(WABA, "never_was")

    assert raised.value.code == 100
    assert not raised.value.retryable


async def test_a_wrong_token_is_a_critical_error_that_never_shows_the_token(
    harness: Harness,
) -> None:
    wrong = WabaAccess(WABA.account_id, AccessToken("EAAG-not-this-one"))

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.list_page(wrong)

    assert raised.value.code == 190
    assert raised.value.error_class is ErrorClass.CRITICAL
    assert "EAAG-not-this-one" not in repr(vars(raised.value)) + str(raised.value)


@pytest.mark.parametrize(
    ("code", "error_class"),
    [(2, ErrorClass.TRANSIENT), (4, ErrorClass.THROUGHPUT), (190, ErrorClass.CRITICAL)],
)
async def test_graph_errors_are_classified_like_sends(
    harness: Harness, code: int, error_class: ErrorClass
) -> None:
    harness.fail(code)

    with pytest.raises(GatewayError) as raised:
        await harness.gateway.list_page(WABA)

    assert (raised.value.code, raised.value.error_class) == (code, error_class)
    assert raised.value.fbtrace_id
