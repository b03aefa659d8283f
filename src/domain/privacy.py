"""How personal data is shown where it must not appear in full (logs, errors).

Customers are known by their phone number or by their business-scoped user id (BSUID,
``US.13491208655302741918``, parent ids ``US.ENT.11815799212886844830``): both are masked
to their last four characters, a BSUID keeping its country prefix.
"""

from __future__ import annotations

import re
from typing import Final

_VISIBLE: Final = 4
# A phone number as WhatsApp writes it: optional +, 8 to 15 digits, not inside a longer number.
PHONE_PATTERN: Final = re.compile(r"(?<![\w])\+?\d{8,15}(?![\w])")
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


def mask_phones_in(text: str) -> str:
    """Every phone number and BSUID inside free text, masked."""
    text = BSUID_PATTERN.sub(lambda m: mask_bsuid(m["prefix"], m["local"]), text)
    return PHONE_PATTERN.sub(lambda match: mask_phone(match.group(0)), text)


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
