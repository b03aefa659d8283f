"""Debian's Chromium, the browser the browser tests drive (Playwright's own download is never
used: `make test` installs the `chromium` package when it is missing)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


@dataclass
class PageWatch:
    """What a page did that a dashboard test refuses: requests to another host, script
    errors, and anything its Content-Security-Policy blocked (the pages allow no inline code)."""

    elsewhere: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def watch(page: Any, base_url: str) -> PageWatch:
    """Record on ``page`` (a Playwright page, sync or async) what PageWatch lists."""
    seen = PageWatch()
    here = urlsplit(base_url).netloc
    page.on("request", lambda r: seen.elsewhere.append(r.url)
            if urlsplit(r.url).netloc != here else None)  # fmt: skip
    page.on("pageerror", lambda error: seen.failed.append(str(error)))
    page.on("console", lambda message: seen.failed.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip
    return seen
