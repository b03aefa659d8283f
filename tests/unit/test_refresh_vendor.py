"""scripts/refresh_vendor.py against a local registry over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "refresh_vendor.py"
VENDOR = ROOT / "src" / "entrypoints" / "dashboard" / "static" / "vendor"

# package -> (version -> {path in tarball: content}); only some versions are in range.
PACKAGES: dict[str, dict[str, dict[str, bytes]]] = {
    "htmx.org": {
        version: {
            "package/dist/htmx.min.js": f"/* htmx {version} */".encode(),
            "package/dist/htmx.js": b"/* not taken */",
            "package/LICENSE": b"Zero-Clause BSD",
        }
        for version in ["1.9.12", "2.0.3", "2.0.10", "2.1.0-beta1", "4.0.0"]
    },
    "htmx-ext-sse": {
        version: {
            "package/dist/sse.min.js": f"/* sse {version} */".encode(),
            "package/LICENSE": b"BSD Zero Clause License",
        }
        for version in ["2.2.3", "2.2.4"]
    },
    "uplot": {
        version: {
            "package/dist/uPlot.iife.min.js": f"/* uPlot {version} */".encode(),
            "package/dist/uPlot.min.css": b".uplot{}",
            "package/LICENSE": b"The MIT License (MIT)",
        }
        for version in ["1.6.9", "1.6.32", "1.7.0"]
    },
}
LICENSES = {"htmx.org": "0BSD", "htmx-ext-sse": None, "uplot": "MIT"}


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class FakeRegistry:
    def __init__(self) -> None:
        self.tarballs = {
            f"/{name}/-/{name}-{version}.tgz": tarball(files)
            for name, versions in PACKAGES.items()
            for version, files in versions.items()
        }
        self.corrupt: set[str] = set()
        self.url = ""

    def packument(self, name: str) -> bytes:
        versions = {}
        for version in PACKAGES[name]:
            path = f"/{name}/-/{name}-{version}.tgz"
            meta: dict[str, object] = {
                "name": name,
                "version": version,
                "dist": {"tarball": self.url + path, "integrity": integrity(self.tarballs[path])},
            }
            if LICENSES[name] is not None:
                meta["license"] = LICENSES[name]
            versions[version] = meta
        return json.dumps({"name": name, "versions": versions}).encode()

    def answer(self, path: str) -> bytes | None:
        if path.lstrip("/") in PACKAGES:
            return self.packument(path.lstrip("/"))
        data = self.tarballs.get(path)
        if data is not None and path in self.corrupt:
            return data[:-1] + bytes([data[-1] ^ 1])
        return data


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = fake.answer(self.path)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refresh_takes_the_newest_release_in_each_range(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    result = run("--registry", registry.url, "--dir", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "htmx.org@2.0.10: integrity verified" in result.stderr
    assert (tmp_path / "htmx.min.js").read_bytes() == b"/* htmx 2.0.10 */"
    assert (tmp_path / "htmx-ext-sse.js").read_bytes() == b"/* sse 2.2.4 */"
    assert (tmp_path / "uPlot.iife.min.js").read_bytes() == b"/* uPlot 1.6.32 */"
    assert (tmp_path / "uPlot.min.css").read_bytes() == b".uplot{}"
    assert (tmp_path / "LICENSE-uplot.txt").read_bytes() == b"The MIT License (MIT)"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "LICENSE-htmx-ext-sse.txt",
        "LICENSE-htmx.txt",
        "LICENSE-uplot.txt",
        "htmx-ext-sse.js",
        "htmx.min.js",
        "manifest.json",
        "uPlot.iife.min.js",
        "uPlot.min.css",
    ]
    entries = {e["file"]: e for e in json.loads((tmp_path / "manifest.json").read_text())["files"]}
    sse = entries["htmx-ext-sse.js"]
    assert sse["package"] == "htmx-ext-sse"
    assert sse["version"] == "2.2.4"
    assert sse["path"] == "package/dist/sse.min.js"
    assert sse["license"] == "0BSD"
    assert sse["sha256"] == hashlib.sha256(b"/* sse 2.2.4 */").hexdigest()
    assert sse["tarball"] == f"{registry.url}/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz"
    assert sse["integrity"] == integrity(
        registry.tarballs["/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz"]
    )
    assert run("--check", "--dir", str(tmp_path)).returncode == 0


def test_a_tarball_that_fails_its_integrity_changes_nothing(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.corrupt.add("/uplot/-/uplot-1.6.32.tgz")

    result = run("--registry", registry.url, "--dir", str(tmp_path))

    assert result.returncode == 1
    assert "uplot@1.6.32: the download does not match the registry's integrity" in result.stderr
    assert "nothing was changed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port on this machine where nothing listens
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    result = run("--registry", url, "--dir", str(tmp_path))

    assert result.returncode == 1
    assert f"cannot reach the npm registry at {url}/htmx.org" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_check_names_the_file_that_no_longer_matches(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    shutil.copytree(VENDOR, vendor)
    with (vendor / "uPlot.min.css").open("ab") as css:
        css.write(b"\n.injected{}")
    (vendor / "LICENSE-htmx.txt").unlink()

    result = run("--check", "--dir", str(vendor))

    assert result.returncode == 1
    assert "error: uPlot.min.css: sha256 " in result.stderr
    assert "error: LICENSE-htmx.txt: missing" in result.stderr
    assert "htmx.min.js" not in result.stderr
