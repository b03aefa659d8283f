"""The overview's connection status card: shown when a status service answers, absent
otherwise (rendered from the real template)."""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import jinja2
import pytest

from adapters.memory.connection import InMemoryConnectionProbe
from application.businesses import Business
from application.connection_status import ConnectionStatusService, PhoneNumberInfo
from entrypoints.dashboard import overview as overview_module
from entrypoints.dashboard.i18n import Language, status_words, translate
from entrypoints.dashboard.overview import CHECKING
from entrypoints.dashboard.pages import TEMPLATES_DIR


@dataclass
class Check:
    """A check as an older status service gave it: no reason, no facts."""

    name: str
    state: str
    detail: str


@dataclass
class Status:
    mode: str
    connected: bool
    checks: list[Check]


def overview(lang: Language = "en", **context: object) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    return environment.get_template("overview.html").render(
        lang=lang, languages=[("en", "English")], t=lambda key, **v: translate(lang, key, **v),
        check_words=partial(status_words, lang), session=None, csrf_field="csrf_token",
        csrf_token="x", nav=[], current_path="/", current_url="/", ranges=("24h",),
        chosen="24h", cards=[], chart={"x": [], "series": []}, points=[], **context,
    )  # fmt: skip


def test_the_status_card_shows_the_mode_and_each_check() -> None:
    page = overview(
        status=Status("sandbox", True, [Check("webhook_subscription", "ok", "<signed>")])
    )
    assert "Connection" in page
    assert "Connected" in page
    assert "Sandbox (simulated number)" in page
    assert 'check-ok">OK</span> Webhook subscription: &lt;signed&gt;' in page


TOKEN = "EAAG-card-token"
NUMBER = "106540352242922"
ACCOUNT = "102290129340398"


@dataclass
class Registry:
    business: Business
    tokens: dict[str, str] = field(default_factory=dict)

    async def get(self, business_id: str) -> Business | None:
        return self.business if business_id == self.business.id else None

    async def access_token_of(self, business_id: str) -> str | None:
        return self.tokens.get(business_id)


async def checked(mode: str, token: str, numbers: tuple[str, ...] = (NUMBER,)) -> object:
    """A real status from the service, over the in-memory probe."""
    probe = InMemoryConnectionProbe(accounts={ACCOUNT: 1})
    probe.add_number(NUMBER, TOKEN, PhoneNumberInfo("+1 555-010-2030", "Acme Shop", "GREEN"))
    business = Business(id="acme", name="Acme", phone_number_ids=numbers, account_id=ACCOUNT,
                        has_access_token=True)  # fmt: skip
    service = ConnectionStatusService(probe, Registry(business, {"acme": token}), mode,
                                      lambda: datetime(2026, 11, 26, 9, tzinfo=UTC))  # fmt: skip
    return await service.status("acme")


def checks_of(page: str) -> str:
    """The card's list of checks, as the text a reader sees (one check a line)."""
    listed = page[page.index('<ul class="checks">') : page.index("</ul>", page.index("checks"))]
    items = re.findall(r"<li>(.*?)</li>", listed, re.S)
    return "\n".join(" ".join(html.unescape(re.sub(r"<[^>]+>", "", i)).split()) for i in items)


# Words of the API's English sentences that a French card must not show.
ENGLISH = re.compile(
    r"\b(the|Meta's|refused|accepts|knows|does not|receives?|quality|Not checked|simulator|"
    r"must|store one|invalid|expired|Try again)\b"
)


async def test_a_refused_token_reads_in_french() -> None:
    text = checks_of(overview("fr", status=await checked("live", "EAAG-expired")))

    assert text.startswith("En échec Jeton d'accès : Meta a refusé le jeton d'accès : il est")
    assert "wazybot business update acme --access-token-stdin" in text
    assert "Inconnu Numéros de téléphone : Non vérifié : le jeton d'accès doit d'abord" in text
    assert not ENGLISH.search(text), ENGLISH.search(text)


async def test_an_unknown_number_reads_in_french() -> None:
    text = checks_of(overview("fr", status=await checked("live", TOKEN, (NUMBER, "999"))))

    assert "Meta ne connaît pas l'identifiant de numéro 999" in text
    assert "Meta accepte le jeton d'accès." in text
    assert "1 application reçoit les webhooks du compte WhatsApp Business " + ACCOUNT in text
    assert not ENGLISH.search(text), ENGLISH.search(text)


async def test_sandbox_mode_names_the_built_in_simulator_in_french() -> None:
    page = overview("fr", status=await checked("sandbox", TOKEN))
    text = checks_of(page)

    assert "Le simulateur intégré accepte le jeton d'accès." in text
    assert "Le simulateur intégré connaît +1 555-010-2030 (Acme Shop), qualité GREEN." in text
    assert "Meta" not in text
    assert not ENGLISH.search(text), ENGLISH.search(text)


async def test_an_english_page_shows_the_api_s_own_sentences() -> None:
    status = await checked("sandbox", TOKEN, (NUMBER, "999"))
    text = " ".join(checks_of(overview("en", status=status)).split())

    for check in status.checks:  # type: ignore[attr-defined]
        assert check.detail in text


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
