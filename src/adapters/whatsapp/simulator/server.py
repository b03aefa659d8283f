"""Serving the simulator with uvicorn: in-process for tests, or as `wazybot simulator`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from adapters.whatsapp.simulator.app import CloudApiSimulator


def _server(simulator: CloudApiSimulator, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        simulator,
        host=host,
        port=port,
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
    """Serve ``simulator`` until the block ends; its ``base_url`` names the port it got.

    uvicorn binds the socket itself: connections accepted from a socket handed to it keep
    Nagle's algorithm on, which costs every answer a 40 ms delayed-ACK stall.
    """
    server = _server(simulator, host, port)
    task = asyncio.create_task(server.serve())
    task.add_done_callback(lambda _: simulator.stopped.set())  # e.g. on Ctrl-C
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the simulator stopped before it started")
            await asyncio.sleep(0.01)
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        simulator.base_url = f"http://{shown}:{bound_port}"
        yield simulator
    finally:
        await simulator.close()
        server.should_exit = True
        await task
