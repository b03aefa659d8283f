"""One contract for every ConnectionProbe: the in-memory fake, and the Graph adapter over
real HTTP against the Cloud API simulator; then what only the wire shows."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from typing import Protocol

import httpx
import pytest
import structlog

from adapters.memory.connection import InMemoryConnectionProbe
from adapters.whatsapp.connection import GraphConnectionProbe
from adapters.whatsapp.graph import create_graph_client
from adapters.whatsapp.simulator import Business, CloudApiSimulator, running
from application.connection_status import ConnectionProbe, ProbeOutcome

TOKEN = "EAAG-connection-check-token"
OTHER_TOKEN = "EAAG-another-business-token"
NUMBER = "106540352242922"
FOREIGN_NUMBER = "106540352242999"  # served, but for another business's token
ACCOUNT = "102290129340398"


class Harness(Protocol):
    probe: ConnectionProbe

    def unsubscribe(self) -> None: ...

    def go_offline(self) -> None: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = InMemoryConnectionProbe(accounts={ACCOUNT: 1})
        self.fake.add_number(NUMBER, TOKEN)
        self.fake.add_number(FOREIGN_NUMBER, OTHER_TOKEN)
        self.probe: ConnectionProbe = self.fake

    def unsubscribe(self) -> None:
        self.fake.accounts[ACCOUNT] = 0

    def go_offline(self) -> None:
        self.fake.unreachable = True


class HttpHarness:
    def __init__(self, sim: CloudApiSimulator, client: httpx.AsyncClient) -> None:
        assert sim.base_url is not None
        self.sim = sim
        self.client = client
        self.probe: ConnectionProbe = GraphConnectionProbe(client, sim.base_url, "v26.0")

    def unsubscribe(self) -> None:
        self.sim.set_webhooks_subscribed(False)

    def go_offline(self) -> None:
        self.probe = GraphConnectionProbe(self.client, f"http://127.0.0.1:{_closed_port()}",
                                          "v26.0")  # fmt: skip


def simulator() -> CloudApiSimulator:
    sim = CloudApiSimulator(
        access_tokens=[], app_secret="status-secret", waba_ids=[ACCOUNT],
        business=Business(waba_id=ACCOUNT, phone_number_id=NUMBER,
                          display_phone_number="15550102030"),
    )  # fmt: skip
    sim.bind_token(NUMBER, TOKEN)
    sim.bind_token(FOREIGN_NUMBER, OTHER_TOKEN)
    return sim


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    client = create_graph_client(connect_timeout=1.0, read_timeout=2.0)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[CloudApiSimulator]:
    async with running(simulator()) as served:
        yield served


@pytest.fixture(params=["memory", "http"])
async def harness(
    request: pytest.FixtureRequest, client: httpx.AsyncClient
) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    async with running(simulator()) as served:
        yield HttpHarness(served, client)


async def test_a_known_number_with_its_token_is_ok(harness: Harness) -> None:
    result = await harness.probe.phone_number(NUMBER, TOKEN)

    assert result.outcome is ProbeOutcome.OK
    assert result.phone is not None


async def test_an_unknown_token_is_invalid(harness: Harness) -> None:
    for result in (
        await harness.probe.phone_number(NUMBER, "EAAG-expired"),
        await harness.probe.subscribed_apps(ACCOUNT, "EAAG-expired"),
    ):
        assert result.outcome is ProbeOutcome.TOKEN_INVALID
        assert result.code == 190


async def test_an_unknown_number_or_another_businesss_is_not_found(harness: Harness) -> None:
    for number in ("999000111222333", FOREIGN_NUMBER):
        result = await harness.probe.phone_number(number, TOKEN)

        assert result.outcome is ProbeOutcome.NOT_FOUND, number
        assert result.code == 100


async def test_a_subscribed_account_lists_its_app(harness: Harness) -> None:
    result = await harness.probe.subscribed_apps(ACCOUNT, TOKEN)

    assert (result.outcome, result.subscribed_apps) == (ProbeOutcome.OK, 1)


async def test_an_unsubscribed_account_lists_no_app(harness: Harness) -> None:
    harness.unsubscribe()

    result = await harness.probe.subscribed_apps(ACCOUNT, TOKEN)

    assert (result.outcome, result.subscribed_apps) == (ProbeOutcome.OK, 0)


async def test_an_unknown_account_is_not_found(harness: Harness) -> None:
    result = await harness.probe.subscribed_apps("100000000000777", TOKEN)

    assert result.outcome is ProbeOutcome.NOT_FOUND


async def test_no_answer_is_unreachable(harness: Harness) -> None:
    harness.go_offline()

    assert (await harness.probe.phone_number(NUMBER, TOKEN)).outcome is ProbeOutcome.UNREACHABLE
    assert (await harness.probe.subscribed_apps(ACCOUNT, TOKEN)).outcome is (
        ProbeOutcome.UNREACHABLE
    )


# -- what only the wire shows --------------------------------------------------------------


async def test_the_number_is_read_with_its_fields_and_the_token_in_the_header(
    sim: CloudApiSimulator, client: httpx.AsyncClient
) -> None:
    assert sim.base_url is not None
    sim.describe_number(NUMBER, verified_name="Acme Shop", quality_rating="YELLOW")
    probe = GraphConnectionProbe(client, sim.base_url + "/", "/v26.0/")

    result = await probe.phone_number(NUMBER, TOKEN)

    assert result.phone is not None
    assert (result.phone.display_phone_number, result.phone.verified_name,
            result.phone.quality_rating) == ("+1 555-010-2030", "Acme Shop", "YELLOW")  # fmt: skip
    [request] = sim.requests
    assert (request.method, request.path) == ("GET", f"/v26.0/{NUMBER}")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.answer == {"display_phone_number": "+1 555-010-2030",
                              "verified_name": "Acme Shop", "quality_rating": "YELLOW",
                              "id": NUMBER}  # fmt: skip
    url = httpx.URL(f"{sim.base_url}{request.path}")
    assert url.path == f"/v26.0/{NUMBER}"


async def test_the_subscription_is_read_from_the_accounts_edge(
    sim: CloudApiSimulator, client: httpx.AsyncClient
) -> None:
    assert sim.base_url is not None
    probe = GraphConnectionProbe(client, sim.base_url, "v26.0")

    await probe.subscribed_apps(ACCOUNT, TOKEN)

    [request] = sim.requests
    assert (request.method, request.path) == ("GET", f"/v26.0/{ACCOUNT}/subscribed_apps")
    [app] = request.answer["data"]
    assert set(app["whatsapp_business_api_data"]) == {"id", "name", "link"}


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (190, ProbeOutcome.TOKEN_INVALID),
        (100, ProbeOutcome.NOT_FOUND),
        (803, ProbeOutcome.NOT_FOUND),
        (33, ProbeOutcome.NOT_FOUND),
        (10, ProbeOutcome.PERMISSION_MISSING),
        (200, ProbeOutcome.PERMISSION_MISSING),
        (4, ProbeOutcome.OTHER_ERROR),
        (2, ProbeOutcome.OTHER_ERROR),
    ],
)
async def test_metas_codes_decide_the_outcome(
    sim: CloudApiSimulator, client: httpx.AsyncClient, code: int, outcome: ProbeOutcome
) -> None:
    assert sim.base_url is not None
    sim.fail(code, count=1)

    result = await GraphConnectionProbe(client, sim.base_url, "v26.0").phone_number(NUMBER, TOKEN)

    assert (result.outcome, result.code) == (outcome, code)


async def test_a_bare_401_is_an_invalid_token_and_a_bare_502_another_error(
    sim: CloudApiSimulator, client: httpx.AsyncClient
) -> None:
    assert sim.base_url is not None
    probe = GraphConnectionProbe(client, sim.base_url, "v26.0")
    sim.fail(None, http_status=401, count=1)
    assert (await probe.phone_number(NUMBER, TOKEN)).outcome is ProbeOutcome.TOKEN_INVALID

    sim.fail(None, http_status=502, count=1)
    assert (await probe.phone_number(NUMBER, TOKEN)).outcome is ProbeOutcome.OTHER_ERROR


async def test_a_slow_answer_is_unreachable_after_the_checks_own_timeout(
    sim: CloudApiSimulator, client: httpx.AsyncClient
) -> None:
    assert sim.base_url is not None
    sim.hold(seconds=10.0)
    probe = GraphConnectionProbe(client, sim.base_url, "v26.0", timeout=0.5)

    started = time.monotonic()
    result = await probe.phone_number(NUMBER, TOKEN)

    assert result.outcome is ProbeOutcome.UNREACHABLE
    assert time.monotonic() - started < 3.0


async def test_the_token_never_shows_in_results_or_logs(
    sim: CloudApiSimulator, client: httpx.AsyncClient
) -> None:
    assert sim.base_url is not None
    sim.fail(2, count=1, message=f"(#2) Service unavailable for {TOKEN}")
    probe = GraphConnectionProbe(client, sim.base_url, "v26.0")

    with structlog.testing.capture_logs() as logs:
        result = await probe.phone_number(NUMBER, TOKEN)

    assert result.message == "Service unavailable for ***"
    assert TOKEN not in repr(result) + repr(logs)
    [refused] = [line for line in logs if line["event"] == "whatsapp.connection_refused"]
    assert (refused["code"], refused["outcome"]) == (2, "other_error")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
