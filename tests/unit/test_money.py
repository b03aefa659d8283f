"""Prices as integers in a currency's minor unit, read from text and shown per language."""

from __future__ import annotations

import pytest

from domain.money import MoneyError, format_amount, minor_digits, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12,5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0", "USD", 0),
        (" 7.05 ", "GBP", 705),
        ("1500", "XOF", 1500),
        ("1500", "JPY", 1500),
        ("2.125", "KWD", 2125),
        ("0012.30", "EUR", 1230),
        ("9" * 12 + ".9999", "CLF", 10**16 - 1),  # the largest amount, within a bigint
    ],
)
def test_an_amount_is_read_in_the_currencys_minor_unit(
    text: str, currency: str, minor: int
) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "says"),
    [
        ("12.505", "EUR", "EUR takes at most 2 decimal places"),
        ("1500.5", "XOF", "XOF takes no decimal places"),
        ("-3", "EUR", "not an amount"),
        ("12.5.1", "EUR", "not an amount"),
        ("1e3", "EUR", "not an amount"),
        ("", "EUR", "not an amount"),
        ("douze", "EUR", "not an amount"),
        ("١٢", "EUR", "not an amount"),  # other scripts' digits are not read as prices
        ("1" * 13, "EUR", "too large"),
    ],
)
def test_a_bad_amount_says_what_is_wrong(text: str, currency: str, says: str) -> None:
    with pytest.raises(MoneyError, match=says):
        parse_amount(text, currency)


def test_an_unknown_currency_is_refused_with_examples() -> None:
    with pytest.raises(MoneyError, match='"EURO" is not an ISO 4217 currency code'):
        minor_digits("EURO")
    with pytest.raises(MoneyError):
        parse_amount("1", "eur")  # codes are upper case; callers normalise first


@pytest.mark.parametrize(
    ("minor", "currency", "language", "shown"),
    [
        (1250, "EUR", "fr", "12,50\u00a0€"),
        (1250, "EUR", "en", "€12.50"),
        (123450, "EUR", "fr", "1\u202f234,50\u00a0€"),
        (123450, "USD", "en", "$1,234.50"),
        (5, "EUR", "en", "€0.05"),
        (1500, "XOF", "fr", "1\u202f500\u00a0XOF"),
        (1500, "XOF", "en", "XOF\u00a01,500"),
        (2125, "KWD", "en", "KWD\u00a02.125"),
        (999, "GBP", "fr", "9,99\u00a0£"),
    ],
)
def test_an_amount_is_shown_as_a_customer_of_that_language_reads_it(
    minor: int, currency: str, language: str, shown: str
) -> None:
    assert format_amount(minor, currency, language) == shown  # type: ignore[arg-type]
