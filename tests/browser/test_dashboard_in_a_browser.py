"""The dashboard in Chromium at a phone's width (390 px): sign in by keyboard, every page
without sideways scrolling, the chart drawn, focus visible, nothing loaded from elsewhere,
a takeover and the language switch by plain forms."""

from __future__ import annotations

from playwright import async_api as playwright

from tests.e2e.test_dashboard import ANA, dashboard_world, deliver
from tests.support.chromium import QUIET_FLAGS, chromium, watch
from tests.support.sending import API_TOKEN
from tests.support.webhooks import text_message

PHONE = {"width": 390, "height": 844}


async def test_the_dashboard_works_at_a_phone_s_width(database_url: str) -> None:
    async with dashboard_world(database_url) as world:
        await deliver(world, text_message("A question with a long-unbreakable-word" * 3,
                                          customer=ANA), "Ana")  # fmt: skip
        chat = await world.conversation_of(ANA)
        base = str(world.http.base_url).rstrip("/")
        async with playwright.async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=chromium(), args=list(QUIET_FLAGS)
            )
            page = await browser.new_page(viewport=PHONE, locale="en-US")
            seen = watch(page, base)

            await page.goto(base + "/")
            assert page.url == base + "/sign-in"
            # The keyboard alone: the skip link first, then to the token field.
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "[document.activeElement.className,"
                " getComputedStyle(document.activeElement).outlineStyle]"
            )
            assert focused == ["skip-link", "solid"]
            await page.focus("#token")
            await page.keyboard.type(API_TOKEN)
            await page.keyboard.press("Enter")
            await page.wait_for_url(base + "/")

            for path in ("/", "/?range=30d", "/conversations", f"/conversations/{chat}"):
                await page.goto(base + path)
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
                assert await page.locator("h1").count() == 1
            await page.goto(base + "/")
            await page.wait_for_selector("#messages-chart .uplot canvas")

            await page.goto(base + f"/conversations/{chat}")
            await page.click("text=Take over")
            await page.wait_for_selector("text=You took the conversation over")
            assert await page.locator(".facts .status-escalated").count() == 1

            await page.select_option("#lang-choice", "fr")
            await page.click("form[action='/language'] button")
            await page.wait_for_selector("html[lang=fr]")
            assert await page.locator("text=Rendre la main au bot").count() == 1
            assert seen.elsewhere == []
            assert seen.failed == []
            await browser.close()
