"""Amounts of money: integers in a currency's minor unit, never floats.

A price is read from text ("12.50", "12,5", "1200") with ``parse_amount`` against the
currency's number of minor-unit digits (ISO 4217: 2 for EUR, 0 for JPY or XOF, 3 for
KWD), and shown to a customer with ``format_amount`` in their language: ``12,50 €`` in
French, ``€12.50`` in English.
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeAlias

Language: TypeAlias = Literal["fr", "en"]


def _codes(listed: str) -> frozenset[str]:
    return frozenset(listed.split())


# ISO 4217 active codes whose minor unit is not 2 digits; every other listed code has 2.
_MINOR_DIGITS_NOT_TWO: Final = {
    **dict.fromkeys(
        _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}
_TWO_DIGIT_CODES: Final = _codes(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS
    KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
    MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD
    SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS
    UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"""
)
# Whole units: far beyond any price, and even with 4 minor digits (CLF) within a bigint.
MAX_AMOUNT_DIGITS: Final = 12
MAX_MINOR_AMOUNT: Final = 2**63 - 1  # what a PostgreSQL bigint (and so any stored sum) holds

_SYMBOLS: Final = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_AMOUNT: Final = re.compile(r"^([0-9]+)(?:[.,]([0-9]+))?$")
_NARROW_NBSP: Final = "\u202f"  # French groups thousands with a narrow no-break space


class MoneyError(ValueError):
    """An amount or currency that cannot be a price; the message says why, for people."""


def minor_digits(currency: str) -> int:
    """How many digits the currency's minor unit has; MoneyError for an unknown code."""
    if currency in _MINOR_DIGITS_NOT_TWO:
        return _MINOR_DIGITS_NOT_TWO[currency]
    if currency in _TWO_DIGIT_CODES:
        return 2
    raise MoneyError(f'"{currency}" is not an ISO 4217 currency code (e.g. EUR, USD, XOF)')


def parse_amount(text: str, currency: str) -> int:
    """``text`` as an amount in the currency's minor unit ("12.50" EUR is 1250)."""
    digits = minor_digits(currency)
    found = _AMOUNT.match(text.strip())
    if found is None:
        raise MoneyError(f'"{text}" is not an amount: write digits and a decimal part, e.g. 12.50')
    whole: str = found.group(1)
    fraction: str = found.group(2) or ""
    if len(fraction) > digits:
        places = "no decimal places" if digits == 0 else f"at most {digits} decimal places"
        raise MoneyError(f'"{text}" has too many decimal places: {currency} takes {places}')
    if len(whole.lstrip("0")) > MAX_AMOUNT_DIGITS:
        raise MoneyError(f'"{text}" is too large')
    scale: int = 10**digits
    return int(whole) * scale + int(fraction.ljust(digits, "0") or "0")


def format_amount(amount_minor: int, currency: str, language: Language) -> str:
    """The amount as a customer reads it: ``12,50 €`` (fr), ``€12.50`` (en)."""
    digits = minor_digits(currency)
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    sign = "-" if amount_minor < 0 else ""
    grouped = f"{whole:,}"
    if language == "fr":
        number = grouped.replace(",", _NARROW_NBSP)
        if digits:
            number += "," + str(fraction).zfill(digits)
        return f"{sign}{number}\u00a0{_SYMBOLS.get(currency, currency)}"
    number = grouped + ("." + str(fraction).zfill(digits) if digits else "")
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency}\u00a0{number}"
