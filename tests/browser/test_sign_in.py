"""Signing in and out of the dashboard, with the mouse and with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Dashboard, Shoot, sign_in


def test_the_banners_one_time_link_opens_the_dashboard(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.take_sign_in_link())
    expect(page).to_have_url(dashboard.base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Overview", "Conversations", "Orders", "Errors", "Phone"]
    )


def test_a_token_typed_in_the_form_signs_in(page: Page, dashboard: Dashboard, shoot: Shoot) -> None:
    page.goto("/conversations")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "sign-in")
    page.get_by_label("API token").fill(dashboard.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(dashboard.base_url + "/conversations")  # where the person was going
    expect(page.get_by_text("Alex, signed in to sandbox")).to_be_visible()


def test_an_unknown_token_is_refused_in_words(page: Page) -> None:
    page.goto("/sign-in")
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or was revoked")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_the_sign_in_form_works_with_the_keyboard_alone(page: Page, dashboard: Dashboard) -> None:
    page.goto("/sign-in")
    token = page.get_by_label("API token")
    for _ in range(10):  # Tab through the page's controls, in the page's order, to the field
        if token.evaluate("field => field === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(token).to_be_focused()
    page.keyboard.type(dashboard.token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page).to_have_url(dashboard.base_url + "/")


def test_signing_out_closes_the_dashboard(page: Page, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.token)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/conversations")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
