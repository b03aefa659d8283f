"""The pure parts of selling through the assistant: what a product question asks for, which
taps the orders process manager takes, how a chosen product is shown, and an order decided
by the assistant as a decision recorded with its turn."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from domain.assistant import Decision, OrderLine, PlaceOrder, Reply
from domain.catalog import Product
from domain.catalog_search import ProductQuery, product_query
from domain.commerce_messages import (
    no_products_text,
    nothing_found,
    product_answer,
    product_gone,
)
from domain.conversation import MessageReceived
from domain.inbound import ChoiceContent, Content, InboundMessage, TextContent
from domain.orders import ProductTap, is_order_message, product_tap_of
from domain.outbound import TextMessage
from domain.reply_policy import starts_turn
from domain.whatsapp_limits import MessageLimitError, check_message, text_length

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def product(
    image_url: str | None = None, description: str = "Cuir souple, semelle gomme"
) -> Product:
    return Product(product_id="b1", name="Baskets blanches", description=description,
                   price=1250, currency="EUR", stock=3, image_url=image_url)  # fmt: skip


def received(content: Content) -> MessageReceived:
    message = InboundMessage(phone_number_id="1", customer_id="15550001111", wamid="wamid.A",
                             sent_at=NOW, type="x", content=content)  # fmt: skip
    return MessageReceived(business_id="b1", message=message)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("vous avez des baskets ?", "baskets"),
        ("Bonjour, je cherche un t-shirt blanc", "t-shirt blanc"),
        ("Avez-vous des sacs à dos ?", "sacs dos"),
        ("do you have shoes", "shoes"),
        ("Hi! I\u2019m looking for a summer dress please", "summer dress"),
        ("Do you sell any watches?", "watches"),
    ],
)
def test_a_product_question_names_the_product(text: str, query: str) -> None:
    assert product_query(text) == ProductQuery(query, explicit=True)


def test_a_wish_may_name_a_product_or_something_else() -> None:
    assert product_query("je voudrais un t-shirt") == ProductQuery("t-shirt", explicit=False)
    assert product_query("I want to cancel my order") == ProductQuery("cancel", explicit=False)


@pytest.mark.parametrize(
    "text", ["Bonjour", "je cherche", "vous êtes ouverts dimanche ?", "do you have", "merci !"]
)
def test_other_messages_ask_for_no_product(text: str) -> None:
    assert product_query(text) is None


def test_product_taps_go_to_the_orders_process_and_start_no_turn() -> None:
    taps = {
        ChoiceContent(choice="list", reply_id="product_b1", title="Baskets"): ProductTap(
            "show", "b1"),
        ChoiceContent(choice="button", reply_id="order_product_b1", title="Commander"): ProductTap(
            "order", "b1"),
        ChoiceContent(choice="button", reply_id="more_products", title="Autres"): ProductTap(
            "more"),
    }  # fmt: skip
    for content, tap in taps.items():
        assert product_tap_of(content) == tap
        assert is_order_message(received(content))
        assert not starts_turn(received(content))
    for other in (
        ChoiceContent(choice="button", reply_id="product_b1", title="a button, not a row"),
        ChoiceContent(choice="list", reply_id="order_product_b1", title="a row, not a button"),
        ChoiceContent(choice="list", reply_id="hours", title="Horaires"),
        ChoiceContent(choice="list", reply_id="product_", title="no id"),
        TextContent(body="product_b1"),
    ):
        assert product_tap_of(other) is None
        assert not is_order_message(received(other))


def test_a_product_with_an_image_is_one_message_with_the_image_as_its_header() -> None:
    shown = product_answer(product("https://shop.example/b1.jpg"), "fr")

    assert (shown.header_image, shown.header) == ("https://shop.example/b1.jpg", None)
    assert shown.body == "*Baskets blanches*\n12,50\u00a0€\nCuir souple, semelle gomme"
    assert [(b.id, b.title) for b in shown.buttons] == [
        ("order_product_b1", "Commander"), ("more_products", "Autres produits")]  # fmt: skip
    assert check_message(shown) == shown


def test_an_image_header_is_a_link_and_never_beside_a_text_header() -> None:
    shown = product_answer(product("https://shop.example/b1.jpg"), "fr")
    for wrong, field in (
        (msgspec.structs.replace(shown, header_image="ftp://shop.example/b1.jpg"), "URL"),
        (msgspec.structs.replace(shown, header="Baskets"), "not both"),
    ):
        with pytest.raises(MessageLimitError, match=field):
            check_message(wrong)


def test_a_product_without_an_image_is_one_message_with_its_name_as_header() -> None:
    shown = product_answer(product(description="x" * 3000), "en")

    assert (shown.header, shown.header_image) == ("Baskets blanches", None)
    assert shown.body.startswith("€12.50\nxxx")
    assert text_length(shown.body) == 1024
    assert [(b.id, b.title) for b in shown.buttons] == [
        ("order_product_b1", "Order"), ("more_products", "Other products")]  # fmt: skip
    assert check_message(shown) == shown


def test_nothing_found_offers_to_rephrase_see_products_or_talk_to_a_person() -> None:
    french = nothing_found("chapeaux   de paille", "fr")
    assert "«\u00a0chapeaux de paille\u00a0»" in french.body
    assert [b.id for b in french.buttons] == ["more_products", "human"]
    assert nothing_found("x" * 500, "en").body.count("x") == 60
    assert [b.id for b in product_gone("en").buttons] == ["more_products"]
    assert no_products_text("fr").startswith("Désolé")


def test_an_order_decision_is_recorded_and_read_back_and_reads_as_text() -> None:
    decision = PlaceOrder(items=(OrderLine(product_id="b1", quantity=2),))
    encoded = msgspec.json.encode(decision)

    assert msgspec.json.decode(encoded, type=Decision) == decision
    assert b'"type":"place_order"' in encoded
    assert decision.message == TextMessage(body="[order placed: 2 x b1]")
    assert msgspec.json.decode(msgspec.json.encode(Reply(message=TextMessage(body="hi"))),
                               type=Decision) == Reply(message=TextMessage(body="hi"))  # fmt: skip
