"""bench/reply_latency.py runs end to end, briefly: the real server, the simulator, a
scratch database on the test server. Nothing here looks at timings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.server import child_env
from tests.support.database import ROOT

pytestmark = pytest.mark.slow


def test_every_conversation_of_a_short_run_gets_its_reply(postgres_admin_url: str) -> None:
    command = [sys.executable, "bench/reply_latency.py", "--seconds", "2", "--rate", "5",
               "--warmup", "2", "--no-priority"]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, env=child_env({"DATABASE_URL": postgres_admin_url}),
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    assert "posted: 10, answered 200: 10" in run.stdout
    assert "replies received: 10, missing: 0" in run.stdout
    assert "reply accepted by the simulator" in run.stdout  # where the time goes
