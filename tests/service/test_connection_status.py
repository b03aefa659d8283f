"""The connection status of a business: what each Graph answer means, and the short cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from adapters.memory.connection import InMemoryConnectionProbe
from application.businesses import Business
from application.connection_status import (
    REASONS,
    SENTENCES,
    ConnectionCheck,
    ConnectionStatus,
    ConnectionStatusService,
    PhoneNumberInfo,
    ProbeOutcome,
    ProbeResult,
    UnknownBusinessError,
    sentence,
)
from application.gateway import AccessTokenUnreadableError

TOKEN = "EAAG-status-secret-token-42"
NUMBER = "106540352242922"
OTHER_NUMBER = "106540352242999"
ACCOUNT = "102290129340398"
ACME = Business(id="acme", name="Acme", phone_number_ids=(NUMBER,), account_id=ACCOUNT,
                has_access_token=True)  # fmt: skip


class Businesses:
    """Businesses and their tokens as the registry gives them."""

    def __init__(self, *businesses: Business, tokens: dict[str, str] | None = None) -> None:
        self.businesses = {b.id: b for b in businesses}
        self.tokens = dict(tokens or {})
        self.broken_key = False

    async def get(self, business_id: str) -> Business | None:
        return self.businesses.get(business_id)

    async def access_token_of(self, business_id: str) -> str | None:
        if self.broken_key:
            raise AccessTokenUnreadableError("WAZYBOT_SECRET_KEY does not open the stored token")
        return self.tokens.get(business_id)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def meta() -> InMemoryConnectionProbe:
    probe = InMemoryConnectionProbe(accounts={ACCOUNT: 1})
    probe.add_number(NUMBER, TOKEN, PhoneNumberInfo("+1 555-010-2030", "Acme Shop", "GREEN"))
    return probe


def service(
    probe: InMemoryConnectionProbe, businesses: Businesses | None = None, clock: Clock | None = None
) -> ConnectionStatusService:
    registry = businesses or Businesses(ACME, tokens={"acme": TOKEN})
    return ConnectionStatusService(probe, registry, "live", clock or Clock())


def states(status: ConnectionStatus) -> dict[str, str]:
    return {check.name: check.state for check in status.checks}


def detail(status: ConnectionStatus, name: str) -> str:
    return next(check.detail for check in status.checks if check.name == name)


def found(status: ConnectionStatus) -> dict[str, tuple[str, dict[str, str]]]:
    """Each check's reason and facts."""
    return {check.name: (check.reason, check.facts) for check in status.checks}


def no_secret(status: ConnectionStatus) -> None:
    assert all(TOKEN not in check.detail for check in status.checks)


async def test_a_working_connection_is_connected_with_every_check_ok() -> None:
    status = await service(meta()).status("acme")

    assert status.connected
    assert (status.mode, status.business_id, status.business_name) == ("live", "acme", "Acme")
    assert status.phone_number_ids == [NUMBER]
    assert [c.name for c in status.checks] == ["access_token", "phone_number",
                                               "webhook_subscription"]  # fmt: skip
    assert states(status) == dict.fromkeys(states(status), "ok")
    assert "+1 555-010-2030 (Acme Shop), quality GREEN" in detail(status, "phone_number")
    assert "1 app receives the webhooks" in detail(status, "webhook_subscription")
    assert found(status) == {
        "access_token": ("token_accepted", {}),
        "phone_number": ("numbers_known", {"count": "1", "number_1": "+1 555-010-2030",
                                           "name_1": "Acme Shop", "quality_1": "GREEN",
                                           "numbers": "+1 555-010-2030 (Acme Shop), quality "
                                                      "GREEN"}),
        "webhook_subscription": ("subscribed", {"apps": "1", "account": ACCOUNT}),
    }  # fmt: skip
    assert status.checked_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


