"""The evaluation's pure parts: what counts as changed, the summary, the report files, and
the times the command accepts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.reports.evaluation import CSV_COLUMNS, render_csv, render_html, write_report
from application.assistant_evaluation import (
    Evaluation,
    Outcome,
    ReplayedTurn,
    describe,
    percentile,
    summarize,
    then_of_turn,
)
from domain.assistant import Escalate
from domain.assistant_turns import AssistantTurnCompleted, AssistantTurnFailed
from domain.outbound import (
    ListMessage,
    ListRow,
    ListSection,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateMessage,
)
from entrypoints.cli_assistant import AssistantCommandError, moment_of

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> & \"quotes\" 'single'"


def turn(then: Outcome, now: Outcome, said: str = "Bonjour") -> ReplayedTurn:
    return ReplayedTurn("c0ffee", AT, (said,), then, now)


def evaluation(*turns: ReplayedTurn) -> Evaluation:
    return Evaluation("acme", AT - timedelta(days=7), AT, "offline", False, turns)


def test_changed_means_the_customer_would_get_something_else() -> None:
    same = Outcome("reply", text="Bonjour !", latency_ms=3.0, provider="offline")
    assert not turn(same, Outcome("reply", text="Bonjour !", provider="openai")).changed
    assert turn(same, Outcome("reply", text="Salut !")).changed
    assert turn(same, Outcome("escalate", text="Bonjour !", escalated=True)).changed
    # Silent then and now, for whatever reasons: nothing changes for the customer.
    assert not turn(Outcome("no reply"), Outcome("skipped", note="escalated")).changed


def test_the_summary_counts_and_takes_nearest_rank_percentiles() -> None:
    turns = [
        turn(Outcome("reply", text="a"), Outcome("reply", text="a", latency_ms=float(ms)))
        for ms in range(1, 101)
    ]
    turns.append(turn(Outcome("escalate", escalated=True), Outcome("skipped")))
    failed_now = Outcome("fallback", text="y", failure="timeout", latency_ms=900.0)
    turns.append(turn(Outcome("fallback", text="x", failure="500"), failed_now))
    summary = summarize(turns)
    assert (summary.turns, summary.changed) == (102, 2)
    assert (summary.escalations_then, summary.escalations_now) == (1, 0)
    assert (summary.failures_then, summary.failures_now) == (1, 1)
    assert (summary.latency_p50_ms, summary.latency_p99_ms) == (51.0, 100.0)
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0


def test_messages_are_described_with_what_the_customer_can_tap() -> None:
    buttons = ReplyButtonsMessage(body="Que voulez-vous ?", buttons=(
        ReplyButton(id="a", title="Horaires"), ReplyButton(id="b", title="Adresse")))  # fmt: skip
    rows = (ListRow(id="1", title="Pain"), ListRow(id="2", title="Gâteau"))
    menu = ListMessage(body="Notre carte", button="Voir", sections=(ListSection(rows=rows),))
    template = TemplateMessage(name="order_ready", language="fr", body_parameters=("42",))
    assert describe(buttons) == "Que voulez-vous ?\n[buttons: Horaires | Adresse]"
    assert describe(menu) == "Notre carte\n[list Voir: Pain | Gâteau]"
    assert describe(template) == "[template order_ready (fr): 42]"


def test_the_csv_has_one_row_per_turn_and_no_cell_a_spreadsheet_would_run() -> None:
    then = Outcome("reply", text='=HYPERLINK("http://x")', latency_ms=12.25, provider="openai")
    now = Outcome("fallback", text="Désolé\nréessayez", failure="-1 timeout", latency_ms=None)
    raw = render_csv([turn(then, now, said="@SUM(A1)")])
    header, row = list(csv.reader(io.StringIO(raw)))
    assert tuple(header) == CSV_COLUMNS
    cells = dict(zip(header, row, strict=True))
    assert cells["customer_messages"] == "'@SUM(A1)"
    assert cells["then_text"] == '\'=HYPERLINK("http://x")'
    assert cells["now_text"] == "Désolé\nréessayez"
    assert cells["failure_now"] == "'-1 timeout"
    assert (cells["changed"], cells["latency_then_ms"], cells["latency_now_ms"]) == (
        "yes", "12.2", "")  # fmt: skip
    assert cells["time"] == "2026-11-20T09:30:00Z"


def test_the_page_escapes_every_text_and_needs_nothing_from_elsewhere() -> None:
    then = Outcome("escalate", text=HOSTILE, note=HOSTILE, escalated=True)
    now = Outcome("fallback", text=HOSTILE, failure=HOSTILE, provider=HOSTILE)
    page = render_html(Evaluation(HOSTILE, AT, AT, "offline", True, (turn(then, now, HOSTILE),)))
    assert "<script>" not in page
    assert '"quotes"' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;") >= 6
    assert not re.search(r"<(script|link|img|iframe)\b|src=|href=|https?://", page)
    assert "instructions from the file given" in page


def test_both_files_are_written_in_the_directory_made_for_them(tmp_path: Path) -> None:
    one = turn(Outcome("reply", text="a"), Outcome("reply", text="b", latency_ms=4.0))
    csv_path, html_path = write_report(evaluation(one), tmp_path / "new" / "dir")
    written = csv_path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbfconversation_id,")
    assert written.count(b"\r\n") == 2
    assert "turns replayed" in html_path.read_text(encoding="utf-8")


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("1d12h", NOW - timedelta(days=1, hours=12)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:15", datetime(2026, 11, 20, 8, 15, tzinfo=UTC)),
        ("2026-11-20T09:15+01:00", datetime(2026, 11, 20, 8, 15, tzinfo=UTC)),
    ],
)
def test_times_are_given_as_how_long_ago_or_as_a_utc_time(given: str, expected: datetime) -> None:
    assert moment_of(given, "--since", NOW) == expected


@pytest.mark.parametrize(
    "given", ["", "7", "7 days", "yesterday", "2026-13-01", "99999999d", "10000000000d"]
)
def test_other_times_are_refused_naming_the_option(given: str) -> None:
    with pytest.raises(AssistantCommandError, match=r"^--since: "):
        moment_of(given, "--since", NOW)


def test_what_was_recorded_then_has_phone_numbers_masked() -> None:
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    escalated = AssistantTurnCompleted(
        business_id="acme", turn_id="w1", wamids=("w1",), provider="openai", at=at,
        decision=Escalate(cause="assistant_decided", reason="call him at +33 6 12 34 56 78"),
    )  # fmt: skip
    failed = AssistantTurnFailed(
        business_id="acme", turn_id="w2", wamids=("w2",), provider="openai", at=at,
        reason="the provider quoted 33612345678", consecutive_failures=1, escalated=False,
    )  # fmt: skip
    note = then_of_turn(escalated, []).note
    failure = then_of_turn(failed, []).failure
    assert "12 34 56" not in note
    assert note.endswith("***5678")
    assert "33612345678" not in failure
    assert failure.endswith("***5678")
