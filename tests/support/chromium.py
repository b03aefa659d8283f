"""Debian's Chromium, the browser the browser tests drive (Playwright's own download is never
used: `make test` installs the `chromium` package when it is missing)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

MISSING = (
    "no Chromium to run the browser tests: install the `chromium` package "
    "(as root: apt-get install -y chromium; `make test` does it when run as root), "
    "or set WAZYBOT_CHROMIUM to a Chromium binary"
)

# A closed network refuses Chromium's background connections (updates, sync, field trials);
# without these flags it keeps trying, and a page load can wait on them.
QUIET_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The binary from WAZYBOT_CHROMIUM, else `chromium` on PATH; the test fails without one."""
    chosen = os.environ.get("WAZYBOT_CHROMIUM")
    if chosen:
        if not (Path(chosen).is_file() and os.access(chosen, os.X_OK)):
            pytest.fail(f"WAZYBOT_CHROMIUM={chosen} is not an executable file; {MISSING}")
        return chosen
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(MISSING)
    return found
