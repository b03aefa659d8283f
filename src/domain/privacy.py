"""How personal data is shown where it must not appear in full (logs, errors).

Customers are known by their phone number or by their business-scoped user id (BSUID,
``US.13491208655302741918``, parent ids ``US.ENT.11815799212886844830``): both are masked
to their last four characters, a BSUID keeping its country prefix.
"""

from __future__ import annotations

import re
from typing import Final

_VISIBLE: Final = 4
# A phone number as WhatsApp writes it: optional +, 8 to 15 digits, not inside a longer
# number or a word, nor a directory of a path ("/tmp/run-1795664993/data") or a segment of
# a URL path (a Graph API path names the business's phone number id, no customer's).
PHONE_PATTERN: Final = re.compile(r"(?<![\w/.])\+?\d{8,15}(?![\w/])")
# A BSUID as Meta writes it: a country code, a period, an optional ENT. and 1 to 128
# alphanumerics; not the tail of a dotted name (module.AB.x) nor inside a longer word.
BSUID_PATTERN: Final = re.compile(
    r"(?<![A-Za-z0-9.])(?P<prefix>[A-Z]{2}\.(?:ENT\.)?)(?P<local>[A-Za-z0-9]{1,128})(?![A-Za-z0-9])"
)


def mask_phone(number: str) -> str:
    """Keep only the last four digits: '+15551234567' -> '***4567'."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= _VISIBLE:
        return "***"
    return "***" + digits[-_VISIBLE:]


def mask_bsuid(prefix: str, local: str) -> str:
    """Keep the country prefix and the last four: 'US.13491208655302741918' -> 'US.***1918'."""
    return prefix + ("***" if len(local) <= _VISIBLE else "***" + local[-_VISIBLE:])


def mask_customer_id(value: str) -> str:
    """A value known to identify a customer: a BSUID or a phone number, masked either way."""
    if value.startswith("***"):
        return value  # masked already
    bsuid = BSUID_PATTERN.fullmatch(value.strip())
    if bsuid is not None:
        return mask_bsuid(bsuid["prefix"], bsuid["local"])
    return mask_phone(value)


# A phone number as people write it: groups of digits separated by one space, dot or dash,
# an optional +country code, an area code in parentheses ("(415) 555-0132",
# "+44 (0)20 7946 0958"). Not inside a word or a longer number, and not followed by a
# decimal or time part ("1 234,50", "12:30"). Whether a candidate is a phone number is then
# decided by ``_is_phone``: dates, decimals, IP addresses and amounts are not.
_GROUP: Final = r"(?:\(\d{1,4}\)|\d{1,6})"
SEPARATED_PHONE_PATTERN: Final = re.compile(
    rf"(?<![\w+.\-/:,#])(?:\+\d{{1,4}}|{_GROUP})"
    rf"(?:(?:[ .\-]|(?<=\))|[ .\-]?(?=\())(?:{_GROUP})){{1,7}}"
    r"(?![\w]|[.,:\-/]\d)"
)
_GROUPS: Final = re.compile(r"\d+")
_SEPARATORS: Final = re.compile(r"\d+|[()+]")
_DIGITS_OF_A_PHONE: Final = range(8, 16)
_LONG_GROUP: Final = 5  # digits; "07700 900123", "(11) 91234-5678", never "2026-000123"
_TRUNK: Final = "(0)"
_DATE_SEPARATORS: Final = ("-", ".", " ")
_CURRENCY_AFTER: Final = re.compile(r"\s?(?:[€$£¥]|(?:EUR|USD|GBP|CHF|euros?|dollars?)\b)",
                                    re.IGNORECASE)  # fmt: skip


def mask_phones_in(text: str) -> str:
    """Every phone number and BSUID inside free text, masked, whether the number is
    written as one run of digits or in groups ("+33 6 12 34 56 78", "(415) 555-0132")."""
    text = BSUID_PATTERN.sub(lambda m: mask_bsuid(m["prefix"], m["local"]), text)
    text = _mask_separated(text)
    return PHONE_PATTERN.sub(lambda match: mask_phone(match.group(0)), text)


def _mask_separated(text: str) -> str:
    return SEPARATED_PHONE_PATTERN.sub(_masked_if_phone, text)


def _masked_if_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    if _CURRENCY_AFTER.match(match.string, match.end()):
        return found
    if _is_phone(found):
        return mask_phone(found)
    head, space, rest = found.partition(" ")
    if space and _is_date(head, _GROUPS.findall(head)):
        return head + space + _mask_separated(rest)  # "2026-11-26 06 12 34 56 78"
    return found


def _is_phone(candidate: str) -> bool:
    groups = _GROUPS.findall(candidate)
    if len("".join(groups)) not in _DIGITS_OF_A_PHONE:
        return False
    if candidate.count("(") != candidate.count(")"):
        return False
    if _is_decimal(candidate, groups) or _is_date(candidate, groups):
        return False
    if _is_ip_address(candidate, groups):
        return False
    return _long_groups_where_phones_have_them(
        candidate, groups
    ) and _single_digits_where_phones_have_them(candidate)


def _separators(candidate: str) -> list[str]:
    return _SEPARATORS.split(candidate)[1:-1]


def _is_decimal(candidate: str, groups: list[str]) -> bool:
    """1234.5678 (a measure, a duration in a log line) rather than a number to call."""
    return len(groups) == 2 and _separators(candidate) == ["."]


def _is_date(candidate: str, groups: list[str]) -> bool:
    """Starts with a date: 2026-11-26, 26.11.2026, 26 11 2026 (the same separator twice)."""
    if len(groups) < 3 or "(" in candidate or candidate.startswith("+"):
        return False
    first, second = _separators(candidate)[:2]
    if first != second or first not in _DATE_SEPARATORS:
        return False
    a, b, c = (len(g) for g in groups[:3])
    year_first = a == 4 and b <= 2 and c <= 2 and 1 <= int(groups[1]) <= 12
    year_last = a <= 2 and b <= 2 and c == 4 and 1 <= int(groups[1]) <= 12
    return year_first or year_last


def _is_ip_address(candidate: str, groups: list[str]) -> bool:
    return (
        len(groups) == 4
        and set(_separators(candidate)) == {"."}
        and all(len(g) <= 3 and int(g) <= 255 for g in groups)
    )


def _long_groups_where_phones_have_them(candidate: str, groups: list[str]) -> bool:
    """Groups of 5 or 6 digits, only in a number that starts like a phone number (+, 0 or
    an area code in parentheses): an order reference such as 2026-000123 is none."""
    long_groups = sum(len(group) >= _LONG_GROUP for group in groups)
    return long_groups == 0 or (long_groups <= 2 and candidate[0] in "+0(")


def _single_digits_where_phones_have_them(candidate: str) -> bool:
    """A one-digit group starts a number ("1-415-...", "0 800 ..."), or follows its
    +country code ("+33 6 ...", "+44 (0)20 ...", "+33 (0)6 ..."): "1 2 3 4 5 6 7 8" is no
    phone number."""
    groups = _GROUPS.findall(candidate.replace(_TRUNK, ""))
    allowed = {0, 1} if candidate.startswith("+") else {0}
    return all(len(group) > 1 or index in allowed for index, group in enumerate(groups))


# Meta's access tokens (EAA...) and bearer credentials, should a text from Meta quote one.
_CREDENTIAL_PATTERN: Final = re.compile(r"\bEAA[A-Za-z0-9_-]{10,}|(?i:bearer)\s+\S+")
ERROR_DETAILS_MAX: Final = 500


def safe_error_details(details: str | None) -> str | None:
    """Meta's details of an error as we keep and show them: phone numbers masked, anything
    like a credential removed, at most ``ERROR_DETAILS_MAX`` characters; None when empty."""
    if details is None or not details.strip():
        return None
    text = mask_phones_in(_CREDENTIAL_PATTERN.sub("[redacted]", details.strip()))
    return text if len(text) <= ERROR_DETAILS_MAX else text[: ERROR_DETAILS_MAX - 1] + "…"
