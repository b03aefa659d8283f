"""The overview's connection status card: shown when a status service answers, absent
otherwise (rendered from the real template)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from entrypoints.dashboard.i18n import translate
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
