"""`wazybot orders ...` as a user runs it, against real PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_assistant_cli import Cli


@pytest.fixture
async def cli(database_url: str) -> Cli:
    cli = Cli(database_url)
    await cli.ok("business", "add", "--id", "acme", "--name", "Acme", "--phone-number-id",
                 "106540352242922")  # fmt: skip
    return cli


async def test_order_settings_are_set_shown_and_checked(cli: Cli) -> None:
    shown = json.loads(await cli.ok("orders", "settings", "show", "--business", "acme", "--json"))
    assert shown == {"confirmation_template": None, "status_template": None,
                     "template_language_fr": "fr", "template_language_en": "en",
                     "version": 0}  # fmt: skip
    changed = await cli.ok("orders", "settings", "set", "--business", "acme",
                           "--confirmation-template", "order_confirmed",
                           "--template-language-en", "en_US")  # fmt: skip
    assert "changed confirmation-template, template-language-en" in changed
    again = await cli.ok("orders", "settings", "set", "--business", "acme",
                         "--confirmation-template", "order_confirmed")  # fmt: skip
    assert again.startswith("nothing changed")
    shown = json.loads(await cli.ok("orders", "settings", "show", "--business", "acme", "--json"))
    assert (shown["confirmation_template"], shown["template_language_en"]) == (
        "order_confirmed", "en_US")  # fmt: skip
    table = await cli.ok("orders", "settings", "show", "--business", "acme")
    assert "order_confirmed" in table
    cleared = await cli.ok("orders", "settings", "set", "--business", "acme",
                           "--confirmation-template", "")  # fmt: skip
    assert "changed confirmation-template" in cleared

    bad = await cli.refused("orders", "settings", "set", "--business", "acme",
                            "--status-template", "Not A Name")  # fmt: skip
    assert "--status-template" in bad
    assert "--template-language-fr" in await cli.refused(
        "orders", "settings", "set", "--business", "acme", "--template-language-fr", "french"
    )
    assert "at least one" in await cli.refused("orders", "settings", "set", "--business", "acme")
    assert "no business 'nope'" in await cli.refused(
        "orders", "settings", "show", "--business", "nope"
    )


async def test_orders_are_listed_and_an_unknown_one_is_refused(cli: Cli) -> None:
    assert await cli.ok("orders", "list", "--business", "acme", "--json") == ""
    assert "no order 'o123'" in await cli.refused("orders", "show", "--business", "acme", "o123")
    refused = await cli.refused("orders", "status", "--business", "acme", "o123", "shipped")
    assert "no order with that id" in refused
