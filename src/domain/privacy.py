"""How personal data is shown where it must not appear in full (logs, errors)."""

from __future__ import annotations

import re
from typing import Final

_VISIBLE_DIGITS: Final = 4
# A phone number as WhatsApp writes it: optional +, 8 to 15 digits, not inside a longer number.
PHONE_PATTERN: Final = re.compile(r"(?<![\w])\+?\d{8,15}(?![\w])")


def mask_phone(number: str) -> str:
    """Keep only the last four digits: '+15551234567' -> '***4567'."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= _VISIBLE_DIGITS:
        return "***"
    return "***" + digits[-_VISIBLE_DIGITS:]


def mask_phones_in(text: str) -> str:
    return PHONE_PATTERN.sub(lambda match: mask_phone(match.group(0)), text)