async def test_no_stored_token_says_what_to_set_and_calls_nobody() -> None:
    probe = meta()
    status = await service(probe, Businesses(ACME)).status("acme")

    assert not status.connected
    assert states(status) == {"access_token": "failed", "phone_number": "unknown",
                              "webhook_subscription": "unknown"}  # fmt: skip
    text = detail(status, "access_token")
    assert "No WhatsApp access token is stored" in text
    assert "wazybot business update acme --access-token-stdin" in text
    assert "WHATSAPP_ACCESS_TOKEN" in text
    assert found(status) == {"access_token": ("no_token", {"business": "acme"}),
                             "phone_number": ("needs_token", {}),
                             "webhook_subscription": ("needs_token", {})}  # fmt: skip
    assert probe.calls == []


async def test_a_token_the_key_cannot_open_is_reported_without_the_token() -> None:
    businesses = Businesses(ACME, tokens={"acme": TOKEN})
    businesses.broken_key = True
    status = await service(meta(), businesses).status("acme")

    assert states(status)["access_token"] == "failed"
    assert "WAZYBOT_SECRET_KEY" in detail(status, "access_token")
    assert found(status)["access_token"] == (
        "token_unreadable",
        {"problem": "WAZYBOT_SECRET_KEY does not open the stored token", "business": "acme"},
    )
    no_secret(status)


async def test_an_invalid_or_expired_token_fails_the_token_check_only() -> None:
    probe = meta()
    status = await service(probe, Businesses(ACME, tokens={"acme": "EAAG-expired"})).status("acme")

    assert not status.connected
    assert states(status) == {"access_token": "failed", "phone_number": "unknown",
                              "webhook_subscription": "unknown"}  # fmt: skip
    assert "invalid or has expired" in detail(status, "access_token")
    assert "EAAG-expired" not in str(status.checks)
    assert found(status) == {"access_token": ("token_refused", {"business": "acme"}),
                             "phone_number": ("needs_working_token", {}),
                             "webhook_subscription": ("needs_working_token", {})}  # fmt: skip
    assert ("subscribed_apps", ACCOUNT) not in probe.calls


async def test_an_unknown_number_fails_the_number_check_and_names_it() -> None:
    probe = meta()
    business = replace(ACME, phone_number_ids=(NUMBER, OTHER_NUMBER))
    status = await service(probe, Businesses(business, tokens={"acme": TOKEN})).status("acme")

    assert not status.connected
    assert states(status) == {"access_token": "ok", "phone_number": "failed",
                              "webhook_subscription": "ok"}  # fmt: skip
    text = detail(status, "phone_number")
    assert f"phone number id {OTHER_NUMBER}" in text
    assert NUMBER + "," not in text
    assert found(status)["phone_number"] == ("numbers_unknown", {"numbers": OTHER_NUMBER})


async def test_a_missing_permission_fails_the_token_check() -> None:
    probe = meta()
    probe.forced = ProbeResult(ProbeOutcome.PERMISSION_MISSING, code=10)
    status = await service(probe).status("acme")

    assert states(status)["access_token"] == "failed"
    assert "whatsapp_business_messaging" in detail(status, "access_token")
    assert found(status)["access_token"] == ("token_permission_missing", {"business": "acme"})


async def test_no_subscribed_app_fails_the_webhook_check() -> None:
    probe = meta()
    probe.accounts[ACCOUNT] = 0
    status = await service(probe).status("acme")

    assert not status.connected
    assert states(status) == {"access_token": "ok", "phone_number": "ok",
                              "webhook_subscription": "failed"}  # fmt: skip
    assert "customers' messages never reach WazyBot" in detail(status, "webhook_subscription")
    assert f"/{ACCOUNT}/subscribed_apps" in detail(status, "webhook_subscription")
    assert found(status)["webhook_subscription"] == ("not_subscribed", {"account": ACCOUNT})


