"""A customer finds a product on the sandbox phone, orders it, confirms, and the agent sees the
order on the orders page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Shoot
from tests.browser.shop import new_customer, open_phone, order_a_t_shirt


def test_an_order_placed_on_the_phone_shows_on_the_orders_page(
    signed_in: Page, shoot: Shoot
) -> None:
    customer = new_customer("Inès Order")
    page = signed_in
    open_phone(page, customer)
    order_a_t_shirt(page)
    shoot(page, "phone-after-order")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    order = page.locator("li.record").filter(has_text=customer.name)
    expect(order).to_have_count(1)
    expect(order).to_contain_text("Confirmed")
    expect(order).to_contain_text("T-shirt")
    expect(order).to_contain_text("€19.90")  # the total, as English readers write it
    shoot(page, "orders")
    order.get_by_role("link", name=customer.name).click()
    expect(page.get_by_role("heading", level=1, name=customer.name)).to_be_visible()
