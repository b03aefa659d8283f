"""The dashboard's front-end libraries ship inside the package, pinned and intact."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "src" / "entrypoints" / "dashboard" / "static" / "vendor"
GZIPPED_BUDGET = 60 * 1024
ASSETS = {"htmx.min.js", "htmx-ext-sse.js", "uPlot.iife.min.js", "uPlot.min.css"}
LICENSES = {"LICENSE-htmx.txt", "LICENSE-htmx-ext-sse.txt", "LICENSE-uplot.txt"}


def manifest_entries() -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads((VENDOR / "manifest.json").read_text())["files"]
    return entries


def test_every_file_in_the_manifest_is_on_disk_with_its_sha256() -> None:
    entries = manifest_entries()
    assert {entry["file"] for entry in entries} == ASSETS | LICENSES
    for entry in entries:
        data = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert entry["integrity"].startswith("sha512-"), entry["file"]
        assert entry["tarball"].startswith("https://registry.npmjs.org/"), entry["file"]
        assert entry["path"].startswith("package/"), entry["file"]
        assert entry["license"] in {"0BSD", "MIT"}, entry["file"]


def test_each_library_ships_with_its_license_text() -> None:
    by_file = {entry["file"]: entry for entry in manifest_entries()}
    for license_file, package in [
        ("LICENSE-htmx.txt", "htmx.org"),
        ("LICENSE-htmx-ext-sse.txt", "htmx-ext-sse"),
        ("LICENSE-uplot.txt", "uplot"),
    ]:
        assert (VENDOR / license_file).read_text().strip(), license_file
        assert by_file[license_file]["package"] == package
        assets = [entry for entry in by_file.values() if entry["package"] == package]
        assert {entry["version"] for entry in assets} == {by_file[license_file]["version"]}


def test_the_pinned_ranges_hold() -> None:
    versions = {entry["package"]: entry["version"] for entry in manifest_entries()}
    assert versions["htmx.org"].startswith("2.")
    assert versions["htmx-ext-sse"].startswith("2.")
    assert versions["uplot"].startswith("1.6.")


def test_the_libraries_stay_small_once_gzipped() -> None:
    total = sum(len(gzip.compress((VENDOR / name).read_bytes(), 9)) for name in ASSETS)
    assert total < GZIPPED_BUDGET, (
        f"vendored JS+CSS is {total / 1024:.1f} KB gzipped, over the "
        f"{GZIPPED_BUDGET / 1024:.0f} KB budget"
    )


def test_the_refresh_script_finds_the_checked_in_files_intact() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "refresh_vendor.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
