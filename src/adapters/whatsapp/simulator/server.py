"""Serving the simulator with uvicorn: in-process for tests, or as `wazybot simulator`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn

from adapters.whatsapp.simulator.app import CloudApiSimulator


def _server(simulator: CloudApiSimulator) -> uvicorn.Server:
    config = uvicorn.Config(
        simulator,
        lifespan="off",
        log_config=None,
        access_log=False,
        # Held requests are released when the simulator closes; nothing else needs long.
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def running(
    simulator: CloudApiSimulator, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[CloudApiSimulator]:
    """Serve ``simulator`` until the block ends; its ``base_url`` names the port it got."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = _server(simulator)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the simulator stopped before it started")
            await asyncio.sleep(0.01)
        shown = f"[{host}]" if ":" in host else host
        simulator.base_url = f"http://{shown}:{bound_port}"
        yield simulator
    finally:
        await simulator.close()
        server.should_exit = True
        await task
        sock.close()