async def test_an_unknown_account_fails_the_webhook_check() -> None:
    probe = meta()
    probe.accounts.clear()
    status = await service(probe).status("acme")

    assert states(status)["webhook_subscription"] == "failed"
    assert "--account-id" in detail(status, "webhook_subscription")
    assert found(status)["webhook_subscription"] == (
        "account_unknown",
        {"account": ACCOUNT, "business": "acme"},
    )


async def test_without_an_account_id_the_subscription_is_unknown_and_says_what_to_set() -> None:
    probe = meta()
    business = replace(ACME, account_id=None)
    status = await service(probe, Businesses(business, tokens={"acme": TOKEN})).status("acme")

    assert status.connected  # nothing failed: the subscription could not be checked
    assert states(status)["webhook_subscription"] == "unknown"
    text = detail(status, "webhook_subscription")
    assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in text
    assert "wazybot business update acme --account-id ID" in text
    assert found(status)["webhook_subscription"] == ("no_account_id", {"business": "acme"})
    assert all(kind != "subscribed_apps" for kind, _ in probe.calls)


async def test_meta_unreachable_makes_everything_unknown_and_not_connected() -> None:
    probe = meta()
    probe.unreachable = True
    status = await service(probe).status("acme")

    assert not status.connected
    assert set(states(status).values()) == {"unknown"}
    assert "did not answer" in detail(status, "access_token")
    assert found(status) == {"access_token": ("graph_unreachable", {}),
                             "phone_number": ("needs_working_token", {}),
                             "webhook_subscription": ("needs_working_token", {})}  # fmt: skip


async def test_another_meta_error_is_unknown_with_its_code() -> None:
    probe = meta()
    probe.forced = ProbeResult(ProbeOutcome.OTHER_ERROR, code=2, message="Service temporarily "
                               "unavailable")  # fmt: skip
    status = await service(probe).status("acme")

    assert states(status)["access_token"] == "unknown"
    assert "(code 2): Service temporarily unavailable" in detail(status, "access_token")
    assert found(status)["access_token"] == (
        "graph_error",
        {"code": "2", "message": "Service temporarily unavailable"},
    )


@pytest.mark.parametrize(
    ("result", "reason", "facts"),
    [
        (ProbeResult(ProbeOutcome.OK, subscribed_apps=3), "subscribed",
         {"apps": "3", "account": ACCOUNT}),
        (ProbeResult(ProbeOutcome.PERMISSION_MISSING, code=200),
         "subscription_permission_missing", {}),
        (ProbeResult(ProbeOutcome.TOKEN_INVALID, code=190), "account_token_refused", {}),
        (ProbeResult(ProbeOutcome.UNREACHABLE), "graph_unreachable", {}),
        (ProbeResult(ProbeOutcome.OTHER_ERROR, code=4), "graph_error", {"code": "4"}),
        (ProbeResult(ProbeOutcome.OTHER_ERROR, message="not JSON"), "graph_error",
         {"message": "not JSON"}),
        (ProbeResult(ProbeOutcome.OTHER_ERROR), "graph_error", {}),
    ],
)  # fmt: skip
async def test_each_answer_about_the_subscription_has_its_reason_and_facts(
    result: ProbeResult, reason: str, facts: dict[str, str]
) -> None:
    class Answers(InMemoryConnectionProbe):
        async def subscribed_apps(self, account_id: str, access_token: str) -> ProbeResult:
            return result

    probe = Answers()
    probe.add_number(NUMBER, TOKEN, PhoneNumberInfo())
    status = await service(probe).status("acme")

    check = status.checks[2]
    assert (check.reason, check.facts) == (reason, facts)
    assert check.detail == sentence(reason, facts, SENTENCES)
    if result.code is None and not result.message and reason == "graph_error":
        assert check.detail == "Meta answered with an error. Try again in a few minutes."


