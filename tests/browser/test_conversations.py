"""A conversation as the agent sees it: the assistant's replies arriving live, taking over and
handing back, and a conversation whose 24-hour window has closed."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Dashboard, Shoot
from tests.browser.shop import (
    chat,
    new_customer,
    open_conversation,
    open_phone,
    replies,
    timeline,
    write,
    write_late,
)


def test_the_assistants_reply_appears_with_its_ticks_without_reloading(
    signed_in: Page, context: BrowserContext, shoot: Shoot
) -> None:
    customer = new_customer("Nadia Live")
    phone = signed_in
    open_phone(phone, customer)
    write(phone, "Bonjour")
    expect(replies(phone)).to_have_count(1)  # the assistant's greeting

    agent = context.new_page()
    open_conversation(agent, customer)
    expect(timeline(agent)).to_have_count(2)
    agent.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

    write(phone, "Quels sont vos horaires ?")
    shown_live = "the open conversation page shows new messages without a reload (live updates)"
    expect(timeline(agent), shown_live).to_have_count(4)
    answer = timeline(agent).last
    expect(answer).to_contain_text("AI")
    expect(answer.locator(".delivery")).to_contain_text("read")  # sent, delivered, then read
    expect(answer.locator(".delivery")).to_contain_text("✓✓")
    assert agent.evaluate("window.stillTheSamePage === true"), "the page was reloaded"
    shoot(agent, "conversation")


def test_an_agent_takes_over_replies_and_hands_back(
    signed_in: Page, context: BrowserContext, shoot: Shoot
) -> None:
    customer = new_customer("Marc Handoff")
    phone = signed_in
    open_phone(phone, customer)
    write(phone, "Bonjour")
    expect(replies(phone).first).to_be_visible()

    agent = context.new_page()
    open_conversation(agent, customer)
    agent.get_by_role("button", name="Take over").click()
    expect(agent.get_by_role("status")).to_contain_text("You took the conversation over")
    expect(agent.locator(".facts")).to_contain_text("Escalated")
    expect(agent.locator(".facts")).to_contain_text("handled by Alex")

    agent.get_by_label("Message", exact=True).fill("Bonjour Marc, ici Alex de la boutique.")
    agent.get_by_role("button", name="Send", exact=True).click()
    expect(agent.get_by_role("status")).to_contain_text("Your reply is queued")
    sent = timeline(agent).filter(has_text="ici Alex de la boutique")
    expect(sent).to_contain_text("Agent")
    shoot(agent, "taken-over")
    expect(chat(phone).filter(has_text="ici Alex de la boutique")).to_be_visible()

    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(agent.get_by_role("status")).to_contain_text("back with the bot")
    expect(agent.locator(".facts")).to_contain_text("Bot")
    expect(agent.get_by_role("button", name="Take over")).to_be_visible()


def test_a_closed_window_only_offers_approved_templates(
    signed_in: Page, dashboard: Dashboard, shoot: Shoot
) -> None:
    customer = new_customer("Zoé Window")
    page = signed_in
    # The window runs 24 h from the customer's last message by WhatsApp's timestamp.
    open_phone(page, customer)
    write_late(page, "Vous êtes ouverts ?")
    open_conversation(page, customer)
    expect(page.locator(".facts")).to_contain_text("closed: only approved templates")
    expect(page.get_by_text("has not written for 24 hours")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_have_count(0)  # no free-form text
    template = page.get_by_label("Approved template")
    expect(template.locator("option")).to_contain_text(["follow_up", "order_confirmation"])
    shoot(page, "window-closed")

    template.select_option(label="follow_up (fr)")
    page.get_by_label("Template variables").fill("Zoé")
    page.get_by_role("button", name="Send the template").click()
    expect(page.get_by_role("status")).to_contain_text("Your reply is queued")
    sent = timeline(page).last
    expect(sent).to_contain_text("Agent")
    expect(sent).to_contain_text("follow_up (fr)")
    open_phone(page, customer)  # the customer's phone receives it, filled in
    expect(replies(page).last).to_contain_text("Bonjour Zoé, pouvons-nous encore vous aider ?")
