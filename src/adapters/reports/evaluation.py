"""An assistant evaluation as files: ``evaluation.csv`` for spreadsheets and scripts,
``evaluation.html`` for people.

The page is static and self-contained (inline CSS, no script, nothing fetched), so it can be
mailed or opened from disk; every text that came from a customer, a person or a provider
is HTML-escaped. CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@`` first) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from application.assistant_evaluation import (
    Evaluation,
    EvaluationSummary,
    Outcome,
    ReplayedTurn,
)

CSV_NAME: Final = "evaluation.csv"
HTML_NAME: Final = "evaluation.html"
CSV_COLUMNS: Final = (
    "conversation_id", "time", "customer_messages",
    "then_decision", "then_text", "then_note", "now_decision", "now_text", "now_note",
    "changed", "escalation_then", "escalation_now", "failure_then", "failure_now",
    "latency_then_ms", "latency_now_ms", "provider_then", "provider_now",
)  # fmt: skip
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def write_report(evaluation: Evaluation, directory: Path) -> tuple[Path, Path]:
    """Both files in ``directory`` (made when missing); their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = directory / CSV_NAME, directory / HTML_NAME
    # With a byte order mark, spreadsheets read the accents of a UTF-8 file right.
    csv_path.write_text(render_csv(evaluation.turns), encoding="utf-8-sig", newline="")
    html_path.write_text(render_html(evaluation), encoding="utf-8")
    return csv_path, html_path


# --- CSV ------------------------------------------------------------------------------------


def render_csv(turns: Iterable[ReplayedTurn]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for turn in turns:
        writer.writerow([_safe_cell(cell) for cell in csv_row(turn)])
    return out.getvalue()


def csv_row(turn: ReplayedTurn) -> list[str]:
    then, now = turn.then, turn.now
    return [
        turn.conversation_id, _time(turn.at), "\n".join(turn.customer_messages),
        then.decision, then.text, then.note, now.decision, now.text, now.note,
        _yes(turn.changed), _yes(then.escalated), _yes(now.escalated), then.failure, now.failure,
        _ms(then.latency_ms), _ms(now.latency_ms), then.provider, now.provider,
    ]  # fmt: skip


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- HTML -----------------------------------------------------------------------------------

_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
color:#1d2327;background:#f6f7f7}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#50575e;margin:0 0 16px}
.summary{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 20px;padding:0;list-style:none}
.summary li{background:#fff;border:1px solid #dcdcde;border-radius:6px;padding:8px 12px}
.summary b{display:block;font-size:18px}
table{border-collapse:collapse;width:100%;background:#fff;table-layout:fixed}
th,td{border:1px solid #dcdcde;padding:8px;vertical-align:top;text-align:left}
th{background:#f0f0f1;position:sticky;top:0}
td{white-space:pre-wrap;overflow-wrap:anywhere}
tr.changed td.now{background:#fcf9e8}
tr.failed td.now{background:#fcf0f1}
.kind{display:inline-block;font-size:12px;font-weight:600;border-radius:4px;padding:0 6px;
background:#e5e5e5;margin-bottom:4px}
.kind.escalate{background:#f3d6a8}.kind.fallback{background:#f5c6cb}
.kind.reply{background:#cde8d0}
.note,.failure,.small{display:block;color:#50575e;font-size:12px;margin-top:4px}
.failure{color:#a00}
.col-when{width:12%}.col-said{width:22%}
"""


def render_html(evaluation: Evaluation) -> str:
    summary = evaluation.summary
    rows = "\n".join(_html_row(turn) for turn in evaluation.turns)
    instructions = ("instructions from the file given" if evaluation.instructions_replaced
                    else "the business's current instructions")  # fmt: skip
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Assistant evaluation: {_e(evaluation.business_id)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Assistant evaluation: {_e(evaluation.business_id)}</h1>
<p class="meta">Customer messages from {_e(_time(evaluation.since))} to
{_e(_time(evaluation.until))}, replayed with the {_e(evaluation.provider)} assistant,
the current settings and {instructions}. Nothing was sent.</p>
<ul class="summary">
{_summary_items(summary)}
</ul>
<table>
<thead><tr><th class="col-when">Conversation</th><th class="col-said">Customer</th>
<th>Then</th><th>Now</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _summary_items(summary: EvaluationSummary) -> str:
    items = [
        ("turns replayed", str(summary.turns)),
        ("changed", str(summary.changed)),
        ("escalations then / now", f"{summary.escalations_then} / {summary.escalations_now}"),
        ("failures then / now", f"{summary.failures_then} / {summary.failures_now}"),
        ("latency now p50", _latency(summary.latency_p50_ms)),
        ("latency now p99", _latency(summary.latency_p99_ms)),
    ]
    return "\n".join(f"<li><b>{_e(value)}</b>{_e(name)}</li>" for name, value in items)


def _html_row(turn: ReplayedTurn) -> str:
    classes = [name for name, on in (("changed", turn.changed),
                                     ("failed", bool(turn.now.failure))) if on]  # fmt: skip
    said = "\n".join(turn.customer_messages)
    when = (f'{_e(_time(turn.at))}<span class="small">{_e(turn.conversation_id)}</span>'
            f'<span class="small">{"changed" if turn.changed else "same"}</span>')  # fmt: skip
    return (
        f'<tr class="{" ".join(classes)}"><td>{when}</td><td>{_e(said)}</td>'
        f'<td class="then">{_outcome(turn.then)}</td><td class="now">{_outcome(turn.now)}</td></tr>'
    )


def _outcome(outcome: Outcome) -> str:
    parts = [f'<span class="kind {_e(outcome.decision.split()[0])}">{_e(outcome.decision)}</span>']
    if outcome.text:
        parts.append(f"\n{_e(outcome.text)}")
    parts += _details(outcome)
    return "".join(parts)


def _details(outcome: Outcome) -> Sequence[str]:
    details = []
    if outcome.note:
        details.append(f'<span class="note">{_e(outcome.note)}</span>')
    if outcome.failure:
        details.append(f'<span class="failure">failed: {_e(outcome.failure)}</span>')
    facts = [fact for fact in (outcome.provider, _latency(outcome.latency_ms)) if fact != "-"]
    if any(facts):
        details.append(f'<span class="small">{_e(" · ".join(f for f in facts if f))}</span>')
    return details


def _latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