async def test_a_number_without_name_or_rating_is_named_by_its_id() -> None:
    probe = InMemoryConnectionProbe(accounts={ACCOUNT: 1})
    probe.add_number(NUMBER, TOKEN, PhoneNumberInfo())
    status = await service(probe).status("acme")

    assert found(status)["phone_number"] == (
        "numbers_known",
        {"count": "1", "number_1": NUMBER, "numbers": NUMBER},
    )
    assert detail(status, "phone_number") == f"Meta knows {NUMBER}."


async def test_sandbox_mode_keeps_reasons_and_facts_and_names_the_simulator() -> None:
    live = await service(meta()).status("acme")
    sandbox = await ConnectionStatusService(
        meta(), Businesses(ACME, tokens={"acme": TOKEN}), "sandbox", Clock()
    ).status("acme")

    assert found(sandbox) == found(live)
    assert detail(sandbox, "access_token") == "The built-in simulator accepts the access token."
    assert detail(sandbox, "phone_number").startswith("The built-in simulator knows +1 555")
    assert all("Meta" not in check.detail for check in sandbox.checks)


async def test_a_result_is_reused_for_30_seconds_then_checked_again() -> None:
    probe, clock = meta(), Clock()
    checks = service(probe, clock=clock)

    first = await checks.status("acme")
    clock.advance(29)
    again = await checks.status("acme")
    assert again is first
    assert len(probe.calls) == 2  # one number, one account

    clock.advance(1)
    fresh = await checks.status("acme")
    assert fresh.checked_at == clock.now
    assert len(probe.calls) == 4


async def test_a_failed_result_is_kept_a_shorter_time() -> None:
    probe, clock = meta(), Clock()
    probe.accounts[ACCOUNT] = 0
    checks = service(probe, clock=clock)

    await checks.status("acme")
    clock.advance(4)
    await checks.status("acme")
    assert len(probe.calls) == 2

    probe.accounts[ACCOUNT] = 1  # fixed in Meta's dashboard
    clock.advance(1)
    assert (await checks.status("acme")).connected
    assert len(probe.calls) == 4


async def test_changing_the_token_checks_again_at_once() -> None:
    probe, clock = meta(), Clock()
    businesses = Businesses(ACME, tokens={"acme": "EAAG-old"})
    checks = service(probe, businesses, clock)
    assert not (await checks.status("acme")).connected

    businesses.tokens["acme"] = TOKEN
    assert (await checks.status("acme")).connected


async def test_concurrent_requests_share_one_round_of_calls() -> None:
    probe = meta()
    checks = service(probe)

    results = await asyncio.gather(*(checks.status("acme") for _ in range(5)))

    assert all(result is results[0] for result in results)
    assert len(probe.calls) == 2


async def test_each_business_has_its_own_result() -> None:
    probe = meta()
    globex = Business(id="globex", name="Globex", phone_number_ids=(OTHER_NUMBER,))
    checks = service(probe, Businesses(ACME, globex, tokens={"acme": TOKEN}))

    assert (await checks.status("acme")).connected
    assert not (await checks.status("globex")).connected


async def test_an_unknown_or_removed_business_is_refused() -> None:
    removed = replace(ACME, removed_at=datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(UnknownBusinessError):
        await service(meta()).status("nobody")
    with pytest.raises(UnknownBusinessError):
        await service(meta(), Businesses(removed, tokens={"acme": TOKEN})).status("acme")


def test_the_mode_is_sandbox_or_live() -> None:
    assert service(meta()).mode == "live"
    sandbox = ConnectionStatusService(meta(), Businesses(), "sandbox", Clock())
    assert sandbox.mode == "sandbox"
    with pytest.raises(ValueError, match="sandbox, live"):
        ConnectionStatusService(meta(), Businesses(), "test", Clock())


def test_the_readme_and_the_api_document_name_every_reason() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    described = msgspec.json.schema(ConnectionCheck)["$defs"]["ConnectionCheck"]["properties"]
    for reason in REASONS:
        assert f"`{reason}`" in readme, reason
        assert reason in described["reason"]["description"], reason
    assert described["facts"]["description"]
