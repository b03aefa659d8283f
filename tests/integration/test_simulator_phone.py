"""The sandbox's customer phone over the Cloud API simulator: what a customer writes reaches
the webhook signed, and what the business sends shows as the customer's chat."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.whatsapp.simulator import CloudApiSimulator, running
from adapters.whatsapp.simulator.phone import SimulatorPhone
from application.sandbox_phone import CartItem, PhoneChoice, PhoneCustomer, SandboxPhoneError
from tests.support.asgi import serving_asgi

TOKEN = "phone-test-token"
NUMBER = "100000000000002"
CUSTOMER = PhoneCustomer(phone="33612345678", name="Camille")


class Webhook:
    """A webhook that takes every delivery (or refuses them all) and keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        self.messages.extend(value.get("messages", []))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
async def world() -> AsyncIterator[tuple[CloudApiSimulator, SimulatorPhone, Webhook]]:
    webhook = Webhook()
    async with serving_asgi(webhook) as port:
        simulator = CloudApiSimulator(access_tokens=[TOKEN], app_secret="s",
                                      webhook_url=f"http://127.0.0.1:{port}/",
                                      webhook_backoff=0.01)  # fmt: skip
        async with running(simulator) as served:
            yield served, SimulatorPhone(served, CUSTOMER), webhook


async def _business_sends(simulator: CloudApiSimulator, message: dict[str, Any]) -> str:
    body = {"messaging_product": "whatsapp", "to": CUSTOMER.phone, **message}
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{simulator.base_url}/v26.0/{NUMBER}/messages", json=body,
                                   headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["messages"][0]["id"])


LIST = {"type": "interactive", "interactive": {
    "type": "list", "body": {"text": "Nos t-shirts"},
    "action": {"button": "Voir", "sections": [{"title": "T-shirts", "rows": [
        {"id": "product_tee", "title": "T-shirt bio", "description": "19,90 €"}]}]}}}  # fmt: skip
BUTTONS = {"type": "interactive", "interactive": {
    "type": "button", "body": {"text": "T-shirt bio, 19,90 €"},
    "action": {"buttons": [
        {"type": "reply", "reply": {"id": "buy_tee", "title": "Commander"}}]}}}  # fmt: skip


async def test_the_chat_shows_both_sides_in_order(world: Any) -> None:
    simulator, phone, webhook = world
    await phone.send_text(CUSTOMER, "  vous avez des t-shirts ?  ")
    await _business_sends(simulator, {"type": "text", "text": {"body": "Bonjour !"}})
    list_id = await _business_sends(simulator, LIST)
    chat = phone.chat(CUSTOMER)
    assert [(m.direction, m.kind, m.text) for m in chat] == [
        ("from_customer", "text", "vous avez des t-shirts ?"),
        ("to_customer", "text", "Bonjour !"),
        ("to_customer", "list", "Nos t-shirts"),
    ]
    assert chat[2].id == list_id
    assert chat[2].list_button == "Voir"
    assert chat[2].choices == (PhoneChoice("product_tee", "T-shirt bio", "19,90 €"),)
    assert webhook.messages[0]["text"]["body"] == "vous avez des t-shirts ?"
    assert phone.chat(PhoneCustomer(phone="15550000000", name="Other")) == []


async def test_a_tap_quotes_the_message_and_sends_what_it_offered(world: Any) -> None:
    simulator, phone, webhook = world
    list_id = await _business_sends(simulator, LIST)
    buttons_id = await _business_sends(simulator, BUTTONS)
    await phone.tap(CUSTOMER, list_id, PhoneChoice("product_tee", "ignored"), kind="list")
    await phone.tap(CUSTOMER, buttons_id, PhoneChoice("buy_tee", "ignored"), kind="button")
    picked, tapped = webhook.messages
    assert picked["context"]["id"] == list_id
    assert picked["interactive"] == {"type": "list_reply", "list_reply": {
        "id": "product_tee", "title": "T-shirt bio", "description": "19,90 €"}}  # fmt: skip
    assert tapped["context"]["id"] == buttons_id
    assert tapped["interactive"]["button_reply"] == {"id": "buy_tee", "title": "Commander"}


