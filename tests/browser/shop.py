"""What the browser tests do on the dashboard's pages, in the words a person would use."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from playwright.sync_api import Locator, Page, expect

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Customer:
    """A customer a test plays on the sandbox phone: its own number, so tests never meet."""

    name: str
    phone: str


def new_customer(name: str) -> Customer:
    # A number unique to this run and this test: the session's server is shared.
    return Customer(name, f"3361{int(time.time()) % 100000:05d}{next(_numbers):03d}")


def open_phone(page: Page, customer: Customer) -> None:
    page.goto("/phone?" + urlencode({"phone": customer.phone, "name": customer.name}))
    expect(page.get_by_role("heading", name=customer.name)).to_be_visible()


def chat(page: Page) -> Locator:
    """The bubbles of the phone's chat, oldest first."""
    return page.get_by_role("list", name="Chat with the business").get_by_role("listitem")


def write(page: Page, text: str) -> None:
    """On the phone page: the customer writes `text` and sends it."""
    page.locator("#phone-text").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(chat(page).filter(has_text=text).last).to_be_visible()


def replies(page: Page) -> Locator:
    """On the phone page: the business's bubbles, oldest first."""
    return page.locator("#phone-chat > li.theirs")


def open_conversation(page: Page, customer: Customer, timeout: float = 20) -> None:
    """From the conversation list, the conversation of `customer`.

    The list shows what the read model holds, a moment after the webhook: load it again (the
    way a person would refresh) until the customer is listed, within `timeout` seconds.
    """
    link = page.get_by_role("link", name=customer.name, exact=True)
    deadline = time.monotonic() + timeout
    while True:
        page.goto("/conversations?" + urlencode({"search": customer.name}))
        if link.count() > 0:
            break
        assert time.monotonic() < deadline, f"{customer.name} not in the list in {timeout} s"
    link.click()
    expect(page.get_by_role("heading", level=1, name=customer.name)).to_be_visible()


def timeline(page: Page) -> Locator:
    """On a conversation page: its messages, oldest first."""
    return page.locator("ol.timeline > li.message")


def write_late(page: Page, text: str) -> None:
    """On the phone page: the customer writes `text` dated 25 hours ago (a late delivery, as
    the phone's checkbox offers), which leaves the 24-hour window closed."""
    page.locator("#phone-text").fill(text)
    page.get_by_label("Dated 25 hours ago").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(chat(page).filter(has_text=text).last).to_be_visible()


def order_a_t_shirt(page: Page) -> None:
    """On the phone page: ask for t-shirts, pick one from the list, order it and confirm."""
    write(page, "vous avez des t-shirts ?")
    listing = replies(page).filter(has=page.locator("details")).last
    pick_from_list(listing, "T-shirt")
    product = (
        replies(page).filter(has=page.get_by_role("button")).filter(has_not=page.locator("details"))
    )
    expect(product).to_have_count(1)
    product.get_by_role("button").first.click()  # the product message's order button
    confirm = page.locator('#phone-chat button[value^="confirm_order_"]')
    expect(confirm).to_have_count(1)  # the order summary asks for a confirmation
    confirm.click()
    expect(replies(page).last).to_contain_text("confirm", ignore_case=True)


def pick_from_list(listing: Locator, title: str, timeout: float = 20) -> None:
    """Open a list message and tap its first row titled `title`.

    The chat re-renders itself as statuses arrive (never while a list is open, but a re-fetch
    already under way can land just after the tap on the list's button and close it): open
    it again then, as a person would, within `timeout` seconds.
    """
    row = listing.get_by_role("button", name=title).first
    deadline = time.monotonic() + timeout
    while not row.is_visible():
        assert time.monotonic() < deadline, f"the list never showed {title!r}"
        if not listing.locator("details").evaluate("list => list.open"):
            listing.locator("summary").click()
    row.click()
