"""Run the real `wazybot` command as a child process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.database import ROOT

WAZYBOT = [sys.executable, "-m", "entrypoints.cli"]
# Children start in a directory of their own: a developer's ./.env must not change the tests.
CHILD_CWD = ROOT / ".wazybot" / "e2e-cwd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(extra: Mapping[str, str], unset: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZYBOT_", "DATABASE_URL"))}
    # A test that wants the sandbox (the built-in simulator and demo business) says so.
    env["WAZYBOT_SANDBOX"] = "0"
    env.update(extra)
    for name in unset:
        env.pop(name, None)
    return env


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 60, cwd: Path = CHILD_CWD
) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*WAZYBOT, *args], cwd=cwd, env=child_env(env), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> bool:
        """SIGTERM, then True if the process shut down gracefully.

        After a graceful shutdown uvicorn re-raises the signal, so the exit
        status is either 0 or "terminated by SIGTERM"; the log tells which path ran.
        """
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.logs()


@contextmanager
def serve(
    env: Mapping[str, str],
    log_path: Path,
    *args: str,
    wait_for_health: bool = True,
    unset: tuple[str, ...] = (),
) -> Iterator[RunningServer]:
    port = free_port()
    CHILD_CWD.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [*WAZYBOT, "serve", "--port", str(port), *args],
            cwd=CHILD_CWD, env=child_env(env, unset), stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        if wait_for_health:
            _wait_for_health(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for_health(server: RunningServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.logs()}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not answer /health in {timeout} s:\n{server.logs()}")


def wait_for_log(server: RunningServer, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.logs():
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise AssertionError(f"{text!r} never logged:\n{server.logs()}")
        time.sleep(0.1)
