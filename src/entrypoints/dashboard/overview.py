"""The overview at /: metric cards against the previous period, messages over time, and the
connection status when a status service is present."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Literal

import structlog
from litestar import get
from litestar.response import Template

from application.connection_status import UnknownBusinessError
from application.read_models import (
    MetricsComparison,
    MetricsFigures,
    RevenueView,
    Timeseries,
    time_range,
)
from domain.money import format_amount
from entrypoints.dashboard import formatting
from entrypoints.dashboard.i18n import Language, language_of, status_words, translate
from entrypoints.dashboard.slot import ConnectionStatusService
from entrypoints.dashboard.web import AnyRequest, Services, Session, query, render

log = structlog.get_logger(__name__)

RANGES: Final = ("24h", "7d", "30d")
STATUS_WAIT_SECONDS: Final = 2.0
CHECKING: Final = "checking"  # the status card while the Graph API has not answered yet
Trend = Literal["up", "down", "flat", "none"]


@dataclass(frozen=True, slots=True)
class MetricCard:
    key: str  # i18n key of its label, also its id in the page
    value: str
    change: str  # "+12 % vs the previous period", or that there is nothing to compare
    trend: Trend
    good: bool | None  # whether the change is good news (None: neutral or unknown)


def _count(key: str, lang: Language, now: int, before: int) -> MetricCard:
    delta = now - before
    if before:
        shown = formatting.signed(formatting.percent(abs(delta) / before, lang), delta)
    else:
        shown = formatting.signed(formatting.number(abs(delta), lang), delta)
    return _card(key, lang, formatting.number(now, lang), shown, delta, higher_is_better=True)


def _rate(key: str, lang: Language, now: float | None, before: float | None) -> MetricCard:
    value = formatting.percent(now, lang)
    if now is None or before is None:
        return MetricCard(key, value, translate(lang, "change.none"), "none", None)
    delta = (now - before) * 100
    points = formatting.number(abs(delta), lang, 1)
    shown = formatting.signed(translate(lang, "change.points", points=points), delta)
    return _card(key, lang, value, shown, delta, higher_is_better=True)


def _seconds(key: str, lang: Language, now: float | None, before: float | None) -> MetricCard:
    value = formatting.duration(now, lang)
    if now is None or before is None:
        return MetricCard(key, value, translate(lang, "change.none"), "none", None)
    delta = now - before
    shown = formatting.signed(formatting.duration(abs(delta), lang), delta)
    return _card(key, lang, value, shown, delta, higher_is_better=False)


def _card(
    key: str, lang: Language, value: str, shown: str, delta: float, *, higher_is_better: bool
) -> MetricCard:
    trend: Trend = "up" if delta > 0 else "down" if delta < 0 else "flat"
    good = None if delta == 0 else (delta > 0) == higher_is_better
    return MetricCard(key, value, translate(lang, "change.vs_previous", change=shown), trend, good)


def _revenue(lang: Language, now: MetricsFigures, before: MetricsFigures) -> MetricCard:
    if not now.revenue and not before.revenue:
        return MetricCard(
            "metric.revenue", formatting.number(0, lang), translate(lang, "change.none"),
            "none", None,
        )  # fmt: skip
    previous = {r.currency: r.amount for r in before.revenue}
    current = now.revenue or [RevenueView(currency=r.currency, amount=0) for r in before.revenue]
    value = " · ".join(format_amount(r.amount, r.currency, lang) for r in current)
    first = current[0]
    delta = first.amount - previous.get(first.currency, 0)
    shown = formatting.signed(format_amount(abs(delta), first.currency, lang), delta)
    return _card("metric.revenue", lang, value, shown, delta, higher_is_better=True)


def metric_cards(lang: Language, comparison: MetricsComparison) -> list[MetricCard]:
    now, before = comparison.current, comparison.previous
    rows: list[Callable[[], MetricCard]] = [
        lambda: _count("metric.messages_received", lang, now.messages_received,
                       before.messages_received),
        lambda: _count("metric.ai_responses", lang, now.ai_responses, before.ai_responses),
        lambda: _rate("metric.response_rate", lang, now.response_rate, before.response_rate),
        lambda: _seconds("metric.first_response", lang, now.first_response_seconds_avg,
                         before.first_response_seconds_avg),
        lambda: _rate("metric.delivery_rate", lang, now.delivery_rate, before.delivery_rate),
        lambda: _rate("metric.read_rate", lang, now.read_rate, before.read_rate),
        lambda: _count("metric.handoffs", lang, now.human_handoffs, before.human_handoffs),
        lambda: _count("metric.orders", lang, now.orders, before.orders),
        lambda: _revenue(lang, now, before),
    ]  # fmt: skip
    return [row() for row in rows]


def chart_data(lang: Language, series: Timeseries) -> dict[str, Any]:
    """What static/overview.js gives uPlot: times (Unix seconds) and one list per line."""
    points = series.points
    return {
        "x": [int(p.start.timestamp()) for p in points],
        "series": [
            {"label": translate(lang, "chart.received"),
             "values": [p.messages_received for p in points]},
            {"label": translate(lang, "chart.ai"), "values": [p.ai_responses for p in points]},
            {"label": translate(lang, "chart.agent"),
             "values": [p.agent_responses for p in points]},
        ],
    }  # fmt: skip


@get("/", include_in_schema=False)
async def overview(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    range_: str | None = query("range"),
) -> Template:
    figures = await _figures(request, session, dashboard, range_)
    status = None
    if dashboard.status is not None:
        status = await _connection_status(dashboard.status, session.business_id)
    check_words = partial(status_words, language_of(request))
    return render(request, "overview.html", ranges=RANGES, status=status,
                  check_words=check_words, **figures)  # fmt: skip


@get("/overview/figures", include_in_schema=False)
async def overview_figures(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    range_: str | None = query("range"),
) -> Template:
    """The cards and the chart alone, which the overview re-fetches on the live "metrics"."""
    figures = await _figures(request, session, dashboard, range_)
    return render(request, "_overview_figures.html", **figures)


async def _figures(
    request: AnyRequest, session: Session, dashboard: Services, range_: str | None
) -> dict[str, Any]:
    lang = language_of(request)
    chosen = range_ if range_ in RANGES else "24h"
    window = time_range(chosen, None, None, datetime.now(UTC))
    queries = dashboard.read_models()
    comparison = await queries.metrics(session.business_id, window)
    series = await queries.timeseries(
        session.business_id, window, "hour" if chosen == "24h" else "day"
    )
    return {
        "chosen": chosen,
        "cards": metric_cards(lang, comparison),
        "chart": chart_data(lang, series),
        "points": [(formatting.moment(p.start, lang), p) for p in series.points],
    }


async def _connection_status(service: ConnectionStatusService, business_id: str) -> Any:
    """The status, or CHECKING when Meta is slow to answer: the page never waits on the
    Graph API longer than STATUS_WAIT_SECONDS; the check goes on and a reload shows it."""
    check = asyncio.ensure_future(service.status(business_id))
    check.add_done_callback(_retrieve_outcome)
    try:
        return await asyncio.wait_for(asyncio.shield(check), STATUS_WAIT_SECONDS)
    except TimeoutError:
        return CHECKING
    except UnknownBusinessError:  # a token of a business removed since: no card
        return None


def _retrieve_outcome(check: asyncio.Future[Any]) -> None:
    """A check left to finish on its own is not an unretrieved exception."""
    if not check.cancelled() and check.exception() is not None:
        log.warning("dashboard.status_check_failed", error=type(check.exception()).__name__)


OVERVIEW_HANDLERS: Final = (overview, overview_figures)
