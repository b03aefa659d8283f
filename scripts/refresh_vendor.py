"""Refresh or verify the dashboard's vendored front-end libraries.

The dashboard serves htmx, its server-sent-events extension and uPlot from
``src/entrypoints/dashboard/static/vendor/``, never from a CDN. This script takes
them from the npm registry:

    python scripts/refresh_vendor.py            # newest version in each pinned range
    python scripts/refresh_vendor.py --check    # offline: files on disk match manifest.json

A refresh resolves the newest release within each range below, downloads its
tarball, checks it against the registry's sha512 integrity string, takes only the
listed files and the license, and rewrites ``manifest.json``. Nothing is written
unless every package was fetched and verified. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "src" / "entrypoints" / "dashboard" / "static" / "vendor"
MANIFEST_NAME = "manifest.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Package:
    name: str
    version_range: str  # "2.x" or "1.6.x": newest stable release with that prefix
    license: str  # SPDX identifier, checked against package.json when it declares one
    files: dict[str, str]  # path inside the tarball -> file name in the vendor folder
    license_file: tuple[str, str]  # path inside the tarball -> file name in the vendor folder


PACKAGES = (
    Package(
        name="htmx.org",
        version_range="2.x",
        license="0BSD",
        files={"package/dist/htmx.min.js": "htmx.min.js"},
        license_file=("package/LICENSE", "LICENSE-htmx.txt"),
    ),
    Package(
        name="htmx-ext-sse",
        version_range="2.x",
        license="0BSD",
        files={"package/dist/sse.min.js": "htmx-ext-sse.js"},
        license_file=("package/LICENSE", "LICENSE-htmx-ext-sse.txt"),
    ),
    Package(
        name="uplot",
        version_range="1.6.x",
        license="MIT",
        files={
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
        },
        license_file=("package/LICENSE", "LICENSE-uplot.txt"),
    ),
)

_STABLE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class VendorError(Exception):
    """A refresh or check that cannot go on; the message says why."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def newest_in_range(versions: list[str], version_range: str) -> str:
    """The newest stable release (no pre-release tag) whose version starts with the range."""
    prefix = tuple(int(part) for part in version_range.split(".") if part != "x")
    candidates = []
    for version in versions:
        match = _STABLE.match(version)
        if match is None:
            continue
        parts = tuple(int(group) for group in match.groups())
        if parts[: len(prefix)] == prefix:
            candidates.append((parts, version))
    if not candidates:
        raise VendorError(f"no release matches {version_range}")
    return max(candidates)[1]


def verify_integrity(data: bytes, integrity: str, what: str) -> None:
    """Check ``data`` against an npm integrity string (sha512 entries only)."""
    expected = [
        entry.split("-", 1)[1] for entry in integrity.split() if entry.startswith("sha512-")
    ]
    if not expected:
        raise VendorError(f"{what}: the registry gives no sha512 integrity ({integrity!r})")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual not in expected:
        raise VendorError(
            f"{what}: the download does not match the registry's integrity "
            f"(expected sha512-{expected[0]}, got sha512-{actual})"
        )


