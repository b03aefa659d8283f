"""The dashboard in a real browser: `wazybot serve` in sandbox mode as a child process, driven
by Playwright through Debian's Chromium.

One server for tests/browser, one browser per module; each test gets a fresh browser context
(no cookies, no storage) and plays its own customer, so tests run in any order. Screenshots
go to tests/browser/artifacts/ (git-ignored; CI keeps them).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.server import RunningServer, run_cli, serve, wait_for_log
from tests.support import database
from tests.support.chromium import QUIET_FLAGS, chromium
from tests.support.sandbox_server import SECRET_KEY

ARTIFACTS = Path(__file__).parent / "artifacts"
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
# What the page shows may follow a webhook, a worker and a status round trip (about a second
# each in the sandbox): Playwright's expectations wait up to this long before failing.
EXPECT_TIMEOUT_MS = 20_000
DEMO_PRODUCTS = 21

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@dataclass
class Dashboard:
    """The running sandbox server, as the tests reach it."""

    server: RunningServer
    env: dict[str, str]
    token: str  # an API token of the demo business (`wazybot tokens create`), to sign in with
    _sign_in_link: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def take_sign_in_link(self) -> str:
        """The banner's one-time link: it opens one session, so one test takes it."""
        link, self._sign_in_link = self._sign_in_link, None
        assert link is not None, "the banner's one-time sign-in link was already used"
        return link


# Package scope: the server stops once tests/browser is done, not at the end of the whole run.
@pytest.fixture(scope="package")
def browser_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


@pytest.fixture(scope="package")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, browser_database_url: str
) -> Iterator[Dashboard]:
    env = {
        "DATABASE_URL": browser_database_url,
        "WAZYBOT_SANDBOX": "1",
        "WAZYBOT_SECRET_KEY": SECRET_KEY,
    }
    log_path = tmp_path_factory.mktemp("dashboard") / "server.log"
    with serve(env, log_path) as server:
        wait_for_log(server, "Sign in:")
        created = run_cli("tokens", "create", "--business", "sandbox", "--name", "Alex", env=env)
        assert created.returncode == 0, created.stderr
        token = created.stdout.splitlines()[0]
        _wait_for_demo_catalog(server.base_url, token)
        yield Dashboard(
            server=server,
            env=env,
            token=token,
            _sign_in_link=_sign_in_link(server.logs()),
        )


def _sign_in_link(logs: str) -> str:
    line = next(line for line in logs.splitlines() if line.strip().startswith("Sign in:"))
    return line.split("Sign in:", 1)[1].strip()


def _wait_for_demo_catalog(base_url: str, token: str, timeout: float = 30) -> None:
    """The sandbox imports its demo catalog as it starts; the shop needs it."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        answer = httpx.get(f"{base_url}/api/v1/products?limit=50", headers=headers)
        if answer.status_code == 200 and len(answer.json()["items"]) == DEMO_PRODUCTS:
            return
        assert time.monotonic() < deadline, f"demo catalog not imported: {answer.text}"
        time.sleep(0.1)


# Playwright's sync API runs an event loop in this thread while it is started: it must stop
# before any asyncio test runs. So one driver and one browser per test module, not per session.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # launch() gives Chromium a fresh, temporary user data dir of its own (deleted on close).
    browser = playwright.chromium.launch(
        executable_path=chromium(), headless=True, args=list(QUIET_FLAGS)
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, dashboard: Dashboard) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=dashboard.base_url, viewport=LAPTOP, locale="en-GB")
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:  # what the page showed when the test failed
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{_file_name(request.node.name)}--failed.png")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


def sign_in(page: Page, token: str) -> None:
    """Sign in with an API token typed in the form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def signed_in(page: Page, dashboard: Dashboard) -> Page:
    """A page of a browser signed in as the demo business's agent."""
    sign_in(page, dashboard.token)
    return page


Shoot = Callable[[Page, str], None]


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Shoot:
    """shoot(page, step): the whole page at laptop and phone widths, named after the test."""

    def take(page: Page, step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        before = page.viewport_size
        for label, size in (("laptop", LAPTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            name = f"{_file_name(request.node.name)}--{step}--{label}.png"
            page.screenshot(path=ARTIFACTS / name, full_page=True)
        if before is not None:
            page.set_viewport_size(before)

    return take


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
