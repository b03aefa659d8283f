"""Every page of the dashboard, with data, at laptop and phone widths: screenshots in
tests/browser/artifacts/, and with WAZYBOT_UPDATE_SCREENSHOTS=1 the README's own in
docs/screenshots/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import LAPTOP, Shoot
from tests.browser.shop import (
    new_customer,
    open_conversation,
    open_phone,
    order_a_t_shirt,
)

DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


def test_every_page_shows_at_laptop_and_phone_widths(signed_in: Page, shoot: Shoot) -> None:
    customer = new_customer("Camille Tour")
    page = signed_in
    open_phone(page, customer)
    order_a_t_shirt(page)
    shoot(page, "phone")

    page.goto("/")
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    expect(page.locator("#metrics-title")).to_be_visible()
    shoot(page, "overview")
    readme_screenshot(page, "overview.png")

    page.goto("/conversations")
    expect(page.get_by_role("link", name=customer.name, exact=True)).to_be_visible()
    shoot(page, "conversations")

    open_conversation(page, customer)
    # Each tap shows right after the message it answers, even within one second: question,
    # list, row picked, product, "order", summary, "confirm", confirmation.
    messages = page.locator("ol.timeline > li.message")
    expect(messages).to_have_count(8)
    expect(messages.last.locator(".delivery")).to_have_class(re.compile(r"\bstatus-read\b"))
    directions = [messages.nth(i).get_attribute("class") or "" for i in range(8)]
    assert ["inbound" in d for d in directions] == [True, False] * 4, directions
    shoot(page, "conversation")
    readme_screenshot(page, "conversation.png", full_page=True)

    page.goto("/orders")
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()
    expect(page.locator("li.record").filter(has_text=customer.name)).to_have_count(1)
    shoot(page, "orders")

    page.goto("/errors")
    expect(page.get_by_role("heading", level=1, name="Errors")).to_be_visible()
    shoot(page, "errors")


def readme_screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """With WAZYBOT_UPDATE_SCREENSHOTS=1, the README's picture of this page (laptop width)."""
    if os.environ.get("WAZYBOT_UPDATE_SCREENSHOTS") != "1":
        return
    DOCS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=DOCS / name, full_page=full_page)