async def test_what_the_phone_cannot_send_is_refused_and_nothing_is_posted(world: Any) -> None:
    simulator, phone, webhook = world
    buttons_id = await _business_sends(simulator, BUTTONS)
    with pytest.raises(SandboxPhoneError, match="empty"):
        await phone.send_text(CUSTOMER, "   ")
    with pytest.raises(SandboxPhoneError, match="not in a message"):
        await phone.tap(CUSTOMER, buttons_id, PhoneChoice("cancel_everything", "x"), kind="button")
    with pytest.raises(SandboxPhoneError, match="not in a message"):
        await phone.tap(CUSTOMER, "wamid.unknown", PhoneChoice("buy_tee", "x"), kind="button")
    someone_else = PhoneCustomer(phone="15550001111", name="Bo")
    with pytest.raises(SandboxPhoneError, match="not in a message"):
        await phone.tap(someone_else, buttons_id, PhoneChoice("buy_tee", "x"), kind="button")
    with pytest.raises(SandboxPhoneError, match="empty"):
        await phone.send_cart(CUSTOMER, [])
    with pytest.raises(SandboxPhoneError, match="quantity"):
        await phone.send_cart(CUSTOMER, [CartItem("tee", 0, 19.9, "EUR")])
    assert webhook.messages == []


async def test_a_cart_goes_out_as_a_catalog_order(world: Any) -> None:
    _, phone, webhook = world
    await phone.send_cart(
        CUSTOMER, [CartItem("tee", 2, 19.9, "EUR"), CartItem("cap", 1, 15, "EUR")]
    )
    (order,) = webhook.messages
    assert order["type"] == "order"
    assert order["order"]["product_items"] == [
        {"product_retailer_id": "tee", "quantity": 2, "item_price": 19.9, "currency": "EUR"},
        {"product_retailer_id": "cap", "quantity": 1, "item_price": 15, "currency": "EUR"},
    ]
    assert phone.chat(CUSTOMER)[0].kind == "order"
    assert phone.chat(CUSTOMER)[0].text == "🛒 2 x tee, 1 x cap"
    await phone.send_cart(CUSTOMER, [CartItem("tee", 1, 19.9, "EUR", name="T-shirt bio")])
    assert phone.chat(CUSTOMER)[-1].text == "🛒 1 x T-shirt bio"


async def test_a_template_reads_as_its_filled_body(world: Any) -> None:
    simulator, phone, _ = world
    body = {"type": "BODY", "text": "Commande {{1}} : {{2}}.",
            "example": {"body_text": [["o1", "expédiée"]]}}  # fmt: skip
    simulator.add_template("order_update", "fr", [body])
    await _business_sends(simulator, {"type": "template", "template": {
        "name": "order_update", "language": {"code": "fr"}, "components": [{"type": "body",
        "parameters": [{"type": "text", "text": "{{2}}"},
                       {"type": "text", "text": "expédiée"}]}]}})  # fmt: skip
    (message,) = phone.chat(CUSTOMER)
    assert (message.kind, message.text) == ("template", "Commande {{2}} : expédiée.")


async def test_a_refused_delivery_is_an_error_not_a_bubble(world: Any) -> None:
    _, phone, webhook = world
    webhook.status = 401
    with pytest.raises(SandboxPhoneError, match="did not reach WazyBot"):
        await phone.send_text(CUSTOMER, "Bonjour")
    assert phone.chat(CUSTOMER) == []


async def test_a_late_message_never_closes_a_window_a_newer_one_opened(world: Any) -> None:
    simulator, phone, _ = world
    await phone.send_text(CUSTOMER, "Bonjour")
    await phone.send_text(CUSTOMER, "Hier soir...", hours_ago=25)
    assert not simulator.state.window_closed(CUSTOMER.phone)


async def test_a_message_meta_failed_never_shows_on_the_phone(world: Any) -> None:
    simulator, phone, _ = world
    simulator.state.set_window(CUSTOMER.phone, open_=False)
    await _business_sends(simulator, {"type": "text", "text": {"body": "Too late"}})
    await simulator.drain()
    assert phone.chat(CUSTOMER) == []


async def test_a_late_message_carries_its_old_timestamp(world: Any) -> None:
    simulator, phone, webhook = world
    before = time.time()
    await phone.send_text(CUSTOMER, "Vous êtes ouverts ?", hours_ago=25)
    (late,) = webhook.messages
    assert before - 25 * 3600 - 5 <= int(late["timestamp"]) <= time.time() - 25 * 3600
    assert phone.chat(CUSTOMER)[0].at.timestamp() == pytest.approx(int(late["timestamp"]), abs=1)
    with pytest.raises(SandboxPhoneError, match="at most"):
        await phone.send_text(CUSTOMER, "too old", hours_ago=24 * 8)
    # The simulator's own window runs from the old time too (free text would fail, 131047).
    assert simulator.state.window_closed(CUSTOMER.phone)
