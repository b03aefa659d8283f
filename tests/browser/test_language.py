"""The dashboard in French, chosen from the language menu."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def test_switching_to_french_relabels_the_dashboard(signed_in: Page) -> None:
    page = signed_in
    page.get_by_label("Language").select_option(label="Français")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    nav = page.get_by_role("navigation", name="Principal")
    expect(nav.get_by_role("link")).to_have_text(
        ["Vue d'ensemble", "Conversations", "Commandes", "Erreurs", "Téléphone"]
    )
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()

    nav.get_by_role("link", name="Conversations").click()  # the choice stays on the next page
    expect(page).to_have_url(re.compile(r"/conversations$"))
    expect(page.get_by_label("Statut")).to_be_visible()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
