"""Order settings: template names and languages checked, changes folded in order."""

from __future__ import annotations

import pytest

from domain.order_settings import (
    OrderSettings,
    OrderSettingsChanged,
    OrderSettingsChanges,
    OrderSettingsError,
    order_settings_of,
    validated,
)


def test_changes_are_tidied_and_folded_in_order() -> None:
    first = validated(OrderSettingsChanges(confirmation_template=" order_confirmed ",
                                           template_language_en="en_US"))  # fmt: skip
    assert first == OrderSettingsChanges(confirmation_template="order_confirmed",
                                         template_language_en="en_US")  # fmt: skip
    cleared = validated(OrderSettingsChanges(confirmation_template=""))
    settings = order_settings_of([
        OrderSettingsChanged(business_id="b", changes=first),
        OrderSettingsChanged(business_id="b", changes=OrderSettingsChanges(
            status_template="order_status")),
        OrderSettingsChanged(business_id="b", changes=cleared),
    ])  # fmt: skip
    assert settings == OrderSettings(status_template="order_status", template_language_en="en_US")
    assert settings.template("confirmation") is None
    assert settings.template("status") == "order_status"
    assert (settings.template_language("fr"), settings.template_language("en")) == ("fr", "en_US")


def test_a_change_to_the_current_value_is_no_change() -> None:
    current = OrderSettings(status_template="s")
    changes = OrderSettingsChanges(status_template="s", template_language_fr="fr_FR")
    assert changes.against(current) == OrderSettingsChanges(template_language_fr="fr_FR")
    assert OrderSettingsChanges(status_template="s").against(current).empty


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (OrderSettingsChanges(confirmation_template="Order Confirmed"), "confirmation_template"),
        (OrderSettingsChanges(status_template="x" * 513), "status_template"),
        (OrderSettingsChanges(template_language_fr="french"), "template_language_fr"),
        (OrderSettingsChanges(template_language_en="en-us"), "template_language_en"),
    ],
)
def test_a_wrong_value_names_its_field(changes: OrderSettingsChanges, field: str) -> None:
    with pytest.raises(OrderSettingsError) as refused:
        validated(changes)
    assert refused.value.field == field
