"""Products and orders as a customer sees them, within WhatsApp's limits."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.catalog import Product
from domain.commerce_messages import (
    chosen_product,
    not_pending_text,
    order_move_text,
    order_refused_text,
    order_summary,
    order_template_parameters,
    recommendation_list,
    unknown_order_text,
)
from domain.orders import NotPending, Order, OrderItem, OrderPlaced, OrderRefused
from domain.whatsapp_limits import check_message


def product(product_id: str, name: str, stock: int = 3, description: str = "") -> Product:
    return Product(
        product_id=product_id,
        name=name,
        description=description,
        price=1250,
        currency="EUR",
        stock=stock,
    )


def test_a_list_shows_in_stock_products_with_prices_in_the_customers_language() -> None:
    products = [
        product("tee", "T-shirt bleu", description="Coton bio"),
        product("old", "Ancien modèle", stock=0),
        product("cap", "Casquette"),
    ]
    french = recommendation_list(products, "fr")
    assert french is not None
    check_message(french)
    rows = french.sections[0].rows
    assert [r.id for r in rows] == ["product_tee", "product_cap"]
    assert rows[0].description == "12,50\u00a0€ · Coton bio"
    assert french.button == "Voir les produits"
    english = recommendation_list(products, "en")
    assert english is not None
    assert english.sections[0].rows[1].description == "€12.50"
    assert english.button == "See products"


def test_a_list_keeps_ten_rows_and_cuts_long_names_between_graphemes() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, several code points
    long_name = "Pack famille " + family * 10
    products = [product(f"p{i}", long_name, description="d" * 200) for i in range(14)]
    listed = recommendation_list(products, "en")
    assert listed is not None
    check_message(listed)  # within every limit, nothing to cut
    rows = listed.sections[0].rows
    assert len(rows) == 10
    kept = rows[0].title.removeprefix("Pack famille ")
    assert kept
    assert kept == family * (len(kept) // len(family))  # whole families only


def test_no_list_when_nothing_is_in_stock() -> None:
    assert recommendation_list([product("old", "Vieux", stock=0)], "fr") is None


def test_a_tapped_row_names_its_product_and_other_rows_do_not() -> None:
    assert chosen_product("product_tee-1") == "tee-1"
    assert chosen_product("confirm_order_o1") is None
    assert chosen_product("product_") is None


def test_an_order_summary_carries_its_three_buttons() -> None:
    placed = OrderPlaced(
        business_id="b1",
        order_id="o42",
        conversation_stream="c",
        items=(
            OrderItem(product_id="tee", name="T-shirt", quantity=2, unit_price=1250),
            OrderItem(product_id="cap", name="Casquette", quantity=1, unit_price=900),
        ),
        currency="EUR",
        total=3400,
        source="assistant",
        at=datetime(2026, 11, 26, tzinfo=UTC),
    )
    french = order_summary(Order(placed), "fr")
    check_message(french)
    assert [b.id for b in french.buttons] == [
        "confirm_order_o42",
        "modify_order_o42",
        "cancel_order_o42",
    ]
    assert [b.title for b in french.buttons] == ["Confirmer", "Modifier", "Annuler"]
    assert "2 x T-shirt\u00a0: 25,00\u00a0€" in french.body
    assert french.body.endswith("Total\u00a0: 34,00\u00a0€")
    english = order_summary(Order(placed), "en")
    assert [b.title for b in english.buttons] == ["Confirm", "Change", "Cancel"]
    assert english.body.endswith("Total: €34.00")


def test_refusals_and_late_buttons_are_answered_politely() -> None:
    refused = OrderRefused("out_of_stock", ("Casquette",))
    assert order_refused_text(refused, "fr").endswith(": Casquette.")
    assert "not available" in order_refused_text(refused, "en")
    assert "déjà confirmée" in not_pending_text(NotPending("confirmed"), "fr")
    assert "cancelled" in not_pending_text(NotPending("cancelled"), "en")


def test_each_move_of_an_order_is_told_in_the_customers_language() -> None:
    placed = OrderPlaced(
        business_id="b", order_id="o42", conversation_stream="c",
        items=(OrderItem(product_id="tee", name="T", quantity=2, unit_price=1250),),
        currency="EUR", total=2500, source="catalog_order", at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    order = Order(placed)
    assert order_move_text(order, "confirmed", "en") == (
        "Thank you! Your order o42 is confirmed. Total: €25.00.")  # fmt: skip
    assert order_move_text(order, "confirmed", "fr") == (
        "Merci\u00a0! Votre commande o42 est confirmée. Total\u00a0: 25,00\u00a0€.")  # fmt: skip
    assert "expédiée" in order_move_text(order, "shipped", "fr")
    assert "delivered" in order_move_text(order, "delivered", "en")
    assert order_template_parameters(order, "confirmed", "fr") == ("o42", "25,00\u00a0€")
    assert order_template_parameters(order, "shipped", "en") == ("o42", "shipped")
    assert order_template_parameters(order, "cancelled", "fr") == ("o42", "annulée")
    assert "cannot find" in unknown_order_text("en")


def test_a_long_order_still_shows_its_total_and_counts_the_items_left_out() -> None:
    items = tuple(
        OrderItem(product_id=f"p{i}", name=f"Savon artisanal {i}", quantity=1, unit_price=1250)
        for i in range(40)
    )
    placed = OrderPlaced(
        business_id="b1", order_id="o42", conversation_stream="c", items=items,
        currency="EUR", total=50000, source="catalog_order", at=datetime(2026, 11, 26, tzinfo=UTC),
    )  # fmt: skip
    french = order_summary(Order(placed), "fr")
    check_message(french)
    lines = french.body.split("\n")
    assert lines[-1] == "Total\u00a0: 500,00\u00a0€"
    listed = [line for line in lines if "Savon" in line]
    assert 0 < len(listed) < 40
    assert lines[-2] == f"• … et {40 - len(listed)} autres articles"
    english = order_summary(Order(placed), "en")
    assert english.body.endswith("Total: €500.00")
    assert "more items" in english.body


def test_a_refusal_names_ten_products_and_counts_the_others() -> None:
    names = tuple(f"Produit au nom très long numéro {i} " + "x" * 150 for i in range(30))
    text = order_refused_text(OrderRefused("out_of_stock", names), "fr")
    assert len(text) < 4096
    assert "numéro 9 " in text
    assert "numéro 10 " not in text
    assert text.endswith("… (+20 autres).")
    assert order_refused_text(OrderRefused("out_of_stock", names), "en").endswith("(+20 more).")
