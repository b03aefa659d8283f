"""Numbers, rates, durations and times as each language writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from entrypoints.dashboard.i18n import Language

_NARROW_NBSP: Final = "\u202f"


def number(value: float, lang: Language, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if lang == "fr":
        text = text.replace(",", _NARROW_NBSP).replace(".", ",")
    return text


def percent(rate: float | None, lang: Language) -> str:
    """A rate (0..1) as a percentage; an em dash when there is none."""
    if rate is None:
        return "—"
    shown = number(rate * 100, lang, 0 if rate in (0, 1) else 1)
    return f"{shown}\u00a0%" if lang == "fr" else f"{shown}%"


def duration(seconds: float | None, lang: Language) -> str:
    """12 s, 3 min 5 s, 2 h 10 min; an em dash when there is none."""
    if seconds is None:
        return "—"
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}\u00a0h {minutes}\u00a0min"
    elif minutes:
        text = f"{minutes}\u00a0min {secs}\u00a0s"
    else:
        text = f"{secs}\u00a0s"
    return ("-" if seconds < 0 else "") + text


def signed(text: str, value: float) -> str:
    if value > 0:
        return "+" + text
    if value < 0:
        return "\u2212" + text.lstrip("-")  # a minus sign, as a figure shows it
    return text


def moment(at: datetime | None, lang: Language, now: datetime | None = None) -> str:
    """A time in UTC: only the time when it is today, else the date too."""
    if at is None:
        return "—"
    at = at.astimezone(UTC)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    clock = at.strftime("%H:%M")
    if at.date() == today:
        return clock
    day = at.strftime("%d/%m/%Y") if lang == "fr" else at.strftime("%Y-%m-%d")
    return f"{day} {clock}"