def _get(url: str, accept: str) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise VendorError(f"refusing to fetch {url!r}: not an http(s) address")
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        raise VendorError(f"the registry answered {error.code} {error.reason} for {url}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise VendorError(f"cannot reach the npm registry at {url} ({reason})") from None


def _get_json(url: str) -> dict[str, Any]:
    body = _get(url, "application/json")
    try:
        document = json.loads(body)
    except ValueError:
        raise VendorError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise VendorError(f"{url} did not answer a JSON object")
    return document


def _member(archive: tarfile.TarFile, path: str, what: str) -> bytes:
    try:
        member = archive.getmember(path)
    except KeyError:
        raise VendorError(f"{what}: the tarball has no {path}") from None
    handle = archive.extractfile(member) if member.isfile() else None
    if handle is None:
        raise VendorError(f"{what}: {path} in the tarball is not a regular file")
    with handle:
        return handle.read()


def fetch_package(package: Package, registry: str) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    """Download one package and return its manifest entries and file contents."""
    base = registry.rstrip("/")
    name_path = urllib.parse.quote(package.name, safe="@")
    progress(f"{package.name}: resolving {package.version_range} at {base}")
    versions_doc = _get_json(f"{base}/{name_path}")
    versions = list((versions_doc.get("versions") or {}).keys())
    version = newest_in_range(versions, package.version_range)
    what = f"{package.name}@{version}"
    meta = versions_doc["versions"][version]
    dist = meta.get("dist") or {}
    tarball_url = dist.get("tarball")
    integrity = dist.get("integrity")
    if not isinstance(tarball_url, str) or not isinstance(integrity, str):
        raise VendorError(f"{what}: the registry gives no tarball address or integrity")
    declared = meta.get("license")
    if isinstance(declared, str) and declared != package.license:
        raise VendorError(
            f"{what}: license is now {declared!r}, not {package.license!r}; "
            "review it and update PACKAGES in this script"
        )

    progress(f"{what}: downloading {tarball_url}")
    tarball = _get(tarball_url, "application/octet-stream")
    verify_integrity(tarball, integrity, what)
    progress(f"{what}: integrity verified ({len(tarball)} bytes)")

    entries: list[dict[str, str]] = []
    contents: dict[str, bytes] = {}
    wanted = [*package.files.items(), package.license_file]
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for inner_path, file_name in wanted:
                data = _member(archive, inner_path, what)
                contents[file_name] = data
                entries.append(
                    {
                        "file": file_name,
                        "package": package.name,
                        "version": version,
                        "path": inner_path,
                        "sha256": sha256_hex(data),
                        "license": package.license,
                        "tarball": tarball_url,
                        "integrity": integrity,
                    }
                )
    except (tarfile.TarError, EOFError, OSError) as error:
        raise VendorError(f"{what}: cannot read the tarball ({error})") from None
    return entries, contents


def manifest_document(entries: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "generated_by": "scripts/refresh_vendor.py (do not edit by hand)",
        "ranges": {package.name: package.version_range for package in PACKAGES},
        "files": entries,
    }


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
        os.chmod(temp_name, 0o644)  # served as static files: readable by everyone
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def refresh(vendor_dir: Path, registry: str) -> None:
    entries: list[dict[str, str]] = []
    contents: dict[str, bytes] = {}
    for package in PACKAGES:
        package_entries, package_contents = fetch_package(package, registry)
        entries.extend(package_entries)
        contents.update(package_contents)

    vendor_dir.mkdir(parents=True, exist_ok=True)
    for file_name, data in contents.items():
        _write_atomically(vendor_dir / file_name, data)
        progress(f"wrote {file_name} ({len(data)} bytes)")
    manifest = json.dumps(manifest_document(entries), indent=2) + "\n"
    _write_atomically(vendor_dir / MANIFEST_NAME, manifest.encode("utf-8"))
    progress(f"wrote {MANIFEST_NAME}")


def check(vendor_dir: Path) -> list[str]:
    """Compare the files on disk with the manifest; return one line per problem."""
    manifest_path = vendor_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = manifest["files"]
    except FileNotFoundError:
        return [f"{manifest_path}: missing (run scripts/refresh_vendor.py)"]
    except (ValueError, KeyError, TypeError) as error:
        return [f"{manifest_path}: unreadable ({error!r})"]
    fields = ("file", "package", "version", "path", "sha256")
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and all(isinstance(entry.get(key), str) for key in fields)
        for entry in entries
    ):
        return [f"{manifest_path}: unreadable (each file needs {', '.join(fields)})"]

    problems: list[str] = []
    listed: set[str] = set()
    for entry in entries:
        file_name = entry["file"]
        listed.add(file_name)
        path = vendor_dir / file_name
        if not path.is_file():
            problems.append(f"{file_name}: missing")
            continue
        actual = sha256_hex(path.read_bytes())
        if actual != entry["sha256"]:
            problems.append(
                f"{file_name}: sha256 {actual} does not match the manifest's {entry['sha256']} "
                f"({entry['package']}@{entry['version']} {entry['path']})"
            )
    expected = {name for package in PACKAGES for name in package.files.values()}
    expected |= {package.license_file[1] for package in PACKAGES}
    problems.extend(f"{name}: not listed in the manifest" for name in sorted(expected - listed))
    on_disk = {path.name for path in vendor_dir.iterdir() if path.is_file()}
    problems.extend(
        f"{name}: in the vendor folder but not in the manifest"
        for name in sorted(on_disk - listed - {MANIFEST_NAME})
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify the files on disk against manifest.json, offline",
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=f"npm registry to fetch from (default {DEFAULT_REGISTRY})",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=VENDOR_DIR,
        help="vendor folder (default: the dashboard's static/vendor)",
    )
    args = parser.parse_args(argv)

    if args.check:
        problems = check(args.dir)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            return 1
        progress(f"{args.dir}: every vendored file matches {MANIFEST_NAME}")
        return 0

    try:
        refresh(args.dir, args.registry)
    except VendorError as error:
        print(f"error: {error}; nothing was changed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
