"""The Orders, Errors and Phone pages in Chromium at a phone's width (390 px), and live updates
that change the open page without reloading it."""

from __future__ import annotations

from typing import Any

from playwright import async_api as playwright

from application.sandbox_phone import CartItem
from entrypoints.container import resolve
from entrypoints.sandbox import SANDBOX_BUSINESS_ID
from tests.support.chromium import QUIET_FLAGS, chromium, watch
from tests.support.sandbox_server import sandbox_server

PHONE = {"width": 390, "height": 844}


async def test_the_phone_orders_and_errors_at_a_phone_s_width_update_live(
    database_url: str,
) -> None:
    async with sandbox_server(database_url) as server:
        tokens: Any = await resolve(server.container.api_tokens())
        issued = await tokens.create(SANDBOX_BUSINESS_ID, "Shop agent")
        catalog: Any = await resolve(server.container.catalog_queries())

        async def listed() -> bool:
            return bool((await catalog.search(SANDBOX_BUSINESS_ID, None, limit=1)).items)

        await server.eventually(listed, "the demo catalog in its read model")
        [first] = (await catalog.search(SANDBOX_BUSINESS_ID, None, limit=1)).items
        base = server.base_url
        async with playwright.async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=chromium(), args=list(QUIET_FLAGS)
            )
            page = await browser.new_page(viewport=PHONE, locale="en-US")
            seen = watch(page, base)

            await page.goto(base + "/sign-in")
            await page.fill("#token", issued.token)
            await page.keyboard.press("Enter")
            await page.wait_for_url(base + "/")

            for path in ("/phone", "/orders", "/errors"):
                await page.goto(base + path)
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
                assert await page.locator("h1").count() == 1

            # The phone: write by keyboard, the business's answer appears without a reload.
            await page.goto(base + "/phone")
            await page.focus("#phone-text")
            await page.keyboard.type("Bonjour")
            await page.click("form.compose button")
            await page.wait_for_selector(".bubble.mine >> text=Bonjour")
            await page.evaluate("window.stillTheSamePage = true")
            await page.wait_for_selector(".bubble.theirs", timeout=20000)
            assert await page.evaluate("window.stillTheSamePage") is True
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]

            # The Orders page, open: an order placed meanwhile shows up on it by itself.
            await page.goto(base + "/orders")
            await page.wait_for_selector("text=No orders here yet.")
            await page.evaluate("window.stillTheSamePage = true")
            phone = server.sandbox.phone
            product = first.product
            await phone.send_cart(phone.default_customer, [CartItem(
                product_retailer_id=product.retailer_id or product.product_id, quantity=2,
                item_price=product.price / 100, currency=product.currency,
            )])  # fmt: skip
            await page.wait_for_selector("#orders-rows >> text=Camille Martin", timeout=20000)
            assert await page.evaluate("window.stillTheSamePage") is True
            assert await page.locator("#orders-rows .tag").first.inner_text() == "Pending"
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]

            assert seen.elsewhere == []
            assert seen.failed == []
            await browser.close()
