"""bench/dashboard.py runs end to end at a tiny scale: the history loaded, the plans from
before and after migration 0021, the real server answering every dashboard read, on a
scratch database of the test server. Nothing here looks at timings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.server import child_env
from tests.support.database import ROOT

pytestmark = pytest.mark.slow


def test_every_dashboard_read_of_a_tiny_history_answers(postgres_admin_url: str) -> None:
    command = [sys.executable, "bench/dashboard.py", "--messages", "3000", "--conversations",
               "300", "--requests", "5"]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, env=child_env({"DATABASE_URL": postgres_admin_url}),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    assert "rows: events 3,000" in run.stdout
    assert "conversations 300" in run.stdout
    assert "messages 3,000" in run.stdout
    for read in ("search by name", "search by phone digits", "status filter",
                 "search + status filter", "its messages", "timeseries 30d", "orders"):  # fmt: skip
        assert f"\n{read} " in run.stdout
    assert "before 0021" in run.stdout  # the plans
    assert "\npage: search by name " in run.stdout  # as a signed-in person sees it
    assert "time to first live update after a new message: p50" in run.stdout
    assert "target: search and status filter p99 <= 50 ms:" in run.stdout
