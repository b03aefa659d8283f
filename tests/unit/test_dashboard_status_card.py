"""The overview's connection status card: shown when a status service answers, absent
otherwise (rendered from the real template)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import jinja2
import pytest

from entrypoints.dashboard import overview as overview_module
from entrypoints.dashboard.i18n import translate
from entrypoints.dashboard.overview import CHECKING
from entrypoints.dashboard.pages import TEMPLATES_DIR


@dataclass
class Check:
    name: str
    state: str
    detail: str


@dataclass
class Status:
    mode: str
    connected: bool
    checks: list[Check]


def overview(**context: object) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    return environment.get_template("overview.html").render(
        lang="en", languages=[("en", "English")], t=lambda key, **v: translate("en", key, **v),
        session=None, csrf_field="csrf_token", csrf_token="x", nav=[], current_path="/",
        current_url="/", ranges=("24h",), chosen="24h", cards=[],
        chart={"x": [], "series": []}, points=[], **context,
    )  # fmt: skip


def test_the_status_card_shows_the_mode_and_each_check() -> None:
    page = overview(
        status=Status("sandbox", True, [Check("webhook_subscription", "ok", "<signed>")])
    )
    assert "Connection" in page
    assert "Connected" in page
    assert "Sandbox (simulated number)" in page
    assert 'check-ok">OK</span> Webhook subscription: &lt;signed&gt;' in page


def test_no_status_service_no_card() -> None:
    page = overview(status=None)
    assert "status-title" not in page


def test_while_meta_has_not_answered_the_card_says_so() -> None:
    page = overview(status=CHECKING)
    assert "Meta has not answered yet" in page
    assert 'role="status"' in page


class SlowStatus:
    """A status service whose Graph API answers only when told to."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.finished = asyncio.Event()

    async def status(self, business_id: str) -> Status:
        await self.answer.wait()
        self.finished.set()
        return Status("live", True, [])


async def test_the_page_does_not_wait_for_a_slow_graph_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overview_module, "STATUS_WAIT_SECONDS", 0.05)
    service = SlowStatus()
    assert await overview_module._connection_status(service, "default") == CHECKING
    service.answer.set()  # the check goes on after the page answered, and completes
    await asyncio.wait_for(service.finished.wait(), 5)


async def test_a_quick_answer_is_shown_at_once() -> None:
    service = SlowStatus()
    service.answer.set()
    shown = await overview_module._connection_status(service, "default")
    assert shown == Status("live", True, [])
